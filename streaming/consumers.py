"""Browser sockets: the live relay of a meeting's events, and the microphone's audio.

Upstream connections never live here: a runner owns the session, these sockets only watch it
(relay) or hand it audio (microphone), so closing a tab never stops a meeting.
"""
import logging

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer, AsyncWebsocketConsumer
from channels.consumer import get_handler_name

from meetings.access import meeting_for_user
from meetings.models import Meeting, MeetingEvent
from meetings.serializers import snapshot

from . import control
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


class MeetingRelayConsumer(SkipsDatabaseCleanup, AsyncJsonWebsocketConsumer):
    """``/ws/meetings/<id>/[?after=<seq>]``: a snapshot or a replay, then live events, in order.

    Sends ``{"type": "snapshot", "seq": N, "meeting": <meeting_detail>}`` on connect without
    ``after``, then ``{"type": "event", "seq": n, "event": <protocol event>}`` for every event
    with ``n > N`` (or ``n > after``), each exactly once, with no gap.
    """

    channel_layer_alias = LIVE_LAYER
    # Every live event, for every watching browser (its catch-up reads go through
    # database_sync_to_async).
    no_database = frozenset({"meeting.event"})

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
        self.group = meeting.group_name
        # Join the group before reading the log: an event committed in between is then both
        # in the replay and in the group, and the sequence check drops the second copy.
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        if after is None:
            seq, detail = await database_sync_to_async(snapshot)(self.meeting_id)
            self.last_seq = seq
            await self.send_json({"type": "snapshot", "seq": seq, "meeting": detail})
        else:
            self.last_seq = after
        await self.catch_up()

    async def disconnect(self, code):
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content, **kwargs):
        # The relay is one-way; a client ping gets its position back, which lets it detect a stall.
        if isinstance(content, dict) and content.get("type") == "ping":
            await self.send_json({"type": "pong", "seq": self.last_seq})

    async def catch_up(self):
        while True:
            rows = await database_sync_to_async(_events_after)(self.meeting_id, self.last_seq)
            for seq, payload in rows:
                await self._send_event(seq, payload)
            if len(rows) < REPLAY_BATCH:
                return

    async def meeting_event(self, message):
        seq = message["seq"]
        if seq <= self.last_seq:
            return
        if seq > self.last_seq + 1:
            # A live message overtook ones we have not sent (or the layer dropped some): the log has them.
            await self.catch_up()
            if seq <= self.last_seq:
                return
        await self._send_frame(seq, message["frame"])

    async def _send_event(self, seq, payload):
        await self._send_frame(seq, relay_frame(seq, payload))

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
