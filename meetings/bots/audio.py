"""The bot's live audio: MeetStream's binary frames, and their conversion to Parley's PCM.

Frame layout (https://docs.meetstream.ai/guides/get-started/real-time-audio-streaming;
api-contracts §11.1): ``msg_type`` u8 (0x01 = audio) | ``sid_len`` u16le | ``speaker_id`` (UTF-8,
``sid_len`` bytes) | ``sname_len`` u16le | ``speaker_name`` (UTF-8) | PCM s16le mono 48 kHz.
Before any audio the bot sends one text frame ``{"type": "ready", "bot_id", "message"}``.
"""
import struct
from dataclasses import dataclass

import av
import numpy as np

AUDIO = 0x01
VENDOR_RATE = 48000
PARLEY_RATE = 16000


class FrameError(ValueError):
    """A binary frame that does not follow the layout; the message says where it breaks."""


@dataclass
class AudioFrame:
    speaker_id: str
    speaker_name: str
    pcm: bytes  # s16le mono 48 kHz


def encode(speaker_id, speaker_name, pcm):
    """One audio frame in MeetStream's layout (what the bot sends; the emulator uses it)."""
    sid, name = speaker_id.encode(), speaker_name.encode()
    return bytes([AUDIO]) + struct.pack("<H", len(sid)) + sid + struct.pack("<H", len(name)) + name + pcm


def decode(frame):
    """Parse one binary frame; raises :class:`FrameError`."""
    if len(frame) < 5:
        raise FrameError(f"a frame of {len(frame)} bytes is shorter than its header")
    if frame[0] != AUDIO:
        raise FrameError(f"unknown msg_type 0x{frame[0]:02x}")
    at = 1
    fields = []
    for what in ("speaker_id", "speaker_name"):
        if at + 2 > len(frame):
            raise FrameError(f"the frame ends before the length of {what}")
        (size,) = struct.unpack_from("<H", frame, at)
        at += 2
        if at + size > len(frame):
            raise FrameError(f"{what} runs past the end of the frame")
        try:
            fields.append(frame[at:at + size].decode())
        except UnicodeDecodeError:
            raise FrameError(f"{what} is not UTF-8") from None
        at += size
    pcm = frame[at:]
    if len(pcm) % 2:
        raise FrameError("the PCM payload has an odd number of bytes (s16le samples are 2 bytes)")
    return AudioFrame(fields[0] or fields[1] or "speaker", fields[1] or fields[0] or "Speaker", pcm)


class Resampler:
    """PCM s16le mono 48 kHz in, 16 kHz out (PyAV's resampler keeps its filter state between calls)."""

    def __init__(self):
        self._resampler = av.AudioResampler(format="s16", layout="mono", rate=PARLEY_RATE)
        self._pts = 0

    def _run(self, frame):
        return b"".join(bytes(out.planes[0])[: out.samples * 2] for out in self._resampler.resample(frame))

    def feed(self, pcm):
        if not pcm:
            return b""
        samples = np.frombuffer(pcm, dtype="<i2").reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
        frame.sample_rate = VENDOR_RATE
        frame.pts = self._pts
        self._pts += samples.shape[1]
        return self._run(frame)

    def flush(self):
        return self._run(None)
