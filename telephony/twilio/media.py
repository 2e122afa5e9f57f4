"""Audio of a Twilio media stream: G.711 mu-law, 8 kHz, mono, about 20 ms (160 bytes) a frame.

https://www.twilio.com/docs/voice/media-streams/websocket-messages#media-message: the payload is
``audio/x-mulaw`` at 8,000 Hz, base64-encoded, with no header. Decoding goes through PyAV
(FFmpeg's ``pcm_mulaw`` decoder and its resampler), the same library ``streaming/audio.py`` uses
for every other recording, rather than the deprecated ``audioop``.
"""
import base64
import binascii

import av

SAMPLE_RATE = 8000  # Hz, what Twilio sends
BYTES_PER_SECOND = SAMPLE_RATE  # mu-law is one byte a sample
TARGET_RATE = 16000  # Hz, what the local engine takes (PCM s16le mono)


class BadPayload(ValueError):
    """A ``media.payload`` that is not base64 audio."""


def payload_bytes(payload):
    """The mu-law bytes of a ``media.payload`` (base64 text); raises :class:`BadPayload`."""
    if not isinstance(payload, str) or not payload:
        raise BadPayload("media.payload is missing or not a string")
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BadPayload(f"media.payload is not base64: {exc}") from None


class MulawDecoder:
    """Stateful mu-law 8 kHz → PCM s16le mono 16 kHz for one track.

    One per track, because the resampler keeps the tail of the previous chunk: feeding one
    continuous track through it gives seamless audio; :meth:`flush` returns the buffered tail at
    the end of the call (about 1 ms of audio, but the last syllable matters).
    """

    def __init__(self):
        self.codec = av.CodecContext.create("pcm_mulaw", "r")
        self.codec.sample_rate = SAMPLE_RATE
        self.codec.layout = "mono"
        self.resampler = av.AudioResampler(format="s16", layout="mono", rate=TARGET_RATE)

    def decode(self, ulaw):
        """PCM s16le 16 kHz bytes for ``ulaw`` (mu-law bytes, any length)."""
        if not ulaw:
            return b""
        out = []
        for frame in self.codec.decode(av.Packet(ulaw)):
            out.extend(self._resample(frame))
        return b"".join(out)

    def flush(self):
        return b"".join(self._resample(None))

    def _resample(self, frame):
        for converted in self.resampler.resample(frame):
            yield bytes(converted.planes[0])[: converted.samples * 2]
