"""The engine interface: who turns a session's audio into protocol events.

A session runner builds one engine per session, feeds it audio from the session's source and
hands every event the engine emits to the persister. Engines never touch the database or a
browser socket; they only call ``emit``.
"""
from dataclasses import dataclass, field
from datetime import datetime
from typing import Awaitable, Callable

Emit = Callable[[dict], Awaitable[None]]


@dataclass
class SessionInfo:
    """What an engine may know of its session.

    ``resume_ms``: audio before this offset was already transcribed (a taken-over session);
    ``known_utterances``: those earlier final utterances, as ``(message_id, speaker_name, text,
    start_ms, end_ms)``, so insights and the summary cover the whole meeting;
    ``trackers``: the meeting's chosen trackers, ``[{"name": str, "vocabulary": [str, ...]}]`` (Symbl's
    ``start_request`` shape, https://docs.symbl.ai/docs/streamingapi/reference); an engine that
    detects trackers reports hits as ``tracker_response`` events, others ignore them.
    """

    meeting_id: int
    title: str
    language: str = "en-US"
    started_at: datetime | None = None
    speaker_key: str = "speaker-1"
    speaker_name: str = "Speaker 1"
    resume_ms: int = 0
    known_utterances: list = field(default_factory=list)
    trackers: list = field(default_factory=list)


class EngineError(RuntimeError):
    """The engine cannot go on; the message is shown to the user as the failure reason."""


class Engine:
    """Base class. Audio is PCM s16le mono at :attr:`sample_rate` Hz, in chunks of any size."""

    name = "base"
    sample_rate = 16000

    def __init__(self, session: SessionInfo, emit: Emit):
        self.session = session
        self.emit = emit

    async def open(self):
        """Connect upstream / load models. Raises :class:`EngineError`."""

    async def send_audio(self, pcm: bytes):
        """Feed audio; events come out through ``emit`` as they are ready."""
        raise NotImplementedError

    async def pause(self):
        """The source paused (a microphone socket dropped): finish the utterance in progress."""

    async def flush(self):
        """End of this engine's audio, not of the session: emit the last utterances, no summary. A
        source that runs one engine per track (a Twilio call) flushes the others and closes one."""
        raise NotImplementedError

    async def close(self):
        """End of audio: flush the last utterance, then emit final insights, topics and summary."""
        raise NotImplementedError

    def abort(self):
        """The session was taken from this runner: stop emitting at once, flush nothing."""
