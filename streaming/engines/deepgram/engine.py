"""The Deepgram engine: Deepgram transcribes (with its diarization); Parley's insight pipeline does the rest.

Two paths, chosen per meeting, as for the Symbl engine:

* **Live** (microphone sessions, uploads played at real-time pace, every live source): PCM s16le
  16 kHz goes to the ``/v1/listen`` WebSocket as ``linear16`` with interim results, punctuation,
  smart formatting, diarization, endpointing and utterance-end detection
  (https://developers.deepgram.com/reference/speech-to-text-api/listen-streaming). Deepgram answers
  ``Results`` messages: ``is_final: false`` ones are interim results; ``is_final: true`` ones are
  kept until ``speech_final: true`` (the speaker paused for ``endpointing`` ms) or an
  ``UtteranceEnd`` (no word for ``utterance_end_ms``) closes the utterance, which is then emitted,
  one utterance per diarized speaker turn. A ``KeepAlive`` goes out while no audio does (a paused
  microphone), ``Finalize`` when the source pauses (or a bot's speaker changes: the engine waits for
  its ``from_finalize`` results, so the utterance is the previous speaker's), ``CloseStream`` at the end; Deepgram answers the
  last ``Results`` and its ``Metadata``, then closes 1000.
* **Pre-recorded** (uploads processed as fast as possible): the audio is written to a WAV file and
  sent to ``POST /v1/listen`` with ``utterances=true``; Deepgram's diarized utterances are emitted.

A dropped socket (1006, 1011, …) is reconnected and the audio since the last ``is_final`` result
replayed (:class:`~streaming.engines.livesocket.LiveSocket`): the new socket's word times are put
back on the stream's clock, and words a replay brings back after they were final are dropped. A
wrong API key, a model/language combination Deepgram does not offer, audio it refuses, its idle
close (NET-0001) or drops that go on raise :class:`EngineError` with Deepgram's reason; a refusal
is never retried.
"""
import asyncio
import json

from asgiref.sync import sync_to_async

from ... import events
from ..livesocket import LiveSocket, retryable_close
from ..transcript import TranscriptEngine, UpstreamError, workspace_api_key
from ..base import EngineError
from .client import DeepgramClient, listen_params

KEEPALIVE = {"type": "KeepAlive"}
FINALIZE = {"type": "Finalize"}
CLOSE_STREAM = {"type": "CloseStream"}


def _load(meeting_id):
    from meetings.models import Meeting, Provider

    meeting = Meeting.objects.select_related("workspace").get(pk=meeting_id)
    return meeting, workspace_api_key(meeting, Provider.DEEPGRAM, "Deepgram")


def _reason(exc):
    if exc.status == 401:
        return f"Deepgram rejected this workspace's API key: {exc.message}"
    return f"Deepgram: {exc.message}"


def _text(words):
    return " ".join(w.get("punctuated_word") or w.get("word") or "" for w in words)


def _retryable(code, reason):
    # NET-0001: Deepgram heard nothing for 10 s; a new socket would hear nothing either.
    return retryable_close(code, reason) and "net0001" not in reason.lower().replace("-", "")


def _error_of(frame):
    """Deepgram's reason in an error frame (``{"type": "Error", "description", "message", "variant"}``)."""
    if frame.get("type") == "Error":
        return str(frame.get("description") or frame.get("message") or frame.get("variant") or "error")
    return None


class DeepgramEngine(TranscriptEngine):
    name = "deepgram"
    model = "nova-3"
    encoding = "linear16"
    endpointing_ms = 300
    utterance_end_ms = 1000
    keepalive_s = 5.0  # Deepgram closes a socket that received nothing for 10 s (NET-0001)
    pause_timeout_s = 3.0  # at most this long for the results of a Finalize
    live = None

    async def open(self):
        meeting, api_key = await sync_to_async(_load)(self.session.meeting_id)
        self.client = DeepgramClient(api_key)
        self.pending = []  # words of final results whose utterance is not closed yet
        self.finalized = asyncio.Event()  # the results of the last Finalize arrived
        self.final_end_ms = 0.0  # the stream's audio up to here has its final results
        self.prerecorded = meeting.source == meeting.Source.UPLOAD and not meeting.realtime
        # A bot names who speaks in its frames, a Twilio call has one party a track: Deepgram's
        # guess would only differ.
        self.diarize = meeting.source not in (meeting.Source.BOT, meeting.Source.TWILIO)
        if self.prerecorded:
            self.start_recording()
            await self.start_transcript()
            return
        params = listen_params(model=self.model, language=self.session.language, encoding=self.encoding,
                               diarize=self.diarize, sample_rate=self.sample_rate, channels=1, interim_results=True,
                               endpointing=self.endpointing_ms, utterance_end_ms=self.utterance_end_ms,
                               vad_events=True)
        self.live = LiveSocket(self.client.listen_url(params), self.client.headers, self._on_frame,
                               product="Deepgram", bytes_per_second=self.sample_rate * 2, error_of=_error_of,
                               keepalive=KEEPALIVE, keepalive_s=self.keepalive_s, retryable=_retryable)
        try:
            await self.live.open()
        except UpstreamError as exc:
            raise EngineError(_reason(exc)) from exc
        await self.start_transcript()

    async def _on_frame(self, frame):
        kind = frame.get("type")
        if kind == "Results":
            await self._results(frame)
        elif kind == "UtteranceEnd":
            await self._close_utterance()
        elif kind in ("Metadata", "SpeechStarted", "Error"):
            pass  # Metadata closes the stream; an Error ends the session through LiveSocket
        else:
            await self.emit(events.provider_event("deepgram", f"unknown Deepgram message {kind!r}", frame))

    async def _results(self, frame):
        alternatives = (frame.get("channel") or {}).get("alternatives") or [{}]
        best = alternatives[0]
        heard = best.get("words") or []
        words = self._rebased(heard)
        if not frame.get("is_final"):
            # The transcript as Deepgram formatted it, unless a replay brought back final words.
            text = best.get("transcript") if len(words) == len(heard) else _text(words)
            start_ms = round(1000 * words[0]["start"] if words else self.live.stream_ms(1000 * frame.get("start", 0)))
            await self.interim(text or "", start_ms, words[0].get("speaker") if words else None)
            return
        self.pending.extend(words)
        end_ms = 1000 * (frame.get("start", 0) + frame.get("duration", 0))
        self.live.finalized(end_ms)
        self.final_end_ms = max(self.final_end_ms, self.live.stream_ms(end_ms))
        if frame.get("speech_final") or frame.get("from_finalize"):
            await self._close_utterance()
        if frame.get("from_finalize"):
            self.finalized.set()

    def _rebased(self, words):
        """``words`` (times in s on the socket's clock) on the stream's clock, less those a replay
        after a reconnection brought back though they were final already."""
        offset_s = self.live.offset_ms / 1000
        rebased = ({**w, "start": w["start"] + offset_s, "end": w["end"] + offset_s} for w in words)
        return [w for w in rebased if 500 * (w["start"] + w["end"]) > self.final_end_ms]

    async def _close_utterance(self):
        words, self.pending = self.pending, []
        await self._emit_turns(words)

    async def _emit_turns(self, words, message_id=None):
        """Emit ``words`` as one final utterance per run of one diarized speaker."""
        run = []
        for word in words + [None]:
            if run and (word is None or word.get("speaker") != run[0].get("speaker")):
                text = _text(run)
                await self.final(text, round(1000 * run[0]["start"]), round(1000 * run[-1]["end"]),
                                 run[0].get("speaker"), message_id=message_id)
                run = []
            if word is not None:
                run.append(word)

    async def send_audio(self, pcm):
        if self.prerecorded:
            await self.record(pcm)
            return
        try:
            await self.live.send(pcm)
        except UpstreamError as exc:
            raise EngineError(_reason(exc)) from exc

    async def pause(self):
        """Finalize: the utterance in progress is finished (and emitted) before this returns, so a
        source that attributes speakers (the bot's) knows whose words they were."""
        if self.live is None:
            return
        self.finalized.clear()
        try:
            await self.live.send(json.dumps(FINALIZE))
        except UpstreamError as exc:
            raise EngineError(_reason(exc)) from exc
        try:
            # Deepgram answers a Finalize with results marked from_finalize, after every earlier one.
            await asyncio.wait_for(self.finalized.wait(), self.pause_timeout_s)
        except TimeoutError:
            pass  # no answer in time: the words come with the next results

    async def flush(self):
        if self.prerecorded:
            await self._transcribe_recording()
        else:
            try:
                await self.live.finish(json.dumps(CLOSE_STREAM))
            except UpstreamError as exc:
                raise EngineError(_reason(exc)) from exc
            await self._close_utterance()

    async def _transcribe_recording(self):
        path = self.end_recording()
        params = listen_params(model=self.model, language=self.session.language, utterances=True)
        try:
            response = await self.client.transcribe_file(path, params)
        except UpstreamError as exc:
            raise EngineError(_reason(exc)) from exc
        finally:
            self.drop_recording()
        results = response.get("results") or {}
        utterances = results.get("utterances")
        if utterances is None:  # no utterance segmentation: one run per speaker of the words
            channels = results.get("channels") or [{}]
            await self._emit_turns(((channels[0].get("alternatives") or [{}])[0]).get("words") or [])
            return
        for utterance in utterances:
            await self.final(utterance.get("transcript") or "", round(1000 * utterance["start"]),
                             round(1000 * utterance["end"]), utterance.get("speaker"),
                             message_id=utterance.get("id"))

    def abort(self):
        if self.live is not None:
            self.live.abort()
        self.drop_recording()
