"""Browser sockets: the live relay of a meeting's events, and the microphone's audio.

Upstream connections never live here: a runner owns the session, these sockets only watch it
(relay) or hand it audio (microphone), so closing a tab never stops a meeting.
"""
import asyncio
import logging

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer, AsyncWebsocketConsumer
from channels.consumer import get_handler_name
from channels.exceptions import StopConsumer

from meetings.access import meeting_for_user
from meetings.models import Meeting, MeetingEvent
from meetings.serializers import snapshot

from . import control
from .fanout import Fanout
from .persist import LIVE_LAYER, relay_frame

log = logging.getLogger(__name__)

REPLAY_BATCH = 500
# Close codes sent before accept are seen by the browser as a refused handshake (HTTP 403).
CLOSE_FORBIDDEN = 4403
CLOSE_BAD_REQUEST = 4400


def _events_after(meeting_id, seq, limit=REPLAY_BATCH):
    return list(
        MeetingEvent.objects.filter(meeting_id=meeting_id, seq__gt=seq)
        .order_by("seq")
        .values_list("seq", "payload")[:limit]
    )


class SkipsDatabaseCleanup:
    """For a consumer whose frequent messages touch no database.

    Channels closes stale database connections before every message it dispatches: a round trip
    through the one thread that all sync database work shares. Messages whose types are in
    ``no_database`` skip it; their handlers must not use the database but through
    ``database_sync_to_async``, which closes stale connections itself.
    """

    no_database = frozenset()

    async def dispatch(self, message):
        if message["type"] in self.no_database:
            await getattr(self, get_handler_name(message))(message)
        else:
            await super().dispatch(message)


class ReceivesDirectly:
    """For a consumer without a channel of its own (``channel_layer_alias = None``): its socket is
    its only source of messages, so they are awaited one after another. Channels'
    ``await_many_dispatch`` starts a task and an ``asyncio.wait`` for every message, whatever the
    number of sources, which at a Twilio media stream's 50 messages a second per call was a tenth
    of the process (``bench.twilio``)."""

    channel_layer_alias = None

    async def __call__(self, scope, receive, send):
        self.scope = scope
        self.channel_layer = None
        self.base_send = send
        try:
            while True:
                await self.dispatch(await receive())
        except StopConsumer:
            pass


class MeetingRelayConsumer(ReceivesDirectly, AsyncJsonWebsocketConsumer):
    """``/ws/meetings/<id>/[?after=<seq>]``: a snapshot or a replay, then live events, in order.

    Sends ``{"type": "snapshot", "seq": N, "meeting": <meeting_detail>}`` on connect without
    ``after``, then ``{"type": "event", "seq": n, "event": <protocol event>}`` for every event
    with ``n > N`` (or ``n > after``), each exactly once, with no gap. A client's ``{"type":
    "ping"}`` gets ``{"type": "pong", "seq": <last sent>}``.

    Live events come from the process's :class:`~streaming.fanout.Fanout`, not from a channel of
    the socket's own. While the socket reads the log (its snapshot or replay, or a gap to fill)
    they are held, then sent after what the log gave, so each goes out once and in order.
    """

    # No channel of its own (ReceivesDirectly): the process's Fanout is the meeting group's member
    # for every socket.
    group = None

    async def __call__(self, scope, receive, send):
        try:
            await super().__call__(scope, receive, send)
        finally:
            # However the socket ended (a disconnect, a failure in connect), it stops watching.
            await self._unwatch()

    async def connect(self):
        self.meeting_id = self.scope["url_route"]["kwargs"]["meeting_id"]
        meeting, _ = await database_sync_to_async(meeting_for_user)(self.scope["user"], self.meeting_id)
        if meeting is None:
            await self.close(code=CLOSE_FORBIDDEN)
            return
        after = _query_int(self.scope, "after")
        if after is False:
            await self.close(code=CLOSE_BAD_REQUEST)
            return
        self.last_seq = after or 0
        self.held = []  # live messages that arrived while the log was being read
        self.syncing = True  # while the log is read, live messages are held
        self.fanout = Fanout.get(LIVE_LAYER)
        # Watch before reading the log: an event committed in between is then both in the log
        # and held, and the sequence check drops the second copy.
        self.group = meeting.group_name
        await self.fanout.watch(self.group, self)
        await self.accept()
        if after is None:
            seq, detail = await database_sync_to_async(snapshot)(self.meeting_id)
            self.last_seq = seq
            await self.send_json({"type": "snapshot", "seq": seq, "meeting": detail})
        await self._replay()

    async def _unwatch(self):
        group, self.group = self.group, None
        if group is not None:
            await self.fanout.unwatch(group, self)

    async def receive_json(self, content, **kwargs):
        # The relay is one-way; a client ping gets its position back, which lets it detect a stall.
        if isinstance(content, dict) and content.get("type") == "ping":
            await self.send_json({"type": "pong", "seq": self.last_seq})

    async def deliver(self, message):
        """A live ``meeting.event`` from the Fanout. It must not wait but on the socket's send."""
        seq = message["seq"]
        if self.syncing:
            self.held.append((seq, message["frame"]))
        elif seq == self.last_seq + 1:
            await self._send_frame(seq, message["frame"])
        elif seq > self.last_seq:
            # A live message overtook ones not yet sent (or the layer dropped some): the log has them.
            self.held.append((seq, message["frame"]))
            self.syncing = True
            self.sync_task = asyncio.create_task(self._replay())

    async def _replay(self):
        """Send what the log holds after ``last_seq``, then the held live messages past it."""
        for attempt in range(3):
            await self._catch_up()
            held, self.held = sorted(self.held), []
            for seq, frame in held:
                # The last attempt sends what is left even past a gap (events deleted from the
                # log meanwhile): the order holds, and a socket is never stuck.
                if seq == self.last_seq + 1 or (attempt == 2 and seq > self.last_seq):
                    await self._send_frame(seq, frame)
            # A held message past a gap: the log has the missing ones by now (events are
            # published after their commit), so read it again.
            if all(seq <= self.last_seq for seq, _ in held):
                break
            self.held = held + self.held
        self.syncing = False

    async def _catch_up(self):
        while True:
            rows = await database_sync_to_async(_events_after)(self.meeting_id, self.last_seq)
            for seq, payload in rows:
                await self._send_frame(seq, relay_frame(seq, payload))
            if len(rows) < REPLAY_BATCH:
                return

    async def _send_frame(self, seq, frame):
        await self.send(text_data=frame)
        self.last_seq = seq


class MicrophoneConsumer(AsyncWebsocketConsumer):
    """``/ws/meetings/<id>/audio/``: binary frames of PCM s16le mono 16 kHz from the browser.

    Only someone who may write to the meeting, and only while its session is active. Each frame
    is handed to the session's runner; when the socket closes the runner finishes the utterance
    in progress, so what was said before a drop is kept.
    """

    async def connect(self):
        self.meeting_id = self.scope["url_route"]["kwargs"]["meeting_id"]
        meeting, can_write = await database_sync_to_async(meeting_for_user)(self.scope["user"], self.meeting_id)
        if meeting is None or not can_write:
            await self.close(code=CLOSE_FORBIDDEN)
            return
        if meeting.source != Meeting.Source.MICROPHONE or meeting.status in Meeting.ENDED:
            await self.close(code=CLOSE_BAD_REQUEST)
            return
        self.streaming = True
        await self.accept()

    async def receive(self, text_data=None, bytes_data=None):
        if bytes_data:
            if len(bytes_data) % 2:
                bytes_data = bytes_data[:-1]
            await control.send_audio(self.meeting_id, bytes_data)

    async def disconnect(self, code):
        if getattr(self, "streaming", False):
            await control.send_pause(self.meeting_id)


def _query_int(scope, name):
    """An integer query parameter: its value, None when absent, False when malformed."""
    from urllib.parse import parse_qs

    values = parse_qs(scope.get("query_string", b"").decode()).get(name)
    if not values:
        return None
    try:
        value = int(values[0])
    except ValueError:
        return False
    return value if value >= 0 else False
