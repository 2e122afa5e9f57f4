"""Messages to a session's runner over the channel layer: audio, pause, stop, wake-up.

The runner may be a task in this process (embedded default) or in a worker process
(production); either way it listens on a channel in the group ``session.<meeting id>``, so
callers never need to know where it runs.
"""
import asyncio
import logging

from channels.exceptions import ChannelFull
from channels.layers import get_channel_layer

log = logging.getLogger(__name__)

WAKE_CHANNEL = "parley-runners.wake"


def session_group(meeting_id):
    return f"session.{meeting_id}"


async def send_audio(meeting_id, pcm):
    """Hand ``pcm`` (s16le mono 16 kHz bytes) to the session's runner."""
    await get_channel_layer().group_send(session_group(meeting_id), {"type": "audio.chunk", "pcm": pcm})


async def send_pause(meeting_id):
    """The audio source paused (its socket closed): the runner finishes the utterance in progress."""
    await get_channel_layer().group_send(session_group(meeting_id), {"type": "audio.pause"})


async def send_stop(meeting_id):
    await get_channel_layer().group_send(session_group(meeting_id), {"type": "session.stop"})


async def wake_runners():
    """Tell an idle runner pool that a session is waiting to be claimed (it also polls)."""
    try:
        await get_channel_layer().send(WAKE_CHANNEL, {"type": "runners.wake"})
    except ChannelFull:
        pass


class SessionControl:
    """The runner's end: receives the session's messages into ``audio`` and ``stopped``.

    ``audio`` holds ``bytes`` chunks and ``None`` for a pause; it is bounded so a flood of audio
    cannot exhaust memory (the oldest audio is kept, the overflow is dropped and logged).
    """

    def __init__(self, meeting_id, max_chunks=3000):
        self.meeting_id = meeting_id
        self.audio = asyncio.Queue(maxsize=max_chunks)
        self.stopped = asyncio.Event()
        self._layer = get_channel_layer()
        self._channel = None
        self._task = None

    async def __aenter__(self):
        self._channel = await self._layer.new_channel()
        await self._layer.group_add(session_group(self.meeting_id), self._channel)
        self._task = asyncio.create_task(self._listen())
        return self

    async def __aexit__(self, *exc_info):
        self._task.cancel()
        try:
            await self._layer.group_discard(session_group(self.meeting_id), self._channel)
        except Exception as exc:
            # The session is over either way; group membership expires on its own.
            log.warning("meeting %s: leaving the control group failed (%r)", self.meeting_id, exc)

    async def _listen(self):
        rejoin = False
        while True:
            try:
                if rejoin:
                    # A restarted Redis forgot the group: join it again, or stop requests and
                    # microphone audio sent to the session would never arrive.
                    await self._layer.group_add(session_group(self.meeting_id), self._channel)
                    rejoin = False
                message = await self._layer.receive(self._channel)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # A Redis hiccup must not deafen the session; the runner's heartbeat also
                # re-reads stop requests from the database, so nothing depends on one message.
                log.warning("meeting %s: channel layer receive failed (%r), retrying", self.meeting_id, exc)
                rejoin = True
                await asyncio.sleep(0.5)
                continue
            kind = message.get("type")
            if kind == "audio.chunk":
                self._put(message["pcm"])
            elif kind == "audio.pause":
                self._put(None)
            elif kind == "session.stop":
                self.stopped.set()

    def _put(self, item):
        try:
            self.audio.put_nowait(item)
        except asyncio.QueueFull:
            log.warning("meeting %s: audio queue full, chunk dropped", self.meeting_id)
