"""Symbl Streaming API session: one connectionId, reconnected with backoff when its socket drops.

Protocol (https://docs.symbl.ai/docs/streamingapi/reference; ``shared/api-contracts.md`` §2):
``{SYMBL_WS_URL}/v1/streaming/{connectionId}?access_token=…``; the client sends a ``start_request``
(JSON), then binary audio frames of at most 8,192 bytes, then ``{"type": "stop_request"}``; the server
answers with the messages :mod:`.mapping` turns into protocol events, ending with
``conversation_completed`` and a close 1000.

Resilience: ``noConnectionTimeout`` keeps the connectionId's conversation alive while the socket is
down, so a dropped socket (anything but a normal or policy close) is reopened with the same
connectionId, a fresh token when the old one expired, and the same ``start_request``; audio waits
(back-pressure on the source) instead of being lost. Symbl message ids are stable, so a final
redelivered after the reconnect is stored once by the persister.
"""
import asyncio
import json
import logging
from collections import deque

import websockets
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from ..livesocket import json_frames
from .client import SymblError, Unauthorized, error_for

log = logging.getLogger(__name__)

MAX_CHUNK_BYTES = 8192
MAX_REPLAY_S = 60  # audio kept for a resend after a drop: at most this much
BYTES_PER_SAMPLE = {"LINEAR16": 2, "MULAW": 1}
STOP = json.dumps({"type": "stop_request"})
POLICY_CLOSE = 1008  # what Symbl closes with for a refused request (bad start_request, oversized chunk)


def start_request(*, title, speaker_id, speaker_name, language="en-US", encoding="LINEAR16", sample_rate=16000,
                  insight_types=("question", "action_item", "follow_up"), trackers=(), timezone_offset=0,
                  confidence_threshold=0.5, no_connection_timeout=600):
    """The ``start_request`` JSON object (§2.1). ``timezone_offset``: minutes from UTC;
    ``no_connection_timeout``: seconds (0–1800) the conversation outlives a dropped socket;
    ``trackers``: ``[{"name", "vocabulary": [phrase, ...]}]`` (a tracker without a name is left out)."""
    return {
        "type": "start_request",
        "insightTypes": list(insight_types),
        "config": {
            "confidenceThreshold": confidence_threshold,
            "languageCode": language,
            "timezoneOffset": int(timezone_offset),
            "meetingTitle": title,
            "speechRecognition": {"encoding": encoding, "sampleRateHertz": sample_rate},
        },
        "trackers": [{"name": str(t["name"]),
                      "vocabulary": [str(v) for v in t.get("vocabulary") or [] if str(v).strip()]}
                     for t in trackers or () if isinstance(t, dict) and str(t.get("name") or "").strip()],
        "speaker": {"userId": speaker_id, "name": speaker_name},
        "noConnectionTimeout": no_connection_timeout,
    }


class StreamingSession:
    """One Symbl streaming conversation. ``on_frame(frame)`` (async) gets every decoded server frame.

    Raises :class:`SymblError` (``Unauthorized`` for a rejected app id/secret) from :meth:`open`,
    :meth:`send_audio` and :meth:`stop` once the session cannot go on.
    """

    path = "/v1/streaming/"
    reconnect_attempts = 6
    backoff_s = 0.25
    max_backoff_s = 8.0

    def __init__(self, client, connection_id, start, on_frame):
        self.client = client
        self.connection_id = connection_id
        self.start = start
        self.on_frame = on_frame
        self.ws = None
        self.connected = asyncio.Event()
        self.completed = asyncio.Event()
        self.failed = None
        self.stopping = False
        self.reconnects = 0
        self.last_error = ""
        self._reader = None
        recognition = start["config"]["speechRecognition"]
        self.bytes_per_second = recognition["sampleRateHertz"] * BYTES_PER_SAMPLE.get(recognition["encoding"], 2)
        self.sent_bytes = 0
        self.replay = deque()  # (stream offset in bytes, chunk) sent since the last final's end

    async def open(self):
        await self._connect()
        self._reader = asyncio.create_task(self._read())

    async def _connect(self):
        """Open a socket (renewing the token once on a 401) and send the start_request."""
        for renewed in (False, True):
            token = await self.client.token(force=renewed)
            url = f"{self.client.ws_url}{self.path}{self.connection_id}?access_token={token}"
            try:
                # No permessage-deflate: audio does not compress, and deflating every frame cost
                # more CPU than the rest of the relay (bench.twilio's profile).
                self.ws = await connect(url, proxy=None, max_size=4 * 1024 * 1024, open_timeout=15,
                                        compression=None)
                break
            except InvalidStatus as exc:
                status = exc.response.status_code
                message = _body_message(exc.response.body) or f"Symbl refused the streaming connection ({status})."
                if status == 401 and not renewed:
                    self.client.forget_token(token)
                    continue
                raise error_for(status, message) from None
        await self.ws.send(json.dumps(self.start))
        for _, chunk in self.replay:
            await self.ws.send(chunk)
        self.connected.set()

    async def _read(self):
        try:
            await self._read_frames()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # E.g. the persister's LeaseLost: the sender re-raises it for the runner to handle.
            self.failed = exc
        finally:
            self.connected.set()  # wake any sender: it sees ``failed`` or the end
            self.completed.set()

    async def _read_frames(self):
        while True:
            ws = self.ws
            async for frame in json_frames(ws):
                if frame.get("type") == "error":
                    self.last_error = str(frame.get("message") or frame.get("details") or "")
                if frame.get("type") == "message_response":
                    self._acknowledge(frame)
                await self.on_frame(frame)
                if _is_completed(frame):
                    self.completed.set()
            self.connected.clear()
            code = ws.close_code
            if self.completed.is_set() or (self.stopping and code == 1000):
                break
            if code == POLICY_CLOSE or (code and 4000 <= code < 5000):
                reason = self.last_error or ws.close_reason or f"Symbl closed the stream (code {code})."
                self.failed = SymblError(f"Symbl refused the stream: {reason}")
                break
            log.warning("Symbl stream %s dropped (code %s); reconnecting", self.connection_id, code)
            await self._reconnect()

    async def _reconnect(self):
        last = None
        for attempt in range(self.reconnect_attempts):
            await asyncio.sleep(min(self.max_backoff_s, self.backoff_s * 2 ** attempt))
            try:
                await self._connect()
                self.reconnects += 1
                if self.stopping:
                    await self.ws.send(STOP)
                return
            except Unauthorized:
                raise
            except (SymblError, OSError, ConnectionClosed, asyncio.TimeoutError, websockets.InvalidHandshake) as exc:
                last = exc
                log.info("Symbl reconnect %d of %s failed: %s", attempt + 1, self.connection_id, exc)
        raise SymblError(f"The connection to Symbl dropped and could not be re-established after "
                         f"{self.reconnect_attempts} attempts: {last}")

    def _acknowledge(self, frame):
        """A final arrived: audio before its end need not be resent after a drop."""
        ends = []
        for message in frame.get("messages") or []:
            duration = message.get("duration") if isinstance(message, dict) else None
            if isinstance(duration, dict):
                try:
                    ends.append(float(duration.get("timeOffset") or 0) + float(duration.get("duration") or 0))
                except (TypeError, ValueError):
                    pass
        if ends:
            done = int(max(ends) * self.bytes_per_second)
            while self.replay and self.replay[0][0] + len(self.replay[0][1]) <= done:
                self.replay.popleft()

    async def send_audio(self, pcm):
        """Send audio in frames of at most 8,192 bytes, waiting out a reconnect."""
        for start in range(0, len(pcm), MAX_CHUNK_BYTES):
            chunk = pcm[start:start + MAX_CHUNK_BYTES]
            await self.connected.wait()
            if self.failed:
                raise self.failed
            if self.completed.is_set():
                return
            self.replay.append((self.sent_bytes, chunk))
            self.sent_bytes += len(chunk)
            while self.replay[0][0] < self.sent_bytes - MAX_REPLAY_S * self.bytes_per_second:
                self.replay.popleft()
            try:
                await self.ws.send(chunk)
            except ConnectionClosed:
                # The reader reconnects and resends the replay buffer, this chunk included.
                await asyncio.sleep(0)

    async def stop(self, timeout=60):
        """Send ``stop_request`` and wait for ``conversation_completed`` (or the close).

        A socket that drops meanwhile is reopened by the reader, which repeats the stop_request.
        """
        self.stopping = True
        await self.connected.wait()
        if self.failed:
            raise self.failed
        if not self.completed.is_set():
            try:
                await self.ws.send(STOP)
            except ConnectionClosed:
                pass
        try:
            await asyncio.wait_for(self.completed.wait(), timeout=timeout)
        except TimeoutError:
            raise SymblError("Symbl did not complete the conversation after stop_request.") from None
        if self.failed:
            raise self.failed
        await self.close()

    async def close(self):
        if self._reader:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
        if self.ws:
            await self.ws.close()

    def abort(self):
        if self._reader:
            self._reader.cancel()
        if self.ws:
            self.ws.transport.abort()


def _is_completed(frame):
    return (isinstance(frame, dict) and frame.get("type") == "message" and isinstance(frame.get("message"), dict)
            and frame["message"].get("type") == "conversation_completed")


def _body_message(body):
    if not body:
        return ""
    try:
        data = json.loads(body)
    except ValueError:
        return body.decode(errors="replace")[:300]
    return str(data.get("message") or "") if isinstance(data, dict) else ""
