"""Streaming voice-activity detection and utterance segmentation.

:class:`StreamingVAD` runs the Silero VAD v6 network that faster-whisper ships (ONNX) on audio
that arrives in chunks of any size, carrying the network's state between calls, so the
probabilities are the same as one call on the whole recording. :class:`Segmenter` turns those
probabilities into utterances short enough for Whisper (at most ~10 s) and cut at pauses, which
keeps streaming accuracy close to whole-file decoding.

Audio is float32 mono at 16 kHz in [-1, 1]; times are in ms from the first sample pushed.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

SAMPLE_RATE = 16000
FRAME = 512  # samples per VAD decision (32 ms): the size the v6 network was trained on
_CONTEXT = 64  # samples of the previous frame the network sees before each frame
_STATE_SHAPE = (1, 1, 128)
# A dip in speech this long (3 frames) is a gap between words, not a stop consonant.
_BRIEF_PAUSE = 3 * FRAME
# A frame this much quieter than the utterance's median (-13 dB) is a gap between words.
_GAP_ENERGY = 0.05

_session = None
_session_lock = threading.Lock()


def vad_session():
    """The process-wide onnxruntime session of Silero VAD v6 (loaded on first use).

    onnxruntime sessions are safe to run from several threads at once; all per-stream state
    lives in :class:`StreamingVAD` objects.
    """
    global _session
    with _session_lock:
        if _session is None:
            from faster_whisper.vad import get_vad_model

            _session = get_vad_model().session
        return _session


class StreamingVAD:
    """Speech probabilities for a stream of 16 kHz float32 audio, chunk by chunk.

    :meth:`process` returns one probability per complete 512-sample frame; leftover samples
    wait for the next call. Feeding a recording in any chunking gives the same probabilities
    as feeding it whole.
    """

    def __init__(self):
        self._session = vad_session()
        self.reset()

    def reset(self):
        """Forget the stream so far (use after a gap in the audio)."""
        self._h = np.zeros(_STATE_SHAPE, dtype=np.float32)
        self._c = np.zeros(_STATE_SHAPE, dtype=np.float32)
        self._context = np.zeros(_CONTEXT, dtype=np.float32)
        self._pending = np.zeros(0, dtype=np.float32)

    def process(self, samples: np.ndarray) -> np.ndarray:
        """Probabilities (float32, shape ``(n_frames,)``) for the frames completed by ``samples``
        (1-D float32 at 16 kHz, any length)."""
        audio = np.concatenate([self._pending, np.asarray(samples, dtype=np.float32)])
        n = len(audio) // FRAME
        self._pending = audio[n * FRAME :]
        if n == 0:
            return np.zeros(0, dtype=np.float32)
        frames = audio[: n * FRAME].reshape(n, FRAME)
        # Each row is one frame led by the last 64 samples of the frame before it.
        contexts = np.concatenate([self._context[None, :], frames[:-1, -_CONTEXT:]])
        batch = np.concatenate([contexts, frames], axis=1)
        probs, self._h, self._c = self._session.run(
            None, {"input": batch, "h": self._h, "c": self._c}
        )
        self._context = frames[-1, -_CONTEXT:].copy()
        return np.asarray(probs, dtype=np.float32).reshape(n)


@dataclass
class Segment:
    """One utterance: ``start_ms``/``end_ms`` (ms from the stream start, padding included)
    and its ``samples`` (float32, 16 kHz, shape about ``((end_ms - start_ms) * 16,)``)."""

    start_ms: int
    end_ms: int
    samples: np.ndarray


class Segmenter:
    """Cuts a 16 kHz float32 stream into utterances at pauses.

    Speech starts at a frame with probability ≥ ``threshold``; it ends once probabilities
    have stayed below ``threshold`` for ``min_silence_ms``, counted from the first frame under
    ``neg_threshold``. An utterance still shorter than ``short_ms`` waits ``short_silence_ms``
    instead: Whisper decodes a lone word ("Yes.", "Laughing.") badly without the words around
    it, so a short phrase is better joined to the next one when that follows soon.
    Utterances get ``pad_ms`` of audio each side (never overlapping the previous one), speech
    shorter than ``min_speech_ms`` is ignored, and an utterance is cut before ``max_ms`` so
    that no word is split: in the middle of the first brief pause (≥ ~100 ms) within its last
    ``cut_window_ms`` before the limit, else at the quietest frame of that window when the
    limit is reached. The speech then goes on as a new utterance.
    """

    def __init__(
        self,
        *,
        threshold: float = 0.5,
        neg_threshold: float = 0.35,
        min_silence_ms: int = 400,
        short_ms: int = 2_000,
        short_silence_ms: int = 800,
        pad_ms: int = 200,
        min_speech_ms: int = 200,
        max_ms: int = 10_000,
        cut_window_ms: int = 2_000,
    ):
        self.threshold = threshold
        self.neg_threshold = neg_threshold
        self._min_silence = _samples(min_silence_ms)
        self._short = _samples(short_ms)
        self._short_silence = _samples(short_silence_ms)
        self._pad = _samples(pad_ms)
        self._min_speech = _samples(min_speech_ms)
        self._max = _samples(max_ms)
        self._cut_window = _samples(cut_window_ms)
        self._vad = StreamingVAD()
        self._buf = np.zeros(0, dtype=np.float32)
        self._buf_start = 0  # stream sample index of self._buf[0]
        self._analysed = 0  # stream samples already judged by the VAD
        self._last_end = 0  # end of the last utterance emitted: the next may not start before
        self._speech_start: int | None = None  # first speech frame of the open utterance
        self._utt_start = 0  # where the open utterance's audio starts (padding included)
        self._silence_start: int | None = None

    @property
    def position_ms(self) -> int:
        """How much audio has been pushed, in ms."""
        return _ms(self._buf_start + len(self._buf))

    @property
    def speaking_ms(self) -> int | None:
        """Length so far of the utterance being spoken, in ms; ``None`` in silence."""
        if self._speech_start is None:
            return None
        return _ms(self._buf_start + len(self._buf) - self._utt_start)

    def push(self, samples: np.ndarray) -> list[Segment]:
        """Add audio (1-D float32, 16 kHz, any length); return utterances completed by it."""
        samples = np.asarray(samples, dtype=np.float32).reshape(-1)
        self._buf = np.concatenate([self._buf, samples])
        done: list[Segment] = []
        for prob in self._vad.process(samples):
            frame_start = self._analysed
            self._analysed += FRAME
            self._judge(frame_start, float(prob), done)
        # Keep only what a future utterance can still need: its leading padding, or the
        # open utterance.
        if self._speech_start is None:
            self._trim(self._analysed - self._pad)
        else:
            self._trim(self._utt_start)
        return done

    def current(self) -> Segment | None:
        """The utterance being spoken, from its start to the latest audio; ``None`` in silence."""
        if self._speech_start is None:
            return None
        end = self._buf_start + len(self._buf)
        return Segment(_ms(self._utt_start), _ms(end), self._slice(self._utt_start, end))

    def flush(self) -> list[Segment]:
        """Close the open utterance at the latest audio (end of stream, or a gap in it) and
        reset the VAD; returns it, or nothing if there was no speech long enough to keep."""
        done: list[Segment] = []
        end = self._buf_start + len(self._buf)
        if self._speech_start is not None and end - self._speech_start >= self._min_speech:
            done.append(self._close(end))
        self._speech_start = self._silence_start = None
        self._vad.reset()
        self._analysed = end
        self._last_end = max(self._last_end, end)
        self._trim(end)
        return done

    def _judge(self, frame_start: int, prob: float, done: list[Segment]):
        if self._speech_start is None:
            if prob >= self.threshold:
                self._speech_start = frame_start
                self._silence_start = None
                self._utt_start = max(frame_start - self._pad, self._last_end, self._buf_start)
            return
        if prob >= self.threshold:
            self._silence_start = None
        elif prob < self.neg_threshold and self._silence_start is None:
            self._silence_start = frame_start
        frame_end = frame_start + FRAME
        needed = self._min_silence
        if self._silence_start is not None and self._silence_start - self._utt_start < self._short:
            needed = self._short_silence
        if self._silence_start is not None and frame_end - self._silence_start >= needed:
            speech_end = self._silence_start
            if speech_end - self._speech_start >= self._min_speech:
                done.append(self._close(min(speech_end + self._pad, frame_end)))
            self._speech_start = self._silence_start = None
        else:
            cut = self._cut_point(frame_start, frame_end)
            if cut is not None:
                done.append(self._close(cut))
                self._speech_start = cut
                self._utt_start = cut
                if self._silence_start is not None and self._silence_start < cut:
                    self._silence_start = cut

    def _cut_point(self, frame_start: int, frame_end: int) -> int | None:
        """Where to cut the open utterance now, or ``None`` to let it grow."""
        length = frame_end - self._utt_start
        if length >= self._max:
            return self._quietest(frame_end)
        if length < self._max - self._cut_window:
            return None
        # Close to the limit, the first gap between words is a good enough place to cut, and
        # cutting there at once beats cutting up to a whole window back later.
        if self._silence_start is not None and frame_end - self._silence_start >= _BRIEF_PAUSE:
            return (self._silence_start + frame_end) // 2
        energy = float(np.mean(np.square(self._slice(frame_start, frame_end))))
        typical = float(np.median(_frame_energies(self._slice(self._utt_start, frame_end))))
        if energy < _GAP_ENERGY * typical:
            return frame_start + FRAME // 2
        return None

    def _quietest(self, end: int) -> int:
        """The middle of the lowest-energy frame in the last ``cut_window`` before ``end``."""
        start = max(end - self._cut_window, self._utt_start + self._min_speech)
        energy = _frame_energies(self._slice(start, end))
        if len(energy) == 0:
            return end
        return start + int(np.argmin(energy)) * FRAME + FRAME // 2

    def _close(self, end: int) -> Segment:
        segment = Segment(_ms(self._utt_start), _ms(end), self._slice(self._utt_start, end))
        self._last_end = end
        return segment

    def _slice(self, start: int, end: int) -> np.ndarray:
        return self._buf[start - self._buf_start : end - self._buf_start].copy()

    def _trim(self, keep_from: int):
        """Drop audio before ``keep_from`` (a stream sample index); it can no longer be used."""
        drop = min(max(keep_from - self._buf_start, 0), len(self._buf))
        if drop:
            self._buf = self._buf[drop:]
            self._buf_start += drop


def _frame_energies(audio: np.ndarray) -> np.ndarray:
    """Mean square of each whole 512-sample frame of ``audio``."""
    n = len(audio) // FRAME
    return np.square(audio[: n * FRAME].reshape(n, FRAME)).mean(axis=1)


def _samples(ms: int) -> int:
    return ms * SAMPLE_RATE // 1000


def _ms(samples: int) -> int:
    return samples * 1000 // SAMPLE_RATE
