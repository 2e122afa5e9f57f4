"""What the cloud speech engines (``deepgram``, ``assemblyai``) share, so that each of their packages
holds only its provider's protocol:

* :class:`TranscriptEngine` — their providers return transcripts only, so Parley's own insight
  pipeline (:class:`streaming.insights.InsightPipeline`, as in the local engine) runs on their final
  text; diarized speakers become protocol ``user`` objects; uploads not watched live are kept as a
  WAV file for the provider's pre-recorded API.
* :class:`UpstreamError` and :func:`reason_of` for the providers' refusals;
  :func:`workspace_api_key` reads the workspace's provider account. Their live WebSocket, kept up
  through drops, is :class:`streaming.engines.livesocket.LiveSocket`.
"""
import asyncio
import json
import os
import tempfile
import wave

from .. import events
from .base import Engine, EngineError


class TranscriptEngine(Engine):
    """Base of the engines whose provider gives transcripts (with diarization) but no insights.

    A subclass calls :meth:`start_transcript` once connected, :meth:`interim` and :meth:`final` as
    the provider's results arrive, and :meth:`finish_transcript` at the end. Times given to them
    are ms from the start of the audio the provider received; :attr:`SessionInfo.resume_ms` is
    added, so a session taken over by another runner keeps the meeting's clock.

    Speakers are the provider's diarization indexes (0, 1, …): speaker 0 (or no diarization) is
    the session's own speaker (the microphone's owner; "Speaker 1" for a recording), speaker *n*
    is "Speaker *n+1*".
    """

    wav = None
    wav_path = ""

    # -- pre-recorded path: an upload not watched live is sent whole, as a WAV file --------------

    def start_recording(self):
        """Keep the session's audio (PCM s16le mono at :attr:`sample_rate`) in a temporary WAV file."""
        handle, self.wav_path = tempfile.mkstemp(prefix=f"parley-{self.name}-{self.session.meeting_id}-",
                                                 suffix=".wav")
        os.close(handle)
        self.wav = wave.open(self.wav_path, "wb")
        self.wav.setnchannels(1)
        self.wav.setsampwidth(2)
        self.wav.setframerate(self.sample_rate)

    async def record(self, pcm):
        await asyncio.to_thread(self.wav.writeframes, pcm)

    def end_recording(self):
        """Close the WAV file; returns its path (the caller deletes it with :meth:`drop_recording`)."""
        self.wav.close()
        self.wav = None
        return self.wav_path

    def drop_recording(self):
        if self.wav is not None:
            self.wav.close()
            self.wav = None
        if self.wav_path and os.path.exists(self.wav_path):
            os.unlink(self.wav_path)

    # -- transcript to protocol events ------------------------------------------------------------

    async def start_transcript(self, conversation_id=""):
        from ..insights import InsightPipeline, Utterance

        session = self.session
        self.insights = InsightPipeline(reference_time=session.started_at, speakers=[session.speaker_name])
        if session.known_utterances:
            self.insights.restore(Utterance(*u) for u in session.known_utterances)
        self.conversation_id = conversation_id or str(session.meeting_id)
        await self.emit(events.platform("conversation_created", conversationId=self.conversation_id))
        await self.emit(events.platform("recognition_started", conversationId=self.conversation_id))

    def speaker(self, index=None):
        """The protocol ``user`` object of diarized speaker ``index`` (an int, or None)."""
        if not index:
            return events.user_ref(self.session.speaker_key, self.session.speaker_name)
        return events.user_ref(f"speaker-{index + 1}", f"Speaker {index + 1}")

    async def interim(self, text, start_ms, speaker=None):
        if text.strip():
            await self.emit(events.recognition_result(text.strip(), is_final=False, user=self.speaker(speaker),
                                                      time_offset_ms=self.session.resume_ms + start_ms))

    async def final(self, text, start_ms, end_ms, speaker=None, message_id=None):
        """One final utterance: its recognition result, its message and the insights it brings."""
        from ..insights import Utterance

        text = text.strip()
        if not text:
            return
        user = self.speaker(speaker)
        start_ms, end_ms = self.session.resume_ms + int(start_ms), self.session.resume_ms + int(end_ms)
        message_id = message_id or events.new_id()
        await self.emit(events.recognition_result(text, is_final=True, user=user, time_offset_ms=start_ms))
        await self.emit(events.message_response(message_id, text, user=user, start_ms=start_ms, end_ms=end_ms))
        utterance = Utterance(message_id, user["name"], text, start_ms, end_ms)
        for event in await asyncio.to_thread(self.insights.add, utterance):
            await self.emit(event)

    async def close(self):
        await self.flush()
        await self.finish_transcript()

    async def finish_transcript(self):
        """After the last final: topics, the closing insights and summary, conversation_completed."""
        await self.emit(events.platform("recognition_stopped"))
        for event in await asyncio.to_thread(self.insights.finish):
            await self.emit(event)
        completed = events.platform("conversation_completed", conversationId=self.conversation_id)
        completed["message"]["conversationId"] = self.conversation_id
        await self.emit(completed)


def workspace_api_key(meeting, provider, product):
    """The ``api_key`` of ``meeting``'s workspace's ``provider`` account (reads the database; call it
    off the event loop). ``product`` names the provider in messages ("Deepgram").

    Raises :class:`EngineError` naming the workspace when it has no such account, the account has
    no key, or the key cannot be decrypted (an admin sets it under Workspace → Provider accounts;
    ``DEEPGRAM_API_KEY`` / ``ASSEMBLYAI_API_KEY`` seed the first workspace's).
    """
    from meetings.crypto import SecretError
    from meetings.models import ProviderAccount

    engine = product.lower()
    if meeting is None:
        raise EngineError(f"The {engine} engine is not set up: the session has no workspace, hence no {product} key.")
    where = f"workspace “{meeting.workspace}”"
    account = ProviderAccount.objects.filter(workspace_id=meeting.workspace_id, provider=provider).first()
    try:
        key = account.secrets().get("api_key", "") if account else ""
    except SecretError as exc:
        raise EngineError(f"The {engine} engine is not set up: the {product} API key of {where} cannot be "
                          f"decrypted: {exc}") from None
    if not key:
        raise EngineError(f"The {engine} engine is not set up: no {product} API key is set for {where}; an admin "
                          "sets it under Workspace → Provider accounts.")
    return key


class UpstreamError(RuntimeError):
    """A cloud speech provider refused or failed a request. ``message``: the provider's reason;
    ``status``: the HTTP status (0 for none); ``code``: the WebSocket close or error code (0 for none)."""

    def __init__(self, message, status=0, code=0):
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code


async def file_chunks(path, size=1 << 20):
    """The bytes of the file at ``path`` in chunks of ``size``, read off the event loop: a request body
    for httpx that never holds a long recording in memory whole."""
    with open(path, "rb") as handle:
        while chunk := await asyncio.to_thread(handle.read, size):
            yield chunk


def reason_of(status, body):
    """A provider's reason from an error body (bytes, str or dict): Deepgram's ``err_msg``, AssemblyAI's
    ``error``, else the body itself."""
    if isinstance(body, (bytes, bytearray)):
        body = body.decode("utf-8", "replace")
    if isinstance(body, str):
        try:
            body = json.loads(body)
        except ValueError:
            return body.strip()[:300] or f"HTTP {status}"
    if isinstance(body, dict):
        return str(body.get("err_msg") or body.get("error") or body.get("message") or body.get("reason")
                   or body.get("err_code") or body)
    return str(body)
