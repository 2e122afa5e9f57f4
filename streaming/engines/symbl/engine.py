"""The Symbl engine: a session's audio goes to Symbl.ai; Symbl's messages come back as protocol events.

Two paths, chosen per meeting:

* **Streaming API** (microphone sessions, uploads played at real-time pace): PCM s16le 16 kHz goes
  out as LINEAR16 in ≤ 8,192-byte frames on one connectionId kept in :class:`~streaming.models.SymblSession`
  (so reconnects and runner takeovers rejoin the same conversation); every server message is mapped
  by :mod:`.mapping` and emitted. When the stream ends, the reconciliation task
  (:func:`streaming.tasks.reconcile_symbl_conversation`) makes the Conversation API the source of truth.
* **Async API** (uploads processed as fast as possible): the audio is written to a WAV file, sent to
  ``POST /v1/process/audio``, the job polled until ``completed``, then the conversation is read
  through the Conversation API and emitted. The job id is saved on the meeting's
  :class:`~streaming.models.SymblSession` as soon as Symbl accepts the recording, so a runner taking
  over a session resumes polling that job instead of submitting the recording again; it submits
  anew only when there is no saved job, or Symbl says the saved job failed or does not know it.

Trackers chosen for the meeting (:attr:`~streaming.engines.base.SessionInfo.trackers`) go into the
``start_request``; Symbl's ``tracker_response`` hits are kept in the event log.

Fatal problems (a wrong app id or secret, a refused stream, a failed job) raise :class:`EngineError`
with a reason the user sees on the meeting.
"""
import asyncio
import logging
import os
import tempfile
import uuid
import wave

from asgiref.sync import sync_to_async

from ... import events
from ..base import Engine, EngineError
from .client import NotConfigured, NotFound, SymblError, Unauthorized
from .conversation import reconcile
from .credentials import client_for
from .mapping import to_events
from .streaming import StreamingSession, start_request

log = logging.getLogger(__name__)


def _load(meeting_id):
    from meetings.models import Meeting

    from ...models import SymblSession

    meeting = Meeting.objects.get(pk=meeting_id)
    state, _ = SymblSession.objects.get_or_create(meeting=meeting, defaults={"connection_id": str(uuid.uuid4())})
    return meeting, state


def _save(meeting_id, **fields):
    from ...models import SymblSession

    SymblSession.objects.filter(meeting_id=meeting_id).update(**fields)


def _reason(exc):
    if isinstance(exc, NotConfigured):
        return f"The Symbl engine is not set up: {exc.message}"
    if isinstance(exc, Unauthorized):
        return f"Symbl rejected this workspace's app id or secret: {exc.message}"
    return f"Symbl: {exc}"


class SymblEngine(Engine):
    name = "symbl"
    stream = None
    wav = None
    resumed_job = ""
    # The Async API needs a speaker count to diarize; a meeting does not record one yet.
    diarization_speakers = 2

    async def open(self):
        meeting, state = await sync_to_async(_load)(self.session.meeting_id)
        self.meeting = meeting
        self.state = state
        self.client = client_for(meeting)
        self.stream = None
        self.wav = None
        self.resumed_job = ""
        try:
            await self.client.token()
            self.use_async_api = meeting.source == meeting.Source.UPLOAD and not meeting.realtime
            if self.use_async_api and state.job_id and state.conversation_id:
                self.resumed_job = await self._resumable_job(state)
        except SymblError as exc:
            await self.client.aclose()
            raise EngineError(_reason(exc)) from exc
        if self.resumed_job:
            return  # Symbl already has the recording: its audio is not needed again
        if self.use_async_api:
            handle, self.wav_path = tempfile.mkstemp(prefix=f"parley-symbl-{meeting.pk}-", suffix=".wav")
            os.close(handle)
            self.wav = wave.open(self.wav_path, "wb")
            self.wav.setnchannels(1)
            self.wav.setsampwidth(2)
            self.wav.setframerate(self.sample_rate)
            return
        start = start_request(title=self.session.title, language=self.session.language,
                              speaker_id=self.session.speaker_key, speaker_name=self.session.speaker_name,
                              sample_rate=self.sample_rate, timezone_offset=_utc_offset_minutes(self.session),
                              trackers=self.session.trackers)
        self.stream = StreamingSession(self.client, state.connection_id, start, self._on_frame)
        try:
            await self.stream.open()
        except SymblError as exc:
            await self.client.aclose()
            raise EngineError(_reason(exc)) from exc

    async def _resumable_job(self, state):
        """The saved Async API job id when Symbl still has that job (scheduled, in progress or
        completed), else "" (it failed or Symbl does not know it: the recording is sent again)."""
        try:
            status = await self.client.job_status(state.job_id)
        except NotFound:
            status = "unknown to Symbl"
        if status == "failed" or status == "unknown to Symbl":
            log.warning("meeting %s: saved Symbl job %s is %s; submitting the recording again",
                        self.session.meeting_id, state.job_id, status)
            return ""
        log.info("meeting %s: resuming Symbl job %s (%s)", self.session.meeting_id, state.job_id, status)
        return state.job_id

    async def _on_frame(self, frame):
        for event in to_events(frame, connection_id=self.state.connection_id):
            if events.event_type(event) == "conversation_created":
                conversation_id = str((event["message"].get("data") or {}).get("conversationId") or "")
                if conversation_id and conversation_id != self.state.conversation_id:
                    self.state.conversation_id = conversation_id
                    await sync_to_async(_save)(self.session.meeting_id, conversation_id=conversation_id)
            await self.emit(event)

    async def send_audio(self, pcm):
        if self.resumed_job:
            return
        if self.wav is not None:
            await asyncio.to_thread(self.wav.writeframes, pcm)
            return
        try:
            await self.stream.send_audio(pcm)
        except SymblError as exc:
            raise EngineError(_reason(exc)) from exc

    async def close(self):
        try:
            if self.resumed_job:
                await self._finish_job(self.state.conversation_id, self.resumed_job)
            elif self.wav is not None:
                await self._process_recording()
            else:
                try:
                    await self.stream.stop()
                except SymblError as exc:
                    raise EngineError(_reason(exc)) from exc
                from ...tasks import reconcile_later

                await reconcile_later(self.session.meeting_id)
        finally:
            await self.client.aclose()

    async def _process_recording(self):
        self.wav.close()
        self.wav = None
        try:
            if os.path.getsize(self.wav_path) <= 44:
                raise EngineError("The recording has no audio to send to Symbl.")
            conversation_id, job_id = await self.client.process_audio(self.wav_path, name=self.session.title,
                                                                      diarization_speakers=self.diarization_speakers)
            self.state.conversation_id = conversation_id
            await sync_to_async(_save)(self.session.meeting_id, conversation_id=conversation_id, job_id=job_id)
            await self.emit(events.platform("conversation_created", conversationId=conversation_id))
        except SymblError as exc:
            raise EngineError(_reason(exc)) from exc
        finally:
            os.unlink(self.wav_path)
        await self._finish_job(conversation_id, job_id)

    async def _finish_job(self, conversation_id, job_id):
        """Poll the Async API job until it completes, then emit the conversation Symbl made of it."""
        try:
            await self.client.wait_for_job(job_id)
            await reconcile(self.client, self.session.meeting_id, conversation_id, self.emit)
        except SymblError as exc:
            raise EngineError(_reason(exc)) from exc
        completed = events.platform("conversation_completed", conversationId=conversation_id)
        completed["message"]["conversationId"] = conversation_id
        await self.emit(completed)

    def abort(self):
        if self.stream is not None:
            self.stream.abort()
        if self.wav is not None:
            self.wav.close()
            os.unlink(self.wav_path)
            self.wav = None


def _utc_offset_minutes(session):
    if session.started_at and session.started_at.utcoffset() is not None:
        return int(session.started_at.utcoffset().total_seconds() // 60)
    return 0
