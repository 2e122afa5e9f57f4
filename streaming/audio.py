"""The one audio decoder: any common audio or video file to 16 kHz mono PCM.

Everything that reads a recording (uploads, the local speech engine, tests, benchmarks) goes
through here, so that every part of Parley hears the same samples. Decoding is done by PyAV
(FFmpeg), so wav, flac, mp3, ogg/opus, m4a/aac, webm and video containers all work.

Units: times in milliseconds (``*_ms``), rates in Hz, PCM as bytes of signed 16-bit
little-endian mono samples at :data:`SAMPLE_RATE` (2 bytes per sample, 32 bytes per ms).
Every failure to read a file raises :class:`AudioError`, whose message can be shown to a user.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from itertools import chain
from typing import Iterable, Iterator

import av
import numpy as np

SAMPLE_RATE = 16000
_BYTES_PER_MS = SAMPLE_RATE // 1000 * 2

# A few frames are enough to prove the codec can actually decode this stream.
_PROBE_FRAMES = 3


class AudioError(ValueError):
    """A file cannot be used as audio. ``str(error)`` is a user-facing explanation."""


@dataclass(frozen=True)
class AudioInfo:
    """What :func:`probe` found: ``duration_ms`` (ms), ``sample_rate`` (Hz, of the source),
    ``channels`` (of the source) and ``codec`` (FFmpeg's codec name, e.g. ``"flac"``)."""

    duration_ms: int
    sample_rate: int
    channels: int
    codec: str


def _unreadable(exc: Exception) -> AudioError:
    reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return AudioError(f"Could not read this file as audio or video: {reason}")


def _open(path) -> "av.container.InputContainer":
    path = os.fspath(path)
    if not os.path.exists(path):
        raise AudioError("This file does not exist")
    if os.path.isfile(path) and os.path.getsize(path) == 0:
        raise AudioError("This file is empty")
    try:
        return av.open(path, mode="r")
    except (av.error.FFmpegError, OSError, UnicodeDecodeError, ValueError) as exc:
        raise _unreadable(exc) from exc


def _audio_stream(container) -> "av.audio.stream.AudioStream":
    if not container.streams.audio:
        raise AudioError("This file has no audio track")
    return container.streams.audio[0]


def _decode_frames(container, stream) -> Iterator["av.AudioFrame"]:
    """Decoded frames of ``stream``; FFmpeg errors mid-file become :class:`AudioError`."""
    try:
        for frame in container.decode(stream):
            yield frame
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        raise AudioError(f"This file's audio is damaged and could not be decoded: {exc}") from exc


def probe(path) -> AudioInfo:
    """Check that ``path`` holds decodable audio and describe it.

    Opens the file, requires an audio track and decodes its first frames (so a truncated or
    garbage file is caught here, not halfway through a transcription). The duration comes
    from the container or stream headers; when neither knows it, the whole track is decoded.

    Raises :class:`AudioError` (never another exception type for a bad file).
    """
    with _open(path) as container:
        stream = _audio_stream(container)
        ctx = stream.codec_context
        frames = _decode_frames(container, stream)
        decoded = 0
        samples = 0
        for frame in frames:
            decoded += 1
            samples += frame.samples
            if decoded >= _PROBE_FRAMES:
                break
        if decoded == 0:
            raise AudioError("This file's audio track holds no decodable sound")

        duration_ms = _header_duration_ms(container, stream)
        if duration_ms is None:
            rate = frame.sample_rate or ctx.sample_rate or SAMPLE_RATE
            for frame in frames:
                samples += frame.samples
            duration_ms = round(samples * 1000 / rate)
        frames.close()
        return AudioInfo(
            duration_ms=duration_ms,
            sample_rate=int(ctx.sample_rate or 0),
            channels=int(ctx.channels or 0),
            codec=ctx.name,
        )


def _header_duration_ms(container, stream) -> int | None:
    if stream.duration and stream.time_base:
        return round(float(stream.duration * stream.time_base) * 1000)
    if container.duration:
        return round(container.duration * 1000 / av.time_base)
    return None


def iter_pcm(path, *, start_ms: int = 0, chunk_ms: int = 100) -> Iterator[bytes]:
    """Decode ``path`` to PCM s16le mono at 16 kHz, in chunks of ``chunk_ms`` ms.

    Each chunk is exactly ``chunk_ms * 32`` bytes except the last, which may be shorter. With
    ``start_ms`` > 0 the output starts at that offset (ms from the start of the audio): the
    decoder seeks near it and then drops samples, so the result equals the tail of a full
    decode (bit-exact for 16 kHz mono sources; resampled sources may differ by rounding in the
    first few ms after the seek point).

    Raises :class:`AudioError` when the file cannot be opened, has no audio track, or its
    audio turns out to be damaged while decoding. ``ValueError`` for a non-positive
    ``chunk_ms`` or a negative ``start_ms``.
    """
    if chunk_ms <= 0:
        raise ValueError("chunk_ms must be positive")
    if start_ms < 0:
        raise ValueError("start_ms must not be negative")
    chunk_bytes = chunk_ms * _BYTES_PER_MS
    pending = bytearray()
    for pcm in _iter_raw(path, start_ms):
        pending += pcm
        while len(pending) >= chunk_bytes:
            yield bytes(pending[:chunk_bytes])
            del pending[:chunk_bytes]
    if pending:
        yield bytes(pending)


def _iter_raw(path, start_ms: int) -> Iterator[bytes]:
    """PCM from ``start_ms`` on, in whatever sizes the resampler hands out."""
    target = start_ms * SAMPLE_RATE // 1000  # output samples to drop, counted from the start
    with _open(path) as container:
        stream = _audio_stream(container)
        if start_ms > 0 and _seek(container, stream, start_ms):
            frames = _decode_frames(container, stream)
            first = next(frames, None)
            at = _sample_index(first, stream)
            if at is not None and at <= target:
                yield from resample_frames(chain([first], frames), (target - at) * 2)
                return
    # No seek needed, or the container could not say exactly where the seek landed: decode
    # from the start and drop, slower but exact.
    with _open(path) as container:
        yield from resample_frames(_decode_frames(container, _audio_stream(container)), target * 2)


def _seek(container, stream, start_ms: int) -> bool:
    """Seek to a decodable point at or before ``start_ms``; False if the container cannot."""
    if not stream.time_base:
        return False
    target = (stream.start_time or 0) + int(start_ms / 1000 / stream.time_base)
    try:
        container.seek(target, stream=stream, backward=True, any_frame=False)
    except (av.error.FFmpegError, OSError, ValueError):
        return False
    return True


def _sample_index(frame, stream) -> int | None:
    """Which 16 kHz output sample ``frame`` starts at, or ``None`` if its time is unknown."""
    if frame is None or frame.pts is None or frame.time_base is None:
        return None
    at = (frame.pts - (stream.start_time or 0)) * frame.time_base * SAMPLE_RATE
    # Sources at other rates rarely land on a whole output sample; the nearest one is as
    # close as resampling can be anyway.
    return round(at) if at >= 0 else None


class FrameResampler:
    """Decoded frames (any rate, layout and sample format) in, PCM s16le mono 16 kHz out.

    One per stream: the resampler keeps its filter state between frames, so a live stream fed a
    frame at a time (the RTMP ingest) sounds the same as a file resampled whole.
    """

    def __init__(self):
        self._resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)

    def pcm(self, frame: "av.AudioFrame | None") -> bytes:
        """The PCM bytes ready after ``frame``; ``None`` flushes the buffered tail (the end).
        Raises :class:`AudioError`."""
        try:
            outs = self._resampler.resample(frame)
        except (av.error.FFmpegError, ValueError) as exc:
            raise AudioError(f"This file's audio could not be converted: {exc}") from exc
        return b"".join(bytes(out.planes[0])[: out.samples * 2] for out in outs)


def resample_frames(frames: Iterable["av.AudioFrame"], skip: int) -> Iterator[bytes]:
    """Resample ``frames`` to PCM s16le mono 16 kHz, dropping the first ``skip`` bytes."""
    resampler = FrameResampler()
    for frame in chain(frames, [None]):  # None: the resampler's buffered tail
        pcm = resampler.pcm(frame)
        if skip:
            dropped = min(skip, len(pcm))
            pcm = pcm[dropped:]
            skip -= dropped
        if pcm:
            yield pcm


def pcm_to_float(pcm: bytes) -> np.ndarray:
    """PCM s16le bytes to a float32 array of shape ``(len(pcm) // 2,)`` in [-1, 1).

    Raises ``ValueError`` if ``pcm`` has an odd number of bytes.
    """
    if len(pcm) % 2:
        raise ValueError("PCM s16le needs an even number of bytes")
    return np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0


def load_float(path) -> np.ndarray:
    """The whole audio of ``path`` as float32 samples at 16 kHz mono, shape ``(n,)``.

    Raises :class:`AudioError` like :func:`iter_pcm`.
    """
    return pcm_to_float(b"".join(iter_pcm(path, chunk_ms=10_000)))
