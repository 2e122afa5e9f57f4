"""The Media Streams socket, ``/telephony/twilio/media?call=<meeting id>``.

Twilio opens it as the TwiML of :mod:`.views` says, with ``X-Twilio-Signature`` on the upgrade:
the stream URL exactly as written in the TwiML, signed with the account's auth token and no
parameters (https://www.twilio.com/docs/global-infrastructure/firewall-configurations/media-streams-configuration;
the exact string is not published, so the ``https://`` spelling of the same URL is accepted too).
An unsigned or mis-signed upgrade is refused before ``accept()`` and logged.

Then it sends JSON text messages (https://www.twilio.com/docs/voice/media-streams/websocket-messages):
``connected``; ``start`` (``streamSid``, ``callSid``, ``tracks``, ``mediaFormat``,
``customParameters``); ``media`` (``track`` inbound|outbound, ``chunk``, ``timestamp`` in ms since
the stream started — both strings —, ``payload``: base64 mu-law 8 kHz, ~20 ms); ``dtmf``
(``digit``); ``mark``; ``stop``. Media is gathered per track into ~100 ms chunks and handed to the
session's runner (:mod:`.bridge`); a message that is not JSON or a payload that is not base64
audio is counted, logged and skipped — one bad frame never ends a call.

The session ends on ``stop`` or when the socket closes, after everything received was handed over.
"""
import asyncio
import json
import logging
from collections import deque
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.layers import get_channel_layer
from django.utils import timezone
from twilio.request_validator import RequestValidator

from meetings.models import Meeting
from streaming.consumers import ReceivesDirectly, SkipsDatabaseCleanup

from ..models import TwilioCall
from . import bridge
from .accounts import NoAccount, account_for
from .media import BadPayload, payload_bytes

log = logging.getLogger(__name__)

CHUNK_BYTES = 800  # 100 ms of mu-law 8 kHz: what goes to the runner (and to Symbl) in one message
MAX_PENDING_CHUNKS = 2 * 10 * 120  # two tracks, 120 s: audio kept while no runner listens yet
HANDOVER_TIMEOUT_S = 60  # how long a finished call's audio waits for a runner to take it
CLOSE_REFUSED = 4403
CLOSE_GONE = 4404


def _load_call(meeting_id):
    call = TwilioCall.objects.select_related("meeting").filter(meeting_id=meeting_id).first()
    if call is None or call.meeting.status in Meeting.ENDED:
        return None, ""
    try:
        _, token = account_for(call.account_sid)
    except NoAccount:
        token = ""
    return call, token


def signature_ok(auth_token, stream_url, signature):
    """Whether ``signature`` signs ``stream_url`` (or its ``https://`` spelling) with no parameters."""
    if not auth_token or not signature:
        return False
    validator = RequestValidator(auth_token)
    variants = [stream_url]
    if stream_url.startswith("wss://"):
        variants.append("https://" + stream_url[len("wss://"):])
    return any(validator.validate(url, {}, signature) for url in variants)


class Uplink:
    """The consumer's side of :mod:`.bridge`: media to the runner, in order, buffered until the
    runner says it listens. It has a channel of its own, so a call that ended before any runner
    took the session can still hand its audio over after the consumer is gone."""

    def __init__(self, meeting_id, on_hangup):
        self.meeting_id = meeting_id
        self.on_hangup = on_hangup
        self.layer = get_channel_layer()
        self.pending = deque()
        self.listening = asyncio.Event()
        self.lock = asyncio.Lock()
        self.dropped = 0
        self.channel = None
        self.task = None

    async def open(self):
        self.channel = await self.layer.new_channel()
        await self.layer.group_add(bridge.consumer_group(self.meeting_id), self.channel)
        self.task = asyncio.create_task(self._listen())
        await self.layer.group_send(bridge.runner_group(self.meeting_id), {"type": "twilio.hello"})

    async def _listen(self):
        while True:
            message = await self.layer.receive(self.channel)
            kind = message.get("type")
            if kind == "twilio.listening" and not self.listening.is_set():
                async with self.lock:
                    while self.pending:
                        await self._send(self.pending.popleft())
                    self.listening.set()
            elif kind == "twilio.hangup":
                # Its own task: ending the call cancels this listener.
                _keep(asyncio.create_task(self.on_hangup()))

    async def send(self, message):
        async with self.lock:
            if self.listening.is_set():
                await self._send(message)
                return
            if len(self.pending) >= MAX_PENDING_CHUNKS:
                # The oldest audio is the meeting's start: keep it, drop the newest.
                self.dropped += 1
                if self.dropped in (1, 100) or self.dropped % 1000 == 0:
                    log.warning("meeting %s: no runner yet, %d media chunks dropped", self.meeting_id, self.dropped)
                return
            self.pending.append(message)

    async def _send(self, message):
        await self.layer.group_send(bridge.runner_group(self.meeting_id), message)

    async def finish(self, reason):
        """Hand over what is pending and the end of the call, then leave the group."""
        try:
            await asyncio.wait_for(self.listening.wait(), HANDOVER_TIMEOUT_S)
        except TimeoutError:
            log.warning("meeting %s: no runner took the call within %d s; its audio is lost", self.meeting_id,
                        HANDOVER_TIMEOUT_S)
        else:
            await self.send({"type": "twilio.end", "reason": reason})
        finally:
            self.task.cancel()
            await self.layer.group_discard(bridge.consumer_group(self.meeting_id), self.channel)


class TwilioMediaConsumer(ReceivesDirectly, SkipsDatabaseCleanup, AsyncWebsocketConsumer):
    """One Twilio media stream; see the module's docstring."""

    # No channel of the consumer's own (ReceivesDirectly): the runner is reached through the
    # Uplink's, which outlives the socket (one channel fewer per call for the channel layer to scan
    # and to listen on).
    uplink = None
    ended = False

    # 50 media messages a second a call would otherwise queue behind the sessions' event writes.
    no_database = frozenset({"websocket.receive"})

    async def connect(self):
        values = parse_qs(self.scope.get("query_string", b"").decode()).get("call") or [""]
        meeting_id = int(values[0]) if values[0].isdigit() else None
        call, token = await database_sync_to_async(_load_call)(meeting_id) if meeting_id else (None, "")
        if call is None:
            log.warning("Refused a Twilio media stream for call=%r: no such call in progress", values[0])
            await self.close(code=CLOSE_GONE)
            return
        headers = dict(self.scope.get("headers") or [])
        signature = headers.get(b"x-twilio-signature", b"").decode(errors="replace")
        if not signature_ok(token, call.stream_url, signature):
            client = (self.scope.get("client") or ["?"])[0]
            log.warning("Refused a Twilio media stream for meeting %s from %s: X-Twilio-Signature does not match %s",
                        call.meeting_id, client, call.stream_url)
            await self.close(code=CLOSE_REFUSED)
            return
        self.call = call
        self.meeting_id = call.meeting_id
        self.buffers = {}  # track -> [bytearray of mu-law, timestamp ms of its first byte]
        self.frames = 0
        self.bad = 0
        self.digits = ""
        self.stream_sid = ""
        self.tracks = []
        self.uplink = Uplink(self.meeting_id, self._hangup)
        await self.uplink.open()
        await self.accept()

    async def receive(self, text_data=None, bytes_data=None):
        if self.ended:
            return
        try:
            message = json.loads(text_data) if text_data else None
        except ValueError:
            message = None
        if not isinstance(message, dict):
            self._bad("a message that is not a JSON object")
            return
        event = message.get("event")
        if event == "media":
            await self._media(message.get("media"))
        elif event == "start":
            await self._start(message.get("start") or {}, message.get("streamSid", ""))
        elif event == "dtmf":
            digit = str((message.get("dtmf") or {}).get("digit", ""))[:1]
            if digit:
                self.digits += digit
                await self.uplink.send({"type": "twilio.dtmf", "digit": digit})
        elif event == "stop":
            await self._end("Twilio stopped the stream")
            await self.close()
        elif event in ("connected", "mark"):
            log.debug("meeting %s: Twilio %s %s", self.meeting_id, event, message.get(event, ""))
        else:
            log.info("meeting %s: Twilio message of unknown event %r ignored", self.meeting_id, event)

    async def disconnect(self, code):
        if self.uplink is not None and not self.ended:
            await self._end(f"the media socket closed (code {code})")

    async def _start(self, start, stream_sid):
        self.stream_sid = str(start.get("streamSid") or stream_sid)[:64]
        self.tracks = [str(t) for t in start.get("tracks") or []][:2]
        if start.get("callSid") and start["callSid"] != self.call.call_sid:
            log.warning("meeting %s: stream start names call %s, the webhook %s", self.meeting_id,
                        start.get("callSid"), self.call.call_sid)
        media_format = start.get("mediaFormat") or {}
        if media_format and (media_format.get("encoding") != "audio/x-mulaw" or media_format.get("sampleRate") != 8000):
            log.warning("meeting %s: unexpected media format %r; decoding as mu-law 8 kHz", self.meeting_id, media_format)
        # Not awaited here: a database busy with the sessions' events must not hold up the media
        # that follows (the consumer handles one message at a time).
        _keep(asyncio.create_task(database_sync_to_async(TwilioCall.objects.filter(pk=self.call.pk).update)(
            stream_sid=self.stream_sid, tracks=self.tracks, connected_at=timezone.now())))

    async def _media(self, media):
        if not isinstance(media, dict):
            self._bad("a media message without media")
            return
        track = media.get("track", "inbound")
        if track not in ("inbound", "outbound"):
            self._bad(f"an unknown track {track!r}")
            return
        try:
            ulaw = payload_bytes(media.get("payload"))
        except BadPayload as exc:
            self._bad(str(exc))
            return
        try:
            timestamp = int(media.get("timestamp") or 0)
        except (TypeError, ValueError):
            timestamp = None
        self.frames += 1
        buffer = self.buffers.setdefault(track, [bytearray(), timestamp])
        if not buffer[0]:
            buffer[1] = timestamp
        buffer[0] += ulaw
        if len(buffer[0]) >= CHUNK_BYTES:
            await self._flush(track)

    async def _flush(self, track):
        data, timestamp = self.buffers[track]
        if data:
            await self.uplink.send({"type": "twilio.media", "track": track, "ulaw": bytes(data), "ts": timestamp})
            self.buffers[track] = [bytearray(), None]

    def _bad(self, what):
        self.bad += 1
        if self.bad <= 5 or self.bad % 100 == 0:
            log.warning("meeting %s: Twilio media stream sent %s (%d bad so far); skipped",
                        getattr(self, "meeting_id", "?"), what, self.bad)

    async def _end(self, reason):
        """The call is over: its last partial chunks and the end go to the runner (after the
        consumer is gone, if no runner has taken the session yet)."""
        self.ended = True
        for track in list(self.buffers):
            await self._flush(track)
        await database_sync_to_async(TwilioCall.objects.filter(pk=self.call.pk).update)(
            media_frames=self.frames, bad_frames=self.bad, dtmf=self.digits[:200], ended_at=timezone.now())
        log.info("meeting %s: Twilio stream %s ended (%s): %d frames, %d bad", self.meeting_id, self.stream_sid,
                 reason, self.frames, self.bad)
        _keep(asyncio.create_task(self.uplink.finish(reason)))

    async def _hangup(self):
        """The session was stopped in Parley: closing the socket ends a <Connect> call's stream."""
        if not self.ended:
            await self._end("the session was stopped in Parley")
        await self.close()


_tasks = set()


def _keep(task):
    """Keep ``task`` referenced until done: the event loop holds tasks only weakly."""
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)
