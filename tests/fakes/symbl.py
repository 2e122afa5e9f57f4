"""A faithful Symbl.ai emulator: real HTTP and WebSocket endpoints on loopback (aiohttp).

Implements what Parley's Symbl engine uses, with the shapes of ``shared/api-contracts.md`` §1–7
(Symbl's docs, ``symblai/symbl-docs``; captured frames from ``symblai/symbl-go-sdk``):

* ``POST /oauth2/token:generate`` — ``{"type": "application", "appId", "appSecret"}`` →
  ``{"accessToken", "expiresIn"}`` (seconds); the same token with the remaining ``expiresIn``
  until it expires; 401 for a wrong app id or secret.
* ``wss /v1/streaming/{connectionId}`` (and the legacy ``/v1/realtime/insights/{id}``) — auth by
  ``?access_token=`` or ``X-API-KEY``; ``start_request`` → ``conversation_created``,
  ``started_listening``, ``recognition_started``; binary LINEAR16/MULAW audio of at most 8,192
  bytes a frame; ``stop_request`` → ``recognition_stopped``, ``conversation_completed``, close 1000.
  Recognition is *scripted*: the lines of a real transcript (default: the Endgame dialogue in
  ``tests/data/references/endgame_nagg_nell.speakers.tsv``), each due when the audio received
  passes its time (about 3 words a second), so a faster-than-real-time upload gets its results
  sooner, as it would from Symbl.
* ``wss /v1/subscribe/{connectionId}`` — the same frames as the streaming connection; an unknown id
  gets the documented 404 error frame and a close.
* Telephony ``POST /v1/endpoint:connect`` (start → 201, stop → ``summaryInfo``) and managed RTMP streams
  (``POST /v1/managed-stream``, ``POST /v1/stream`` start/stop → ``subscriptionUrl``): no call or RTMP is
  received; the script plays at real-time pace to subscribers (also on ``/session/subscribe/{id}``).
* Conversation API (``/v1/conversations/{id}`` and its messages, questions, action-items,
  follow-ups, topics, members, summary, analytics, trackers-detected, speakers) answering from
  what was streamed; the Async API (``POST /v1/process/audio``) and ``GET /v1/job/{id}``.

It refuses what Symbl refuses: a missing or expired token (401 ``Token validation failed for
provided token.``), audio before ``start_request`` (an error frame; the audio is ignored), a
frame over 8,192 bytes and a malformed ``start_request`` (an error frame, then close 1008).

Fault injection for tests (attributes, or flags of ``python -m tests.fakes.symbl``):
``token_ttl`` (s), ``token_429`` (answer that many token requests 429 first), ``drop_after_finals``
(cut the TCP connection, no close frame, after that many final messages on a connection; each fault
fires once per emulator),
``error_after_finals`` (send a non-fatal error frame), ``unknown_after_finals`` (send a message
type Parley does not know), ``live_raw_text`` (the Streaming API's results carry each line as a
recognizer's raw output — lower case, no punctuation — while the Conversation API answers the
script's punctuated line under the same message id, as Symbl's post-processing revises what it
streamed: what Parley's reconciliation must correct).
"""
import argparse
import asyncio
import io
import json
import logging
import re
import secrets
import time
import uuid
import wave
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from aiohttp import WSMsgType, web

from .http import LoopbackFake, serve_forever

log = logging.getLogger("symbl-emulator")

DATA = Path(__file__).resolve().parents[1] / "data"
DEFAULT_SCRIPT = DATA / "references" / "endgame_nagg_nell.speakers.tsv"
MAX_CHUNK = 8192
SECONDS_PER_WORD = 0.30
GAP_S = 0.33
CONNECTION_ID = re.compile(r"^[a-zA-Z0-9-]{6,64}$")
INSIGHT_TYPES = {"question", "action_item", "follow_up"}
SAMPLE_RATES = {"LINEAR16": range(8000, 48001), "MULAW": {8000}, "FLAC": range(16000, 48001),
                "OPUS": range(16000, 48001)}
BYTES_PER_SAMPLE = {"LINEAR16": 2, "MULAW": 1}
BAD_TOKEN = "Token validation failed for provided token."
ACTION = re.compile(r"\b(i will|i'll|we will|we'll|we need to|we should|let's|you should|please|can you|could you)\b", re.I)
FOLLOW_UP = re.compile(r"\b(follow up|get back to|send (you|them|it)|next (week|meeting))\b", re.I)
STOP_WORDS = set("""a about after all also am an and any are as at be because been but by can could did do does
doing don't for from get go going good got had has have he her here him his how i i'm if in into is it it's its just
know like me more my no not now of off oh on one or our out over really right said say so some that that's the their
them then there they this those to too up us very was we well were what when where which who why will with would yeah
yes you your ah hmm okay um uh mm""".split())


# ---------------------------------------------------------------------------------------------
# The script: real transcript lines with times


@dataclass
class Line:
    speaker: str
    text: str
    start: float  # seconds from stream start
    end: float


def load_script(path=DEFAULT_SCRIPT):
    """Lines from a ``speaker<TAB>text`` TSV (header row) or a QMSum meeting JSON, timed by word count."""
    path = Path(path)
    if path.suffix == ".json":
        turns = [(t["speaker"], _clean_qmsum(t["content"])) for t in json.loads(path.read_text())["meeting_transcripts"]]
    else:
        rows = [r.split("\t", 1) for r in path.read_text().splitlines()[1:] if "\t" in r]
        turns = [(re.sub(r"\s*\(.*\)$", "", speaker).strip(), text.strip()) for speaker, text in rows]
    lines, clock = [], 0.3
    for speaker, text in turns:
        if len(text.split()) < 1 or not re.search(r"\w", text):
            continue
        duration = max(0.5, len(text.split()) * SECONDS_PER_WORD)
        lines.append(Line(speaker, text, round(clock, 3), round(clock + duration, 3)))
        clock += duration + GAP_S
    return lines


def _clean_qmsum(text):
    text = re.sub(r"\{\w+\}", " ", text)
    text = re.sub(r"\b([A-Z])_", r"\1", text)
    text = re.sub(r"\s+([,.?!])", r"\1", text)
    return re.sub(r"\s+", " ", text).strip()


# ---------------------------------------------------------------------------------------------
# State


def _iso(moment):
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _offset(seconds):
    whole = int(seconds)
    return {"seconds": str(whole), "nanos": str(int(round((seconds - whole) * 1e9)))}


@dataclass
class Conversation:
    id: str
    name: str
    started: datetime
    messages: list = field(default_factory=list)  # Conversation API message objects
    insights: list = field(default_factory=list)  # streamed insight objects
    members: dict = field(default_factory=dict)  # id -> {id, name, email}
    trackers: list = field(default_factory=list)
    ended: datetime | None = None

    def add_member(self, who):
        self.members.setdefault(who["id"], {"id": who["id"], "name": who["name"], "email": who.get("userId", "")})


@dataclass
class Connection:
    """One connectionId: survives its sockets until stop_request (``noConnectionTimeout``)."""

    id: str
    conversation: Conversation
    script: list
    start: dict | None = None
    bytes_per_second: int = 32000
    received_bytes: int = 0
    next_line: int = 0
    interim_sent: int = -1
    finals: int = 0
    heard_until: float = 0.0  # end (s) of the last final sent
    sequence: int = 0
    sent_messages: list = field(default_factory=list)
    stopped: bool = False
    subscribers: set = field(default_factory=set)
    user: dict = field(default_factory=dict)
    player: object = None  # the task playing a telephony call or managed stream
    socket: object = None  # the streaming socket now attached
    expiry: object = None  # the noConnectionTimeout timer while no socket is attached

    @property
    def clock(self):
        return self.received_bytes / self.bytes_per_second


class SymblEmulator(LoopbackFake):
    """Symbl's REST and WebSocket APIs on loopback, as the module docstring lists them."""

    name = "symbl"
    client_max_size = 1024**3  # the Async API takes whole recordings in one POST

    def __init__(self, *, app_id="parley-dev", app_secret="parley-dev-secret", token_ttl=86400, script=None,
                 token_429=0, drop_after_finals=None, error_after_finals=None, unknown_after_finals=None,
                 job_seconds=0.3, live_raw_text=False):
        super().__init__()
        self.app_id, self.app_secret = app_id, app_secret
        self.token_ttl = token_ttl
        self.script = script or load_script()
        self.token_429 = token_429
        self.drop_after_finals = drop_after_finals
        self.error_after_finals = error_after_finals
        self.unknown_after_finals = unknown_after_finals
        self.job_seconds = job_seconds
        self.live_raw_text = live_raw_text
        self.fired = set()  # fault options already injected
        self.tokens = {}  # token -> expiry (monotonic)
        self.current_token = None
        self.conversations = {}
        self.connections = {}
        self.jobs = {}
        self.streams = {}  # managed streamId -> Connection while started
        self.endpoint_requests = []  # bodies of POST /v1/endpoint:connect, in order (telephony)
        self.speaker_events = {}  # connectionId -> speaker events POSTed to its eventUrl
        self.stream_frames = []  # every frame received on streaming sockets: ("text", dict) | ("binary", len)

    # -- lifecycle ---------------------------------------------------------------------------

    def routes(self):
        return [
            web.post("/oauth2/token:generate", self.token_generate),
            web.get("/v1/streaming/{connection_id}", self.streaming),
            web.get("/v1/realtime/insights/{connection_id}", self.streaming),
            web.get("/v1/subscribe/{connection_id}", self.subscribe),
            web.get("/v1/conversations", self.list_conversations),
            web.get("/v1/conversations/{cid}", self.get_conversation),
            web.delete("/v1/conversations/{cid}", self.delete_conversation),
            web.get("/v1/conversations/{cid}/messages", self.messages),
            web.get("/v1/conversations/{cid}/questions", self.insights_of("question", "questions")),
            web.get("/v1/conversations/{cid}/action-items", self.insights_of("action_item", "actionItems")),
            web.get("/v1/conversations/{cid}/follow-ups", self.insights_of("follow_up", "followUps")),
            web.get("/v1/conversations/{cid}/topics", self.topics),
            web.get("/v1/conversations/{cid}/members", self.members),
            web.get("/v1/conversations/{cid}/summary", self.summary),
            web.get("/v1/conversations/{cid}/analytics", self.analytics),
            web.get("/v1/conversations/{cid}/trackers-detected", self.trackers_detected),
            web.put("/v1/conversations/{cid}/speakers", self.speakers),
            web.post("/v1/process/audio", self.process_audio),
            web.get("/v1/job/{job_id}", self.job),
            web.post("/v1/endpoint:connect", self.endpoint_connect),
            web.post("/v1/event/{connection_id}", self.endpoint_event),
            web.post("/v1/managed-stream", self.managed_stream),
            web.post("/v1/stream", self.stream_operation),
            web.get("/session/subscribe/{connection_id}", self.subscribe),
        ]

    async def stop(self):
        for connection in self.connections.values():
            if connection.player:
                connection.player.cancel()
        await super().stop()

    @property
    def api_url(self):
        """What ``SYMBL_API_URL`` is set to."""
        return self.url

    @property
    def ws_url(self):
        """What ``SYMBL_WS_URL`` is set to."""
        return self.url.replace("http://", "ws://", 1)

    # -- auth --------------------------------------------------------------------------------

    def expire_tokens(self):
        """Make every issued token expired (as if ``expiresIn`` ran out)."""
        for token in self.tokens:
            self.tokens[token] = 0
        self.current_token = None

    def _token_ok(self, token):
        return bool(token) and self.tokens.get(token, 0) > time.monotonic()

    def _request_token(self, request):
        header = request.headers.get("Authorization", "")
        if header.lower().startswith("bearer "):
            return header[7:].strip()
        return request.headers.get("x-api-key") or request.query.get("access_token")

    def _authorise(self, request):
        if not self._token_ok(self._request_token(request)):
            raise _error(401, BAD_TOKEN)

    async def token_generate(self, request):
        if self.token_429 > 0:
            self.token_429 -= 1
            raise _error(429, "Too many requests. Please try again later.")
        try:
            body = await request.json()
        except ValueError:
            raise _error(400, "Bad Request! Please refer docs for correct input fields.") from None
        if not isinstance(body, dict) or body.get("type") != "application" or not body.get("appId"):
            raise _error(400, "Bad Request! Please refer docs for correct input fields.")
        if body.get("appId") != self.app_id or body.get("appSecret") != self.app_secret:
            raise _error(401, "Unauthorized. Please check the appId and appSecret.")
        now = time.monotonic()
        if not self._token_ok(self.current_token):
            self.current_token = "emu." + secrets.token_urlsafe(24)
            self.tokens[self.current_token] = now + self.token_ttl
        remaining = round(self.tokens[self.current_token] - now)
        return web.json_response({"accessToken": self.current_token, "expiresIn": max(remaining, 0)})

    # -- streaming ---------------------------------------------------------------------------

    async def streaming(self, request):
        connection_id = request.match_info["connection_id"]
        if not CONNECTION_ID.match(connection_id):
            raise _error(400, "connectionId must be 6 to 64 letters, digits or dashes.")
        self._authorise(request)
        ws = web.WebSocketResponse(max_msg_size=4 * 1024 * 1024)
        await ws.prepare(request)
        connection = self.connections.get(connection_id)
        resumed = connection is not None and not connection.stopped
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    try:
                        frame = json.loads(msg.data)
                    except ValueError:
                        await self._fatal(ws, "Invalid JSON message.")
                        break
                    self.stream_frames.append(("text", frame))
                    kind = frame.get("type") if isinstance(frame, dict) else None
                    if kind == "start_request":
                        problem = _check_start(frame)
                        if problem:
                            await self._fatal(ws, f"Invalid start_request: {problem}")
                            break
                        connection = self._start(connection_id, frame, connection)
                        if connection.expiry:
                            connection.expiry.cancel()
                            connection.expiry = None
                        connection.socket = ws
                        await self._send_start(ws, connection, resumed)
                    elif kind == "stop_request":
                        if connection is None or connection.start is None:
                            await _send(ws, _error_frame("stop_request received before start_request."))
                            continue
                        await self._stop(connection)
                        break
                    elif kind == "modify_request":
                        if connection and connection.start:
                            recognition = frame.get("speechRecognition") or {}
                            connection.bytes_per_second = _bytes_per_second(recognition)
                            await self._send_all(connection, {"type": "message", "message": {"type": "session_modified"}})
                    else:
                        await _send(ws, _error_frame(f"Unknown message type: {kind!r}"))
                elif msg.type == WSMsgType.BINARY:
                    self.stream_frames.append(("binary", len(msg.data)))
                    if len(msg.data) > MAX_CHUNK:
                        await self._fatal(ws, f"Audio chunk of {len(msg.data)} bytes exceeds the maximum of {MAX_CHUNK} bytes.")
                        break
                    if connection is None or connection.start is None:
                        await _send(ws, _error_frame("Audio received before start_request; it was ignored."))
                        continue
                    connection.received_bytes += len(msg.data)
                    if await self._advance(connection, request):
                        break
        finally:
            if connection is not None:
                connection.subscribers.discard(ws)
                if connection.socket is ws and not connection.stopped:
                    # noConnectionTimeout (s): how long the conversation outlives its last socket.
                    connection.socket = None
                    timeout = (connection.start or {}).get("noConnectionTimeout", 0)
                    connection.expiry = asyncio.get_running_loop().call_later(timeout, self._expire, connection)
        return ws

    def _expire(self, connection):
        if connection.socket is None and not connection.stopped:
            connection.stopped = True
            connection.conversation.ended = datetime.now(timezone.utc)

    def _start(self, connection_id, frame, connection):
        if connection is None or connection.stopped:
            config = frame.get("config") or {}
            conversation = Conversation(id=str(uuid.uuid4().int)[:16], name=config.get("meetingTitle") or "Meeting",
                                        started=datetime.now(timezone.utc))
            self.conversations[conversation.id] = conversation
            connection = Connection(connection_id, conversation, self.script)
            self.connections[connection_id] = connection
        if connection.start is not None:
            # A new socket on a live connectionId: recognition resumes after the last final
            # (the utterance in progress on the dropped socket is discarded; the client resends it).
            connection.received_bytes = int(connection.heard_until * connection.bytes_per_second)
        connection.start = frame
        connection.conversation.trackers = frame.get("trackers") or []
        connection.bytes_per_second = _bytes_per_second((frame.get("config") or {}).get("speechRecognition") or {})
        speaker = frame.get("speaker") or {}
        connection.user = {"id": str(uuid.uuid5(uuid.NAMESPACE_URL, speaker.get("userId") or speaker.get("name") or "anon")),
                           "userId": speaker.get("userId", ""), "name": speaker.get("name") or speaker.get("userId") or "Speaker"}
        connection.conversation.add_member(connection.user)
        return connection

    async def _send_start(self, ws, connection, resumed):
        cid = connection.conversation.id
        connection.subscribers.add(ws)
        await _send(ws, {"type": "message", "message": {"type": "conversation_created", "data": {"conversationId": cid}}})
        await _send(ws, {"type": "message", "message": {"type": "started_listening"}})
        await _send(ws, {"type": "message", "message": {"type": "recognition_started", "data": {"conversationId": cid}}})
        if resumed and connection.sent_messages:
            # At-least-once: the last final may not have reached the dropped socket.
            await _send(ws, connection.sent_messages[-1])

    async def _send_all(self, connection, frame):
        for ws in list(connection.subscribers):
            if not ws.closed:
                try:
                    await ws.send_json(frame)
                except ConnectionError:
                    connection.subscribers.discard(ws)

    async def _advance(self, connection, request, flush=False):
        """Emit the script lines the audio clock has reached; True when the socket was cut."""
        clock = connection.clock
        script = connection.script
        while connection.next_line < len(script):
            line = script[connection.next_line]
            if clock >= line.end or (flush and clock > line.start):
                await self._final(connection, line)
                connection.next_line += 1
                if self._fault(connection, "drop_after_finals") and request is not None:
                    request.transport.close()  # no close frame: the client sees 1006
                    return True
                if self._fault(connection, "error_after_finals"):
                    await self._send_all(connection, {"type": "error", "message": "Temporary processing delay.",
                                                      "details": "Recognition fell behind; results will catch up."})
                if self._fault(connection, "unknown_after_finals"):
                    await self._send_all(connection, {"type": "message", "message": {
                        "type": "speaker_change_detected", "data": {"offset": line.end}}})
                continue
            midpoint = line.start + (line.end - line.start) / 2
            if clock >= midpoint and connection.interim_sent < connection.next_line:
                connection.interim_sent = connection.next_line
                words = self._live_text(line).split()
                await self._send_all(connection, {"type": "message", "message": {
                    "type": "recognition_result", "isFinal": False,
                    "payload": {"raw": {"alternatives": [{"words": [], "transcript": " ".join(words[: max(1, len(words) // 2)]),
                                                          "confidence": 0}]}},
                    "punctuated": {"transcript": " ".join(words[: max(1, len(words) // 2)])},
                    "user": connection.user}, "timeOffset": int(line.start * 1000)})
            break
        return False

    def _fault(self, connection, option):
        """Fire an injected fault once per emulator, when the connection has sent that many finals."""
        after = getattr(self, option)
        if after is not None and connection.finals == after and option not in self.fired:
            self.fired.add(option)
            return True
        return False

    def _live_text(self, line):
        return _raw_text(line.text) if self.live_raw_text else line.text

    async def _final(self, connection, line):
        conversation = connection.conversation
        user = connection.user
        message = _message(conversation, line, user)
        live_text = self._live_text(line)
        conversation.messages.append(message)
        connection.finals += 1
        connection.heard_until = line.end
        words = [{"word": w["word"], "startTime": _offset(w["timeOffset"]),
                  "endTime": _offset(w["timeOffset"] + w["duration"])} for w in message["words"]]
        await self._send_all(connection, {"type": "message", "message": {
            "type": "recognition_result", "isFinal": True,
            "payload": {"raw": {"alternatives": [{"words": words, "transcript": live_text, "confidence": 0.91}]}},
            "punctuated": {"transcript": live_text}, "user": user}, "timeOffset": int(line.start * 1000)})
        connection.sequence += 1
        response = {"type": "message_response", "sequenceNumber": connection.sequence, "messages": [{
            "from": user, "payload": {"content": live_text, "contentType": "text/plain"}, "id": message["id"],
            "channel": {"id": "realtime-api"},
            "metadata": {"disablePunctuation": True, "timezoneOffset": 0, "originalContent": live_text,
                         "words": json.dumps([{"word": w["word"], "startTime": w["startTime"], "endTime": w["endTime"],
                                               "timeOffset": w["timeOffset"], "duration": w["duration"]} for w in message["words"]]),
                         "originalMessageId": message["id"]},
            "dismissed": False,
            "duration": {"startTime": message["startTime"], "endTime": message["endTime"],
                         "timeOffset": message["timeOffset"], "duration": message["duration"]}}]}
        connection.sent_messages.append(response)
        await self._send_all(connection, response)
        wanted = set((connection.start or {}).get("insightTypes") or [])
        kind = _insight_kind(line.text)
        if kind and kind in wanted:
            insight = {"id": str(uuid.uuid4()), "confidence": 0.93, "hints": [], "type": kind, "assignee": user,
                       "tags": [], "dismissed": False, "payload": {"content": line.text, "contentType": "text/plain"},
                       "from": user, "entities": None, "messageReference": {"id": message["id"]}}
            conversation.insights.append(insight)
            await self._send_all(connection, {"type": "insight_response", "sequenceNumber": connection.sequence,
                                              "insights": [insight]})
        if connection.finals % 3 == 0:
            topics = _topics(conversation.messages)
            if topics:
                await self._send_all(connection, {"type": "topic_response", "topics": [
                    {"id": t["id"], "messageReferences": [{"id": m, "relation": "text instance"} for m in t["messageIds"]],
                     "phrases": t["text"], "rootWords": [{"text": t["text"]}], "score": t["score"], "type": "topic"}
                    for t in topics]})
        for tracker in conversation.trackers:
            hits = [v for v in tracker.get("vocabulary") or [] if v.lower() in line.text.lower()]
            if hits:
                await self._send_all(connection, {"type": "tracker_response", "isFinal": True,
                                                  "sequenceNumber": connection.sequence, "trackers": [{
                    "name": tracker.get("name"), "matches": [{"type": "vocabulary", "value": v, "messageRefs": [
                        {"id": message["id"], "text": line.text, "offset": line.text.lower().index(v.lower())}],
                        "insightRefs": []} for v in hits]}]})

    async def _stop(self, connection):
        await self._advance(connection, None, flush=True)
        connection.stopped = True
        conversation = connection.conversation
        conversation.ended = datetime.now(timezone.utc)
        cid = conversation.id
        await self._send_all(connection, {"type": "message", "message": {"type": "recognition_stopped"}})
        await self._send_all(connection, {"type": "message", "message": {
            "type": "conversation_completed", "conversationId": cid,
            "summaryUrl": f"{self.api_url}/meeting/#/{cid}", "data": {"conversationId": cid}}})
        for ws in list(connection.subscribers):
            await ws.close(code=1000)

    async def _fatal(self, ws, message):
        await _send(ws, _error_frame(message))
        await ws.close(code=1008, message=message[:120].encode())

    # -- subscribe ---------------------------------------------------------------------------

    async def subscribe(self, request):
        self._authorise(request)
        connection_id = request.match_info["connection_id"]
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        connection = self.connections.get(connection_id)
        if connection is None or connection.stopped:
            await _send(ws, {"type": "error", "code": 404, "message":
                             f"Subscription for connectionId {connection_id} does not exist for any on-going calls"})
            await ws.close(code=1000)
            return ws
        connection.subscribers.add(ws)
        async for _ in ws:  # listen-only: the client sends nothing
            pass
        connection.subscribers.discard(ws)
        return ws

    # -- Conversation API --------------------------------------------------------------------

    def _conversation(self, request):
        self._authorise(request)
        conversation = self.conversations.get(request.match_info["cid"])
        if conversation is None:
            raise _error(404, "The conversationId is either invalid or does not exist.")
        return conversation

    async def list_conversations(self, request):
        self._authorise(request)
        return web.json_response({"conversations": [self._conversation_body(c) for c in self.conversations.values()]})

    def _conversation_body(self, conversation):
        return {"id": conversation.id, "type": "meeting", "name": conversation.name,
                "startTime": _iso(conversation.started),
                "endTime": _iso(conversation.ended) if conversation.ended else None,
                "members": list(conversation.members.values()), "metadata": {}}

    async def get_conversation(self, request):
        return web.json_response(self._conversation_body(self._conversation(request)))

    async def delete_conversation(self, request):
        self._authorise(request)
        if self.conversations.pop(request.match_info["cid"], None) is None:
            raise _error(400, "The conversationId is either invalid or does not exist.")
        return web.json_response({"message": "successfully deleted the conversation"})

    async def messages(self, request):
        conversation = self._conversation(request)
        verbose = request.query.get("verbose") == "true"
        out = []
        for message in conversation.messages:
            body = {k: v for k, v in message.items() if k != "words" or verbose}
            if request.query.get("sentiment") == "true":
                body["sentiment"] = {"polarity": {"score": 0.0}, "suggested": "neutral"}
            out.append(body)
        return web.json_response({"messages": out})

    def insights_of(self, kind, key):
        async def handler(request):
            conversation = self._conversation(request)
            items = [{"id": i["id"], "text": i["payload"]["content"], "type": kind, "score": i["confidence"],
                      "messageIds": [i["messageReference"]["id"]], "from": _from(i["from"]),
                      **({"assignee": _from(i["assignee"]), "entities": [], "phrases": [], "definitive": True}
                         if kind != "question" else {})}
                     for i in conversation.insights if i["type"] == kind]
            return web.json_response({key: items})
        return handler

    async def topics(self, request):
        conversation = self._conversation(request)
        return web.json_response({"topics": [{**t, "parentRefs": []} for t in _topics(conversation.messages)]})

    async def members(self, request):
        return web.json_response({"members": list(self._conversation(request).members.values())})

    async def summary(self, request):
        conversation = self._conversation(request)
        if conversation.ended is None or not conversation.messages:
            raise _error(404, "The summary is not available yet: the conversation is still being processed.")
        longest = sorted(conversation.messages, key=lambda m: len(m["text"]), reverse=True)[:3]
        chosen = [m for m in conversation.messages if m in longest]
        return web.json_response({"summary": [{"id": str(uuid.uuid5(uuid.NAMESPACE_OID, m["id"])), "text": m["text"],
                                               "messageRefs": [{"id": m["id"]}]} for m in chosen]})

    async def analytics(self, request):
        conversation = self._conversation(request)
        talk = Counter()
        for message in conversation.messages:
            talk[message["from"]["id"]] += message["duration"]
        total = max(1e-9, (conversation.messages[-1]["timeOffset"] + conversation.messages[-1]["duration"])
                    if conversation.messages else 1e-9)
        spoken = sum(talk.values())
        members = []
        for member_id, seconds in talk.items():
            member = conversation.members.get(member_id, {"id": member_id, "name": member_id})
            words = sum(len(m["text"].split()) for m in conversation.messages if m["from"]["id"] == member_id)
            members.append({"id": member_id, "name": member["name"], "userId": member.get("email", ""),
                            "pace": {"wpm": round(words / (seconds / 60)) if seconds else 0},
                            "talkTime": {"percentage": round(100 * seconds / total, 3), "seconds": round(seconds, 3)},
                            "listenTime": {"percentage": round(100 * (total - seconds) / total, 3),
                                           "seconds": round(total - seconds, 3)},
                            "overlap": {}})
        return web.json_response({"metrics": [
            {"type": "total_silence", "percent": round(100 * max(0, total - spoken) / total, 3),
             "seconds": round(max(0, total - spoken), 3)},
            {"type": "total_talk_time", "percent": round(100 * min(spoken, total) / total, 3), "seconds": round(spoken, 3)},
            {"type": "total_overlap", "percent": 0, "seconds": 0}], "members": members})

    async def trackers_detected(self, request):
        conversation = self._conversation(request)
        out = []
        for tracker in conversation.trackers:
            matches = [{"type": "vocabulary", "value": v, "messageRefs": [
                {"id": m["id"], "text": m["text"], "offset": m["text"].lower().index(v.lower())}
                for m in conversation.messages if v.lower() in m["text"].lower()], "insightRefs": []}
                for v in tracker.get("vocabulary") or []]
            out.append({"id": str(uuid.uuid5(uuid.NAMESPACE_OID, tracker.get("name", ""))), "name": tracker.get("name"),
                        "matches": [m for m in matches if m["messageRefs"]]})
        return web.json_response(out)

    async def speakers(self, request):
        """Re-attribute each message to the speaker whose [start, stop) holds its start (§6)."""
        conversation = self._conversation(request)
        try:
            body = await request.json()
            spans, open_ = [], {}
            for event in body["speakerEvents"]:
                user = event["user"]
                offset = event["offset"]
                seconds = float(offset.get("seconds", 0)) + float(offset.get("nanos", 0)) / 1e9
                key = user.get("id") or user.get("email") or user["name"]
                if event["type"] == "started_speaking":
                    open_[key] = (user, seconds)
                elif event["type"] == "stopped_speaking" and key in open_:
                    spans.append((open_.pop(key)[1], seconds, user))
                else:
                    raise ValueError(event["type"])
        except (ValueError, KeyError, TypeError, AttributeError):
            raise _error(400, "Bad Request! Please refer docs for correct input fields.") from None
        for message in conversation.messages:
            for start, stop, user in spans:
                if start <= message["timeOffset"] < stop:
                    who = {"id": user.get("id") or str(uuid.uuid5(uuid.NAMESPACE_URL, user["name"])),
                           "name": user["name"], "email": user.get("email", "")}
                    message["from"] = {"id": who["id"], "name": who["name"], "userId": who["email"]}
                    conversation.members.setdefault(who["id"], who)
                    for insight in conversation.insights:
                        if insight["messageReference"]["id"] == message["id"]:
                            insight["from"] = insight["assignee"] = message["from"]
        used = {m["from"]["id"] for m in conversation.messages}
        conversation.members = {k: v for k, v in conversation.members.items() if k in used}
        return web.json_response({"message": f"Speaker events associated for conversationId: {conversation.id} "
                                  "successfully! The update should be reflected in all messages and insights along "
                                  "with this conversation"})

    # -- Telephony (§4) and managed RTMP streams (§5): audio Symbl receives itself ----------------
    # No call or RTMP ingest happens here: the script plays at real-time pace from "start" (as if
    # the call's audio arrived), heard through the Subscribe API, until "stop".

    async def _play(self, connection, title, user):
        connection.start = {"type": "start_request", "insightTypes": sorted(INSIGHT_TYPES),
                            "config": {"meetingTitle": title}, "noConnectionTimeout": 0}
        connection.user = user
        connection.conversation.add_member(user)
        started = time.monotonic()
        while not connection.stopped:
            await asyncio.sleep(0.1)
            connection.received_bytes = int((time.monotonic() - started) * connection.bytes_per_second)
            await self._advance(connection, None)

    def _call(self, title, user):
        conversation = Conversation(id=str(uuid.uuid4().int)[:16], name=title, started=datetime.now(timezone.utc))
        self.conversations[conversation.id] = conversation
        connection = Connection(str(uuid.uuid4()), conversation, self.script)
        self.connections[connection.id] = connection
        connection.player = asyncio.get_running_loop().create_task(self._play(connection, title, user))
        return connection

    async def _end_call(self, connection):
        connection.player.cancel()
        await self._stop(connection)

    async def endpoint_connect(self, request):
        self._authorise(request)
        body = await _json_body(request)
        self.endpoint_requests.append(body)
        operation = body.get("operation")
        if operation == "start":
            endpoint = body.get("endpoint")
            if not isinstance(endpoint, dict) or endpoint.get("type") not in ("pstn", "sip"):
                raise _error(400, "Bad Request! Please refer docs for correct input fields.")
            if endpoint["type"] == "pstn" and not re.fullmatch(r"[1-9]\d{6,14}", str(endpoint.get("phoneNumber", ""))):
                raise _error(400, "Bad Request! Please refer docs for correct input fields.")
            if endpoint["type"] == "sip" and not str(endpoint.get("uri", "")).startswith("sip:"):
                raise _error(400, "Bad Request! Please refer docs for correct input fields.")
            title = ((body.get("data") or {}).get("session") or {}).get("name") or "Call"
            caller = {"id": str(uuid.uuid4()), "userId": "", "name": "Caller"}
            connection = self._call(title, caller)
            return web.json_response(self._call_body(connection), status=201)
        if operation == "stop":
            connection = self.connections.get(str(body.get("connectionId")))
            if connection is None or not getattr(connection, "player", None):
                raise _error(404, "The conversation and/or it's metadata you asked could not be found, please check "
                                  "the input provided")
            await self._end_call(connection)
            return web.json_response({**self._call_body(connection), "summaryInfo": [
                {"user": {**connection.user, "role": "organizer"},
                 "url": f"{self.api_url}/meeting/#/{connection.conversation.id}"}]})
        raise _error(400, "Bad Request! Please refer docs for correct input fields.")

    async def endpoint_event(self, request):
        """``POST {eventUrl}``: a speaker event of a telephony call (``shared/api-contracts.md`` §4;
        symbl-js ``SpeakerEvent``): ``{"type": "started_speaking"|"stopped_speaking"|"joined"|"left",
        "user": {"userId", "name"?, "id"?}, "timestamp"}`` (``topic: "speaker"`` optional), or
        ``{"type": "stopped"}``. Kept per connection and added to the conversation's members;
        400 for another shape, 404 for a call that is not in progress."""
        self._authorise(request)
        connection = self.connections.get(request.match_info["connection_id"])
        if connection is None or connection.stopped or not getattr(connection, "player", None):
            raise _error(404, "The conversation and/or it's metadata you asked could not be found, please check "
                              "the input provided")
        body = await _json_body(request)
        kind = body.get("type") if isinstance(body, dict) else None
        user = body.get("user") if isinstance(body, dict) else None
        if kind != "stopped" and (kind not in ("started_speaking", "stopped_speaking", "joined", "left")
                                  or not isinstance(user, dict) or not user.get("userId")):
            raise _error(400, "Bad Request! Please refer docs for correct input fields.")
        self.speaker_events.setdefault(connection.id, []).append(body)
        if isinstance(user, dict):
            connection.conversation.add_member({"id": str(user.get("id") or uuid.uuid5(uuid.NAMESPACE_URL, user["userId"])),
                                                "userId": user["userId"], "name": user.get("name") or user["userId"]})
        return web.json_response({"message": "Speaker event received."})

    def _call_body(self, connection):
        return {"eventUrl": f"{self.api_url}/v1/event/{connection.id}",
                "resultWebSocketUrl": f"{self.ws_url}/events/{connection.id}",
                "connectionId": connection.id, "conversationId": connection.conversation.id}

    async def managed_stream(self, request):
        self._authorise(request)
        body = await _json_body(request)
        if body.get("protocol") != "rtmp":
            raise _error(400, "Bad Request! protocol must be rtmp.")
        stream_id = secrets.token_hex(12)
        self.streams[stream_id] = None
        scheme = "rtmps" if body.get("secure", True) else "rtmp"
        return web.json_response({"streamId": stream_id, "streamUrl": f"{scheme}://127.0.0.1:{self.port}/live/{stream_id}"})

    async def stream_operation(self, request):
        self._authorise(request)
        body = await _json_body(request)
        stream_id = body.get("streamId")
        if stream_id not in self.streams:
            raise _error(404, f"Stream {stream_id} does not exist.")
        if body.get("operation") == "start":
            if self.streams[stream_id] is None or self.streams[stream_id].stopped:
                self.streams[stream_id] = self._call("RTMP stream", {"id": str(uuid.uuid4()), "userId": "",
                                                                     "name": "Zoom meeting"})
            connection = self.streams[stream_id]
            answer = {"conversationId": connection.conversation.id, "connectionId": connection.id}
            if body.get("enableSubscription", True):
                answer["subscriptionUrl"] = f"{self.ws_url}/v1/subscribe/{connection.id}"
            return web.json_response(answer)
        if body.get("operation") == "stop":
            if self.streams[stream_id] is not None and not self.streams[stream_id].stopped:
                await self._end_call(self.streams[stream_id])
            return web.json_response({"message": "Stream stopped successfully."})
        raise _error(400, "Bad Request! operation must be start or stop.")

    # -- Async API ---------------------------------------------------------------------------

    async def process_audio(self, request):
        self._authorise(request)
        if request.content_type not in ("audio/wav", "audio/wave", "audio/mpeg", "audio/mp3"):
            raise _error(400, "Bad Request! Please refer docs for correct input fields.")
        body = await request.read()
        try:
            with wave.open(io.BytesIO(body)) as handle:
                seconds = handle.getnframes() / handle.getframerate()
        except (wave.Error, EOFError, ZeroDivisionError):
            raise _error(400, "Bad Request! The audio could not be read.") from None
        conversation = Conversation(id=str(uuid.uuid4().int)[:16], name=request.query.get("name") or "Meeting",
                                    started=datetime.now(timezone.utc))
        self.conversations[conversation.id] = conversation
        job_id = str(uuid.uuid4())
        self.jobs[job_id] = {"id": job_id, "status": "scheduled"}
        diarize = request.query.get("enableSpeakerDiarization") == "true"
        asyncio.get_running_loop().create_task(self._process(job_id, conversation, seconds, diarize))
        return web.json_response({"conversationId": conversation.id, "jobId": job_id}, status=201)

    async def _process(self, job_id, conversation, seconds, diarize):
        self.jobs[job_id]["status"] = "in_progress"
        await asyncio.sleep(self.job_seconds)
        if seconds <= 0:
            self.jobs[job_id]["status"] = "failed"
            return
        speakers = {}
        for line in self.script:
            if line.start >= seconds:
                break
            if diarize:
                name = speakers.setdefault(line.speaker, f"Speaker {len(speakers) + 1}")
            else:
                name = "Speaker"
            user = {"id": str(uuid.uuid5(uuid.NAMESPACE_URL, conversation.id + name)), "userId": "", "name": name}
            conversation.add_member(user)
            message = _message(conversation, line, user)
            conversation.messages.append(message)
            kind = _insight_kind(line.text)
            if kind:
                conversation.insights.append({
                    "id": str(uuid.uuid4()), "confidence": 0.93, "type": kind, "assignee": user, "from": user,
                    "payload": {"content": line.text, "contentType": "text/plain"},
                    "messageReference": {"id": message["id"]}})
        conversation.ended = datetime.now(timezone.utc)
        self.jobs[job_id]["status"] = "completed"

    async def job(self, request):
        self._authorise(request)
        job = self.jobs.get(request.match_info["job_id"])
        if job is None:
            raise _error(404, "The job you asked for could not be found.")
        return web.json_response(job)


# ---------------------------------------------------------------------------------------------
# Helpers


def _error(status, message):
    return _STATUS[status](text=json.dumps({"message": message}), content_type="application/json")


_STATUS = {400: web.HTTPBadRequest, 401: web.HTTPUnauthorized, 404: web.HTTPNotFound,
           429: web.HTTPTooManyRequests, 500: web.HTTPInternalServerError}


async def _json_body(request):
    try:
        body = await request.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise _error(400, "Bad Request! Please refer docs for correct input fields.")
    return body


def _error_frame(message):
    return {"type": "error", "details": message, "message": message}


async def _send(ws, frame):
    if not ws.closed:
        await ws.send_json(frame)


def _from(user):
    return {"id": user.get("id", ""), "name": user.get("name", ""), "userId": user.get("userId", "")}


def _bytes_per_second(recognition):
    encoding = recognition.get("encoding", "LINEAR16")
    return int(recognition.get("sampleRateHertz", 16000)) * BYTES_PER_SAMPLE.get(encoding, 2)


def _message(conversation, line, user):
    words, clock = [], line.start
    per_word = (line.end - line.start) / max(1, len(line.text.split()))
    for word in line.text.split():
        words.append({"word": word, "startTime": _iso(conversation.started + timedelta(seconds=clock)),
                      "endTime": _iso(conversation.started + timedelta(seconds=clock + per_word)),
                      "score": 0.91, "timeOffset": round(clock, 3), "duration": round(per_word, 3)})
        clock += per_word
    return {"id": str(uuid.uuid4()), "text": line.text, "from": dict(user),
            "startTime": _iso(conversation.started + timedelta(seconds=line.start)),
            "endTime": _iso(conversation.started + timedelta(seconds=line.end)),
            "timeOffset": line.start, "duration": round(line.end - line.start, 3),
            "conversationId": conversation.id, "phrases": [], "words": words}


def _raw_text(text):
    """A line as a recognizer hears it before punctuation and casing: "Do you hear me?" -> "do you hear me"."""
    return re.sub(r"\s+", " ", re.sub(r"[^\w\s']", " ", text)).strip().lower()


def _insight_kind(text):
    if FOLLOW_UP.search(text):
        return "follow_up"
    if ACTION.search(text):
        return "action_item"
    if text.rstrip().endswith("?"):
        return "question"
    return None


def _topics(messages, limit=5):
    counts, refs = Counter(), {}
    for message in messages:
        for word in set(re.findall(r"[a-z][a-z']{3,}", message["text"].lower())):
            if word not in STOP_WORDS:
                counts[word] += 1
                refs.setdefault(word, []).append(message["id"])
    top = [(w, c) for w, c in counts.most_common(limit) if c >= 2]
    if not top:
        return []
    best = top[0][1]
    return [{"id": str(uuid.uuid5(uuid.NAMESPACE_OID, w)), "text": w, "type": "topic", "score": round(c / best, 3),
             "messageIds": refs[w]} for w, c in top]


def _check_start(frame):
    """What is wrong with a start_request, or None (§2.1)."""
    insight_types = frame.get("insightTypes", [])
    if not isinstance(insight_types, list) or not set(insight_types) <= INSIGHT_TYPES:
        return f"insightTypes must be a list of {sorted(INSIGHT_TYPES)}"
    config = frame.get("config", {})
    if not isinstance(config, dict):
        return "config must be an object"
    threshold = config.get("confidenceThreshold", 0.5)
    if not isinstance(threshold, (int, float)) or not 0.5 <= threshold <= 1.0:
        return "config.confidenceThreshold must be between 0.5 and 1.0"
    if not isinstance(config.get("languageCode", "en-US"), str):
        return "config.languageCode must be a BCP-47 code"
    if not isinstance(config.get("timezoneOffset", 0), int):
        return "config.timezoneOffset must be minutes from UTC"
    recognition = config.get("speechRecognition", {})
    if not isinstance(recognition, dict):
        return "config.speechRecognition must be an object"
    encoding = recognition.get("encoding", "LINEAR16")
    rate = recognition.get("sampleRateHertz", 16000)
    if encoding not in SAMPLE_RATES or not isinstance(rate, int) or rate not in SAMPLE_RATES[encoding]:
        return f"unsupported speechRecognition {encoding} at {rate} Hz"
    speaker = frame.get("speaker", {})
    if not isinstance(speaker, dict):
        return "speaker must be an object with userId and name"
    trackers = frame.get("trackers", [])
    if not isinstance(trackers, list) or not all(isinstance(t, dict) and t.get("name") for t in trackers):
        return "trackers must be a list of {name, vocabulary}"
    timeout = frame.get("noConnectionTimeout", 0)
    if not isinstance(timeout, int) or not 0 <= timeout <= 1800:
        return "noConnectionTimeout must be 0 to 1800 seconds"
    return None


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tests.fakes.symbl", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9100)
    parser.add_argument("--app-id", default="parley-dev")
    parser.add_argument("--app-secret", default="parley-dev-secret")
    parser.add_argument("--token-ttl", type=int, default=86400, help="seconds a token lives")
    parser.add_argument("--script", default=str(DEFAULT_SCRIPT), help="speaker TSV or QMSum JSON transcript")
    parser.add_argument("--drop-after-finals", type=int)
    parser.add_argument("--error-after-finals", type=int)
    parser.add_argument("--unknown-after-finals", type=int)
    parser.add_argument("--live-raw-text", action="store_true",
                        help="stream unpunctuated text; the Conversation API answers the punctuated lines")
    args = parser.parse_args(argv)
    emulator = SymblEmulator(app_id=args.app_id, app_secret=args.app_secret, token_ttl=args.token_ttl,
                             script=load_script(args.script), drop_after_finals=args.drop_after_finals,
                             error_after_finals=args.error_after_finals, unknown_after_finals=args.unknown_after_finals,
                             live_raw_text=args.live_raw_text)
    serve_forever(emulator, args.host, args.port, describe)


def describe(emulator):
    return (f"Symbl emulator on {emulator.api_url} (SYMBL_API_URL) and {emulator.ws_url} (SYMBL_WS_URL); "
            f"app id {emulator.app_id!r}")


if __name__ == "__main__":
    main()
