"""The AssemblyAI engine: AssemblyAI transcribes (with its speaker labels); Parley's insight pipeline does the rest.

Two paths, chosen per meeting, as for the Symbl engine:

* **Universal-Streaming v3** (microphone sessions, uploads played at real-time pace, every live
  source; https://www.assemblyai.com/docs/api-reference/streaming-api/universal-streaming):
  ``{ASSEMBLYAI_WS_URL}/v3/ws?sample_rate=16000&encoding=pcm_s16le&format_turns=true&speech_model=…``.
  AssemblyAI answers ``Begin``, then ``Turn`` messages: ``end_of_turn: false`` ones carry the turn's
  words so far (interim results); with ``format_turns`` the end of a turn comes twice, unformatted
  then ``turn_is_formatted: true``, and the formatted one is the final utterance. Audio goes out in
  frames of 100 ms: AssemblyAI refuses a frame shorter than 50 ms or longer than 1,000 ms (error
  3007), so the source's chunks are regrouped. ``ForceEndpoint`` ends the turn in progress when the
  source pauses (or a bot's speaker changes: the engine waits for that turn), ``KeepAlive`` goes out while no audio does, ``Terminate`` ends the session:
  AssemblyAI answers the last turns and ``Termination``, then closes 1000. A session error comes as
  ``{"type": "Error", "error_code", "error"}`` before a close with that code.
* **Pre-recorded** (uploads processed as fast as possible): the audio is written to a WAV file,
  uploaded, transcribed with ``speaker_labels`` and polled until completed; AssemblyAI's
  utterances (speakers "A", "B", …) are emitted.

A dropped socket (1006, 1011, …) is reconnected and the audio since the last ended turn replayed
(:class:`~streaming.engines.livesocket.LiveSocket`): the new session's word times are put back on
the stream's clock, and words a replay brings back after their turn ended are dropped. A wrong API
key (1008), a language AssemblyAI does not offer, audio it refuses (3006, 3007) or drops that go on
raise :class:`EngineError` with AssemblyAI's reason; a refusal is never retried.
"""
import asyncio
import json
import uuid

from asgiref.sync import sync_to_async

from ... import events
from ..livesocket import LiveSocket
from ..transcript import TranscriptEngine, UpstreamError, workspace_api_key
from ..base import EngineError
from .client import STREAMING_MODELS, AssemblyAIClient

FRAME_MS = 100
MIN_FRAME_MS = 50


def _load(meeting_id):
    from meetings.models import Meeting, Provider

    meeting = Meeting.objects.select_related("workspace").get(pk=meeting_id)
    return meeting, workspace_api_key(meeting, Provider.ASSEMBLYAI, "AssemblyAI")


def _reason(exc):
    if exc.status == 401 or exc.code == 1008:
        return f"AssemblyAI rejected this workspace's API key: {exc.message}"
    return f"AssemblyAI: {exc.message}"


def _speaker_index(label):
    """AssemblyAI's speaker label ("A", "B", …) as a diarization index (0, 1, …); None for none."""
    if isinstance(label, str) and len(label) == 1 and label.isalpha():
        return ord(label.upper()) - ord("A")
    return None


class AssemblyAIEngine(TranscriptEngine):
    name = "assemblyai"
    format_turns = True
    keepalive_s = 5.0
    pause_timeout_s = 2.0  # at most this long for the turn a ForceEndpoint ends
    live = None

    async def open(self):
        meeting, api_key = await sync_to_async(_load)(self.session.meeting_id)
        self.client = AssemblyAIClient(api_key)
        self.prerecorded = meeting.source == meeting.Source.UPLOAD and not meeting.realtime
        if self.prerecorded:
            self.start_recording()
            await self.start_transcript()
            return
        language = self.session.language.split("-")[0].lower()
        model = STREAMING_MODELS.get(language)
        if model is None:
            raise EngineError(f"AssemblyAI: Universal-Streaming does not transcribe “{self.session.language}”; it "
                              "offers English, Spanish, French, German, Italian and Portuguese.")
        self.frame_bytes = self.sample_rate * 2 * FRAME_MS // 1000
        self.buffer = b""
        self.session_id = ""
        # Audio went out since the last turn ended: a turn may be on its way (AssemblyAI's turns lag
        # the audio), which a ForceEndpoint must wait for.
        self.unanswered_audio = False
        self.turn_ended = asyncio.Event()
        self.final_end_ms = 0.0  # the stream's audio up to here is in ended turns
        params = {"sample_rate": self.sample_rate, "encoding": "pcm_s16le", "speech_model": model,
                  "format_turns": "true" if self.format_turns else "false"}
        self.live = LiveSocket(self.client.streaming_url(params), self.client.headers, self._on_frame,
                               product="AssemblyAI", bytes_per_second=self.sample_rate * 2,
                               error_of=self._error_of, keepalive={"type": "KeepAlive"}, keepalive_s=self.keepalive_s)
        try:
            await self.live.open(ready="Begin")
        except UpstreamError as exc:
            raise EngineError(_reason(exc)) from exc
        await self.start_transcript()

    def _error_of(self, frame):
        kind = frame.get("type")
        if kind == "Error":
            return str(frame.get("error") or f"error {frame.get('error_code')}")
        if kind == "Termination" and not self.live.finishing:
            return "AssemblyAI ended the session before Parley did."
        return None

    async def _on_frame(self, frame):
        kind = frame.get("type")
        if kind == "Begin":
            self.session_id = str(frame.get("id") or "")
        elif kind == "Turn":
            await self._turn(frame)
        elif kind in ("Termination", "Error", "SpeechStarted"):
            pass  # the end of the stream, or its failure through LiveSocket
        else:
            await self.emit(events.provider_event("assemblyai", f"unknown AssemblyAI message {kind!r}", frame))

    async def _turn(self, frame):
        heard = frame.get("words") or []
        # On the stream's clock, less the words a replay after a reconnection brought back.
        offset = self.live.offset_ms
        words = [w for w in ({**w, "start": w["start"] + offset, "end": w["end"] + offset} for w in heard)
                 if (w["start"] + w["end"]) / 2 > self.final_end_ms]
        text = frame.get("transcript") if len(words) == len(heard) else ""
        text = text or " ".join(w.get("text", "") for w in words)
        start_ms = words[0]["start"] if words else offset
        speaker = _speaker_index(frame.get("speaker_label"))
        if not frame.get("end_of_turn") or (self.format_turns and not frame.get("turn_is_formatted")):
            await self.interim(" ".join(w.get("text", "") for w in words) or text, start_ms, speaker)
            return
        if heard:
            self.live.finalized(heard[-1]["end"])
            self.final_end_ms = max(self.final_end_ms, words[-1]["end"] if words else 0)
        # A stable id per turn: a turn delivered twice is one utterance.
        message_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"assemblyai:{self.session_id}:{frame.get('turn_order')}"))
        if words:
            await self.final(text, start_ms, words[-1]["end"], speaker, message_id=message_id)
        self.unanswered_audio = False
        self.turn_ended.set()

    async def _send(self, data):
        if isinstance(data, bytes):
            self.unanswered_audio = True
        try:
            await self.live.send(data)
        except UpstreamError as exc:
            raise EngineError(_reason(exc)) from exc

    async def _flush_buffer(self):
        """Send what is buffered as one last frame, padded with silence to AssemblyAI's 50 ms minimum."""
        if self.buffer:
            minimum = self.sample_rate * 2 * MIN_FRAME_MS // 1000
            await self._send(self.buffer.ljust(minimum, b"\0"))
            self.buffer = b""

    async def send_audio(self, pcm):
        if self.prerecorded:
            await self.record(pcm)
            return
        self.buffer += pcm
        while len(self.buffer) >= self.frame_bytes:
            frame, self.buffer = self.buffer[: self.frame_bytes], self.buffer[self.frame_bytes:]
            await self._send(frame)

    async def pause(self):
        """ForceEndpoint: the turn in progress ends (and is emitted) before this returns, so a source
        that attributes speakers (the bot's) knows whose words they were."""
        if self.live is None:
            return
        await self._flush_buffer()
        waiting = self.unanswered_audio
        self.turn_ended.clear()
        await self._send(json.dumps({"type": "ForceEndpoint"}))
        if waiting:
            try:
                await asyncio.wait_for(self.turn_ended.wait(), self.pause_timeout_s)
            except TimeoutError:
                pass  # silence since the last turn: nothing was left to end

    async def flush(self):
        if self.prerecorded:
            await self._transcribe_recording()
        else:
            await self._flush_buffer()
            try:
                await self.live.finish(json.dumps({"type": "Terminate"}))
            except UpstreamError as exc:
                raise EngineError(_reason(exc)) from exc

    async def _transcribe_recording(self):
        path = self.end_recording()
        try:
            transcript = await self.client.transcribe_file(path, language=self.session.language)
        except UpstreamError as exc:
            raise EngineError(_reason(exc)) from exc
        finally:
            self.drop_recording()
        for n, utterance in enumerate(transcript.get("utterances") or []):
            message_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"assemblyai:{transcript.get('id')}:{n}"))
            await self.final(utterance.get("text") or "", utterance["start"], utterance["end"],
                             _speaker_index(utterance.get("speaker")), message_id=message_id)

    def abort(self):
        if self.live is not None:
            self.live.abort()
        self.drop_recording()
