"""streaming.audio on real recordings (tests/data/audio) and on files made from them."""
from pathlib import Path

import av
import numpy as np
import pytest

from streaming.audio import (
    SAMPLE_RATE,
    AudioError,
    iter_pcm,
    load_float,
    pcm_to_float,
    probe,
)

AUDIO = Path(__file__).resolve().parents[1] / "data" / "audio"
# Durations of the original WAVs these FLACs were converted from (see tests/data/PROVENANCE.md).
ORIGINAL_MS = {"two_cities": 44374, "beckett": 9963, "endgame_nagg_nell": 28277}


def pcm_array(path, **kwargs) -> np.ndarray:
    return np.frombuffer(b"".join(iter_pcm(path, **kwargs)), dtype="<i2")


def encode(path: Path, samples: np.ndarray, *, fmt: str, codec: str, rate: int,
           video: bool = False, audio: bool = True):
    """Write 16 kHz s16 ``samples`` into a new container with PyAV."""
    with av.open(str(path), "w", format=fmt) as out:
        if video:
            picture = out.add_stream("mpeg4", rate=10)
            picture.width, picture.height, picture.pix_fmt = 64, 48, "yuv420p"
        if audio:
            sound = out.add_stream(codec, rate=rate, layout="mono")
            # Encoders such as AAC and Opus take frames of one fixed size.
            resampler = av.AudioResampler(
                format=sound.codec_context.format.name, layout="mono", rate=rate,
                frame_size=sound.codec_context.frame_size or 1024,
            )
            for i in [*range(0, len(samples), 1600), None]:
                frame = None
                if i is not None:
                    frame = av.AudioFrame.from_ndarray(
                        samples[i : i + 1600].reshape(1, -1), format="s16", layout="mono"
                    )
                    frame.sample_rate = SAMPLE_RATE
                for resampled in resampler.resample(frame):
                    out.mux(sound.encode(resampled))
            out.mux(sound.encode(None))
        if video:
            for i in range(20):
                image = np.full((48, 64, 3), i * 10, dtype=np.uint8)
                out.mux(picture.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
            out.mux(picture.encode(None))


@pytest.fixture(scope="module")
def beckett() -> np.ndarray:
    return pcm_array(AUDIO / "beckett.flac")


@pytest.mark.parametrize("name", sorted(ORIGINAL_MS))
def test_probe_real_recordings(name):
    info = probe(AUDIO / f"{name}.flac")
    assert abs(info.duration_ms - ORIGINAL_MS[name]) <= 50
    assert (info.sample_rate, info.channels, info.codec) == (16000, 1, "flac")


@pytest.mark.parametrize("name", sorted(ORIGINAL_MS))
def test_iter_pcm_chunks_are_exact(name):
    chunks = list(iter_pcm(AUDIO / f"{name}.flac", chunk_ms=100))
    assert all(len(c) == 3200 for c in chunks[:-1])
    assert 0 < len(chunks[-1]) <= 3200
    decoded_ms = sum(len(c) for c in chunks) / 32
    assert abs(decoded_ms - ORIGINAL_MS[name]) <= 50
    # Real speech, not silence or clipping garbage.
    samples = pcm_to_float(b"".join(chunks))
    assert 0.01 < float(np.sqrt(np.mean(samples**2))) < 0.5


@pytest.mark.parametrize("start_ms", [1, 333, 5000, 20017, 44000])
def test_resume_from_offset_matches_full_decode(start_ms):
    path = AUDIO / "two_cities.flac"
    full = b"".join(iter_pcm(path))
    resumed = b"".join(iter_pcm(path, start_ms=start_ms))
    assert resumed == full[start_ms * 32 :]


def test_resume_past_the_end_is_empty():
    assert list(iter_pcm(AUDIO / "beckett.flac", start_ms=60_000)) == []


def test_load_float_and_pcm_to_float(beckett):
    samples = load_float(AUDIO / "beckett.flac")
    assert samples.dtype == np.float32 and samples.shape == beckett.shape
    assert samples.min() >= -1.0 and samples.max() < 1.0
    np.testing.assert_array_equal(samples, beckett.astype(np.float32) / 32768)
    with pytest.raises(ValueError):
        pcm_to_float(b"\x00\x01\x02")


def best_correlation(decoded: np.ndarray, original: np.ndarray, max_lag: int = 2048) -> float:
    """Correlation at the best shift of ``decoded`` by 0..max_lag samples: encoders add a
    little delay (AAC primes 1024 samples at its own rate)."""
    size = len(decoded) + len(original)
    cross = np.fft.irfft(np.fft.rfft(decoded, size) * np.conj(np.fft.rfft(original, size)), size)
    lag = int(np.argmax(cross[: max_lag + 1]))
    n = min(len(decoded) - lag, len(original))
    return float(np.corrcoef(decoded[lag : lag + n], original[:n])[0, 1])


@pytest.mark.parametrize(
    "fmt, codec, rate, suffix, video",
    [
        ("ogg", "libopus", 48000, ".opus", False),
        ("mp4", "aac", 44100, ".m4a", False),
        ("webm", "libopus", 48000, ".webm", False),
        ("mp3", "libmp3lame", 22050, ".mp3", False),
        ("mp4", "aac", 44100, ".mp4", True),
    ],
)
def test_other_containers_decode(tmp_path, beckett, fmt, codec, rate, suffix, video):
    path = tmp_path / f"beckett{suffix}"
    encode(path, beckett, fmt=fmt, codec=codec, rate=rate, video=video)
    info = probe(path)
    assert info.sample_rate == rate and info.channels == 1
    assert abs(info.duration_ms - ORIGINAL_MS["beckett"]) <= 150
    decoded = pcm_array(path).astype(np.float64)
    assert abs(len(decoded) / 16 - ORIGINAL_MS["beckett"]) <= 150
    assert best_correlation(decoded, beckett.astype(np.float64)) > 0.95


def test_truncated_files_raise_audio_error(tmp_path, beckett):
    data = (AUDIO / "beckett.flac").read_bytes()
    header_only = tmp_path / "header_only.flac"
    header_only.write_bytes(data[:200])
    with pytest.raises(AudioError, match="Could not read this file as audio or video"):
        probe(header_only)

    # Cut mid-stream: the headers are fine, the damage shows while decoding.
    half = tmp_path / "half.flac"
    half.write_bytes(data[: len(data) // 2])
    with pytest.raises(AudioError, match="damaged"):
        b"".join(iter_pcm(half))

    # An MP4 keeps its index at the end: without it nothing can be read.
    m4a = tmp_path / "whole.m4a"
    encode(m4a, beckett, fmt="mp4", codec="aac", rate=16000)
    truncated = tmp_path / "truncated.m4a"
    truncated.write_bytes(m4a.read_bytes()[: m4a.stat().st_size // 2])
    with pytest.raises(AudioError, match="Could not read this file as audio or video"):
        probe(truncated)
    with pytest.raises(AudioError):
        list(iter_pcm(truncated))


def test_text_file_named_wav_raises_audio_error(tmp_path):
    path = tmp_path / "notes.wav"
    path.write_text("Minutes of the meeting: nothing was decided.\n" * 20)
    with pytest.raises(AudioError, match="Could not read this file as audio or video"):
        probe(path)
    with pytest.raises(AudioError):
        list(iter_pcm(path))


def test_video_without_audio_raises_audio_error(tmp_path):
    path = tmp_path / "silent_film.mp4"
    encode(path, np.zeros(0, dtype=np.int16), fmt="mp4", codec="aac", rate=16000,
           video=True, audio=False)
    with pytest.raises(AudioError, match="no audio track"):
        probe(path)
    with pytest.raises(AudioError, match="no audio track"):
        list(iter_pcm(path))


def test_empty_and_missing_files_raise_audio_error(tmp_path):
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(AudioError, match="empty"):
        probe(empty)
    with pytest.raises(AudioError, match="empty"):
        list(iter_pcm(empty))
    with pytest.raises(AudioError, match="does not exist"):
        probe(tmp_path / "missing.flac")


def test_bad_arguments():
    with pytest.raises(ValueError):
        list(iter_pcm(AUDIO / "beckett.flac", chunk_ms=0))
    with pytest.raises(ValueError):
        list(iter_pcm(AUDIO / "beckett.flac", start_ms=-1))
