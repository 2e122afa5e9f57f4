"""The local speech engine's decoding on real recordings: accuracy, ordering, partials, pause.

One process-wide decode pool serves the whole module, so the model loads once.
"""
import asyncio
import threading
from pathlib import Path

import jiwer
import numpy as np
import pytest

from streaming.audio import iter_pcm, load_float
from streaming.engines.local.asr import (
    StreamingTranscriber,
    get_pool,
    is_hallucination,
    transcribe_file,
)
from streaming.engines.local.vad import FRAME, Segmenter, StreamingVAD

DATA = Path(__file__).resolve().parents[1] / "data"
WHOLE_FILE_MAX_WER = {"two_cities": 0.05, "beckett": 0.05, "endgame_nagg_nell": 0.12}
STREAMING_MAX_EXTRA_WER = 0.03

_norm = jiwer.Compose([
    jiwer.ToLowerCase(), jiwer.RemovePunctuation(), jiwer.RemoveMultipleSpaces(), jiwer.Strip(),
    jiwer.ReduceToListOfListOfWords(),
])


def wer(reference: str, hypothesis: str) -> float:
    return jiwer.wer(reference, hypothesis, reference_transform=_norm, hypothesis_transform=_norm)


def reference(name: str) -> str:
    return (DATA / "references" / f"{name}.txt").read_text()


def audio(name: str) -> Path:
    return DATA / "audio" / f"{name}.flac"


class Recorder:
    """Collects a transcriber's callbacks, in the order they fire."""

    def __init__(self):
        self.events: list[tuple] = []

    async def on_partial(self, text, start_ms):
        self.events.append(("partial", text, start_ms))

    async def on_final(self, text, start_ms, end_ms):
        self.events.append(("final", text, start_ms, end_ms))

    @property
    def finals(self):
        return [e[1:] for e in self.events if e[0] == "final"]

    @property
    def partials(self):
        return [e[1:] for e in self.events if e[0] == "partial"]

    def text(self) -> str:
        return " ".join(text for text, _, _ in self.finals)


@pytest.fixture(scope="module")
def pool():
    return get_pool()


@pytest.fixture(scope="module")
def whole_file_wer(pool):
    found = {}
    for name in WHOLE_FILE_MAX_WER:
        segments = transcribe_file(audio(name), pool=pool)
        found[name] = wer(reference(name), " ".join(text for _, _, text in segments))
    return found


async def stream(path, pool, *, chunk_ms=100, pace_s=0.0, start_ms=0, stop_ms=None,
                 recorder=None) -> Recorder:
    recorder = recorder or Recorder()
    transcriber = StreamingTranscriber(
        on_partial=recorder.on_partial, on_final=recorder.on_final, start_ms=start_ms, pool=pool
    )
    for n, pcm in enumerate(iter_pcm(path, chunk_ms=chunk_ms)):
        if stop_ms is not None and n * chunk_ms >= stop_ms:
            break
        await transcriber.feed(pcm)
        if pace_s:
            await asyncio.sleep(pace_s)
    await transcriber.flush()
    return recorder


# -- VAD ---------------------------------------------------------------------------------------

def test_streaming_vad_matches_whole_file_call():
    from faster_whisper.vad import get_vad_model

    samples = load_float(audio("endgame_nagg_nell"))
    whole = get_vad_model()(samples[: len(samples) // FRAME * FRAME]).reshape(-1)
    vad = StreamingVAD()
    rng = np.random.default_rng(7)
    probs, i = [], 0
    while i < len(samples):
        size = int(rng.integers(1, 6000))  # odd sizes, smaller and larger than a frame
        probs.append(vad.process(samples[i : i + size]))
        i += size
    streamed = np.concatenate(probs)
    assert len(streamed) == len(whole)
    assert np.abs(streamed - whole).max() < 1e-4
    assert (whole > 0.5).mean() > 0.3  # it is speech, so the comparison means something


def test_segmenter_cuts_at_pauses_within_limits():
    samples = load_float(audio("two_cities"))
    segmenter = Segmenter()
    segments = []
    for i in range(0, len(samples), 1234):
        segments += segmenter.push(samples[i : i + 1234])
    segments += segmenter.flush()
    assert len(segments) >= 6
    for segment in segments:
        assert segment.end_ms - segment.start_ms <= 10_000 + 200
        expected = (segment.end_ms - segment.start_ms) * 16
        assert len(segment.samples) == pytest.approx(expected, abs=16)
    for before, after in zip(segments, segments[1:]):
        assert before.end_ms <= after.start_ms
    # The reading starts after ~1.2 s of silence and the last word ends before the clip does.
    assert 700 <= segments[0].start_ms <= 1300
    assert segments[-1].end_ms <= 44_374


# -- whole-file and streaming accuracy ---------------------------------------------------------

@pytest.mark.parametrize("name", sorted(WHOLE_FILE_MAX_WER))
def test_whole_file_wer(whole_file_wer, name):
    assert whole_file_wer[name] <= WHOLE_FILE_MAX_WER[name]


@pytest.mark.parametrize("name", sorted(WHOLE_FILE_MAX_WER))
async def test_streaming_wer_close_to_whole_file(pool, whole_file_wer, name):
    recorder = await stream(audio(name), pool)
    streaming = wer(reference(name), recorder.text())
    assert streaming <= whole_file_wer[name] + STREAMING_MAX_EXTRA_WER, recorder.text()

    finals = recorder.finals
    assert len(finals) >= 2
    for text, start_ms, end_ms in finals:
        assert text.strip() and 0 <= start_ms < end_ms
    for (_, _, end_before), (_, start_after, _) in zip(finals, finals[1:]):
        assert end_before <= start_after


# -- partials, pause, timeline -----------------------------------------------------------------

async def test_partials_for_a_long_utterance(pool):
    # The first sentence runs 1.0-6.4 s; fed at ~5x real time the pool has time for partials.
    recorder = await stream(audio("two_cities"), pool, pace_s=0.02, stop_ms=7000)
    first_final = recorder.finals[0]
    partials = [p for p in recorder.partials if p[1] == first_final[1]]
    assert partials, recorder.events
    # Every partial of the sentence comes before its final and is a start of what was said.
    final_at = recorder.events.index(("final", *first_final))
    assert all(recorder.events.index(("partial", *p)) < final_at for p in partials)
    assert "best of times" in partials[-1][0].lower()


async def test_pause_mid_sentence_keeps_what_was_said(pool):
    recorder = Recorder()
    transcriber = StreamingTranscriber(
        on_partial=recorder.on_partial, on_final=recorder.on_final, pool=pool
    )
    chunks = list(iter_pcm(audio("two_cities"), chunk_ms=100))
    # 3.5 s in: "It was the best of times, it was the worst..." is being spoken.
    for pcm in chunks[:35]:
        await transcriber.feed(pcm)
    await transcriber.pause()
    assert len(recorder.finals) == 1
    text, start_ms, end_ms = recorder.finals[0]
    assert "best of times" in text.lower()
    assert start_ms < 1300 and 3300 <= end_ms <= 3500

    # The stream goes on after the gap, on the same timeline.
    for pcm in chunks[35:100]:
        await transcriber.feed(pcm)
    await transcriber.flush()
    later = recorder.finals[1:]
    assert later and later[0][1] >= end_ms
    assert "age of wisdom" in " ".join(t for t, _, _ in later).lower()


async def test_resumed_session_keeps_its_timeline(pool):
    plain = await stream(audio("beckett"), pool)
    resumed = await stream(audio("beckett"), pool, start_ms=60_000)
    assert [(s + 60_000, e + 60_000) for _, s, e in plain.finals] == [
        (s, e) for _, s, e in resumed.finals
    ]


# -- silence and hallucinations ----------------------------------------------------------------

async def test_silence_and_hiss_give_no_text(pool):
    rng = np.random.default_rng(1)
    silence = np.zeros(16000 * 2, dtype=np.float32)
    hiss = (rng.standard_normal(16000 * 2) * 0.003).astype(np.float32)
    assert await pool.decode(silence, final=True) == ""
    assert await pool.decode(hiss, final=True) == ""

    recorder = Recorder()
    transcriber = StreamingTranscriber(
        on_partial=recorder.on_partial, on_final=recorder.on_final, pool=pool
    )
    pcm = (hiss * 32768).astype("<i2").tobytes()
    for i in range(0, len(pcm), 3200):
        await transcriber.feed(pcm[i : i + 3200])
    await transcriber.flush()
    assert recorder.events == []


def test_hallucination_filter_only_on_quiet_audio():
    quiet = np.full(16000, 0.002, dtype=np.float32)
    loud = (np.sin(np.arange(16000) / 5) * 0.3).astype(np.float32)
    assert is_hallucination("Thank you.", quiet)
    assert is_hallucination(" you", quiet)
    assert not is_hallucination("Thank you.", loud)
    assert not is_hallucination("It was the best of times.", quiet)


# -- scheduling (decoding replaced by a controllable stand-in) ---------------------------------

@pytest.fixture
def gated_pool(pool, monkeypatch):
    """The shared pool, with decoding blocked until ``gate`` is set."""
    gate = threading.Event()
    started = []

    def fake_transcribe(samples, final):
        started.append(final)
        assert gate.wait(10)
        return "final words" if final else "partial words"

    monkeypatch.setattr(pool, "_transcribe", fake_transcribe)
    yield pool, gate, started
    gate.set()


def wait_for(predicate, timeout=5.0):
    event = threading.Event()
    for _ in range(int(timeout / 0.01)):
        if predicate():
            return
        event.wait(0.01)
    raise AssertionError("condition not reached")


def test_finals_first_and_partials_dropped(gated_pool):
    pool, gate, started = gated_pool
    one_second = np.zeros(16000, dtype=np.float32)
    busy = [pool.submit(one_second, final=True) for _ in range(pool.workers)]
    wait_for(lambda: len(started) == pool.workers)

    # Every worker busy: a partial is dropped at once.
    assert pool.submit(one_second, final=False, key="a").result(1) is None
    queued_final = pool.submit(one_second, final=True)
    # A final is waiting: partials are dropped too.
    assert pool.submit(one_second, final=False, key="b").result(1) is None
    gate.set()
    assert [f.result(5) for f in busy] == ["final words"] * pool.workers
    assert queued_final.result(5) == "final words"

    # A worker idle and one kept for finals: a partial is accepted; once it runs, the pool
    # has no idle worker and the next partial is dropped.
    gate.clear()
    started.clear()
    blockers = [pool.submit(one_second, final=True) for _ in range(pool.workers - 1)]
    wait_for(lambda: len(started) == pool.workers - 1)
    assert pool.partial_welcome()
    partial = pool.submit(one_second, final=False, key="c")
    wait_for(lambda: len(started) == pool.workers)
    assert not pool.partial_welcome()
    assert pool.submit(one_second, final=False, key="d").result(1) is None
    gate.set()
    assert partial.result(5) == "partial words"
    assert all(f.result(5) == "final words" for f in blockers)


async def test_fast_feeder_is_held_back(gated_pool):
    pool, gate, _ = gated_pool
    recorder = Recorder()
    transcriber = StreamingTranscriber(
        on_partial=recorder.on_partial, on_final=recorder.on_final, pool=pool, max_pending=2
    )
    chunks = list(iter_pcm(audio("two_cities"), chunk_ms=100))

    async def feed_all():
        for pcm in chunks:
            await transcriber.feed(pcm)

    feeding = asyncio.create_task(feed_all())
    await asyncio.sleep(1.0)
    # Decoding is blocked: the feeder must be waiting, not racing through the recording.
    assert not feeding.done()
    assert transcriber._finals.qsize() <= 2
    gate.set()
    await asyncio.wait_for(feeding, 30)
    await asyncio.wait_for(transcriber.flush(), 30)
    assert len(recorder.finals) >= 6
    assert all(text == "final words" for text, _, _ in recorder.finals)


async def test_callback_errors_surface(pool):
    async def broken(text, start_ms, end_ms):
        raise RuntimeError("persister down")

    async def ignore(text, start_ms):
        pass

    transcriber = StreamingTranscriber(on_partial=ignore, on_final=broken, pool=pool)
    with pytest.raises(RuntimeError, match="persister down"):
        for pcm in iter_pcm(audio("beckett"), chunk_ms=100):
            await transcriber.feed(pcm)
        await transcriber.flush()
