"""The source interface: where a session's audio comes from."""

# Yielded by a source between audio chunks when its audio paused (a socket dropped): the engine
# closes the utterance in progress so nothing said before the pause waits on more audio.
PAUSE = None


class Source:
    """Yields PCM s16le mono 16 kHz ``bytes`` (and :data:`PAUSE`) until its audio ends or a stop.

    ``emit`` lets a source add events of its own (upload progress); ``resume_ms`` is the stream
    offset a taken-over session continues from.
    """

    # A source whose audio Parley never receives (Symbl dials the call, Symbl ingests the RTMP
    # stream) sets this and implements :meth:`run` instead of :meth:`chunks`.
    drives_engine = False
    # A source that may wait a long time for its first audio (a Zoom stream waiting for its meeting
    # to start) sets this: the meeting shows live from that audio, not from the engine's start.
    live_on_first_audio = False

    def __init__(self, meeting, control, emit, resume_ms=0):
        self.meeting = meeting
        self.control = control
        self.emit = emit
        self.resume_ms = resume_ms

    async def chunks(self):
        raise NotImplementedError
        yield  # pragma: no cover

    async def run(self, engine, went_live):
        """For :attr:`drives_engine` sources: run the whole upstream session (start it, ``await
        went_live()`` once it carries audio, relay its events through ``self.emit``, stop it when
        ``self.control.stopped`` is set) and return when it has ended. The runner emits the
        connecting, stopping, processing and completed statuses around it and never opens or
        closes ``engine``; raise :class:`~streaming.engines.base.EngineError` to fail the meeting."""
        raise NotImplementedError
