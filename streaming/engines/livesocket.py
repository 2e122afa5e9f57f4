"""One cloud speech provider's live WebSocket, kept up through drops: audio and JSON control messages
out, JSON frames in, keep-alive, the closing handshake, and reconnection with replay.

Both cloud engines (``deepgram``, ``assemblyai``) stream through :class:`LiveSocket`.

**A dropped socket does not end the session.** A socket that closes without a close frame (1006),
with a server error (1011) or a restart (1001, 1012, 1013, 1014) is reconnected after a bounded
exponential backoff (:attr:`LiveSocket.retry_delays_s`); the audio sent since the last final result
(:class:`ReplayBuffer`) is sent again on the new socket first, so the provider hears once more every
word it had not finalised. The new socket's times count from the start of that replayed audio:
:meth:`LiveSocket.stream_ms` puts them back on the stream's clock (:attr:`LiveSocket.offset_ms`).
After as many failed attempts in a row as there are delays, without a final result in between,
the session fails with the vendor, the close code and its reason.

**A refusal is not retried:** an HTTP status on the upgrade (401 bad key, 400 unsupported language
or encoding, 402…), an error frame from the provider, or a close code ``retryable`` turns down
(AssemblyAI's 1008 auth and 3xxx format closes, Deepgram's NET-0001 idle close) fails at once with
the provider's reason (:class:`~streaming.engines.transcript.UpstreamError`).

Vendors' close codes: https://developers.deepgram.com/docs/recovering-from-connection-errors-and-timeouts-when-live-streaming-audio
and https://www.assemblyai.com/docs/api-reference/streaming-api/universal-streaming (RFC 6455 §7.4
for the standard codes).
"""
import asyncio
import json
import logging
from collections import deque

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from .transcript import UpstreamError, reason_of

log = logging.getLogger(__name__)

# Going away, no close frame, server error, service restart, try again later, bad gateway (RFC 6455).
RETRYABLE_CLOSES = frozenset({1001, 1006, 1011, 1012, 1013, 1014})


async def json_frames(ws):
    """The JSON objects a provider's socket ``ws`` sends, until it closes (``ws.close_code`` then
    says how). Binary frames and text that is not a JSON object are not ours to understand: they
    are skipped, and the session goes on."""
    try:
        async for raw in ws:
            if isinstance(raw, bytes):
                continue
            try:
                frame = json.loads(raw)
            except ValueError:
                frame = None
            if isinstance(frame, dict):
                yield frame
            else:
                log.warning("A provider's live socket sent a frame that is not a JSON object: %.200r", raw)
    except ConnectionClosed:
        pass


def retryable_close(code, reason):
    """Whether a socket closed with ``code`` (int or None) and ``reason`` (str) may be reconnected."""
    return code in RETRYABLE_CLOSES


def _retryable_status(status):
    # A timeout, rate limiting or the provider's own trouble; every other 4xx is a refusal.
    return status in (408, 429) or status >= 500


def _close_text(code, reason):
    return f"close code {code}: {reason}" if reason else f"close code {code}"


class ReplayBuffer:
    """The audio sent since the last final result, in order, as ``(first byte's offset in the
    stream, bytes)`` chunks; at most ``max_s`` seconds of it (past that, the oldest chunks go: a
    provider that finalises nothing for that long has lost them anyway)."""

    def __init__(self, bytes_per_second, max_s):
        self.bytes_per_second = bytes_per_second
        self.max_bytes = int(bytes_per_second * max_s)
        self.chunks = deque()
        self.size = 0
        self.sent = 0  # bytes of audio in the whole stream

    def add(self, data):
        self.chunks.append((self.sent, data))
        self.sent += len(data)
        self.size += len(data)
        while self.size > self.max_bytes and len(self.chunks) > 1:
            self.size -= len(self.chunks.popleft()[1])

    def finalized(self, ms):
        """The provider finalised the stream's audio up to ``ms`` (ms from the stream's start): drop
        the chunks that end by then."""
        upto = ms * self.bytes_per_second / 1000
        while self.chunks and self.chunks[0][0] + len(self.chunks[0][1]) <= upto:
            self.size -= len(self.chunks.popleft()[1])

    @property
    def start_ms(self):
        """Where the kept audio starts, in ms from the stream's start."""
        start = self.chunks[0][0] if self.chunks else self.sent
        return start * 1000 / self.bytes_per_second


class LiveSocket:
    """One provider WebSocket session (reconnected as needed, see the module doc).

    ``on_frame(frame)`` (async) gets every JSON frame the provider sends; ``error_of(frame)`` returns
    the reason of a frame that reports a fatal error (the provider closes after it), else None.
    ``keepalive``: a JSON message sent when nothing else was sent for ``keepalive_s`` seconds (the
    providers close a silent socket: a paused microphone must not end the session).
    ``bytes_per_second``: of the audio sent (32,000 for PCM s16le 16 kHz), to time the replay.
    ``retryable(code, reason)``: whether a close may be reconnected (:func:`retryable_close`).

    :class:`UpstreamError` with the provider's reason comes from :meth:`open`, :meth:`send` and
    :meth:`finish` once the session cannot go on; an exception raised by ``on_frame`` (the
    persister's ``LeaseLost``) is re-raised the same way and never retried.
    """

    retry_delays_s = (0.5, 1.0, 2.0, 4.0)  # before each reconnection attempt in a row
    replay_max_s = 60.0  # the most audio kept for a replay
    ready_timeout_s = 15.0

    def __init__(self, url, headers, on_frame, *, product, bytes_per_second, error_of=lambda frame: None,
                 keepalive=None, keepalive_s=5.0, finish_timeout_s=60.0, retryable=retryable_close):
        self.url = url
        self.headers = headers
        self.on_frame = on_frame
        self.product = product
        self.error_of = error_of
        self.keepalive = keepalive
        self.keepalive_s = keepalive_s
        self.finish_timeout_s = finish_timeout_s
        self.retryable = retryable
        self.buffer = ReplayBuffer(bytes_per_second, self.replay_max_s)
        self.ws = None
        self.connected = False  # audio goes out now; else it waits in the buffer for the replay
        self.offset_ms = 0.0  # where the current socket's audio starts in the stream (ms)
        self.failed = None
        self.finishing = False
        self.closing = None  # the closing message, once :meth:`finish` sent it
        self.error_reason = ""
        self._failures = 0  # reconnection attempts in a row without a final result
        self._lock = asyncio.Lock()  # one sender at a time: a replay and the live audio never interleave
        self._tasks = []
        self._last_sent = 0.0
        self._ready_type, self._ready = None, asyncio.Event()

    async def _connect(self):
        try:
            return await connect(self.url, additional_headers=self.headers, proxy=None,
                                 max_size=16 * 1024 * 1024, open_timeout=15)
        except InvalidStatus as exc:
            status = exc.response.status_code
            raise UpstreamError(reason_of(status, exc.response.body or b""), status) from None
        except (OSError, InvalidHandshake, TimeoutError) as exc:
            raise UpstreamError(f"{self.product} could not be reached: {exc.__class__.__name__}: {exc}") from None

    async def open(self, *, ready=None):
        """Connect; with ``ready`` (a frame type, e.g. AssemblyAI's "Begin"), also wait until the provider
        sent that frame, since it checks the key and the parameters only after the upgrade."""
        self.ws = await self._connect()
        self.connected = True
        self._last_sent = asyncio.get_running_loop().time()
        self._ready_type = ready
        self._tasks = [asyncio.create_task(self._run())]
        if self.keepalive:
            self._tasks.append(asyncio.create_task(self._keep_alive()))
        if ready:
            ready_wait = asyncio.ensure_future(self._ready.wait())
            await asyncio.wait([ready_wait, self._tasks[0]], timeout=self.ready_timeout_s,
                               return_when=asyncio.FIRST_COMPLETED)
            ready_wait.cancel()
            self._check()
            if not self._ready.is_set():
                self.abort()
                raise UpstreamError(f"{self.product} did not start the session within {self.ready_timeout_s:g} s")

    async def _run(self):
        try:
            while (dropped := await self._read()) is not None:
                await self._reconnect(*dropped)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.failed = exc
        finally:
            for task in self._tasks[1:]:
                task.cancel()

    async def _read(self):
        """Take the current socket's frames until it closes: None at the end of the session, ``(code,
        reason)`` for a drop worth a reconnection; raises :class:`UpstreamError` for a refusal."""
        ws = self.ws
        async for frame in json_frames(ws):
            reason = self.error_of(frame)
            if reason:
                self.error_reason = reason
            await self.on_frame(frame)
            if frame.get("type") == self._ready_type:
                self._ready.set()
        self.connected = False
        code, reason = ws.close_code, ws.close_reason or ""
        if self.error_reason:
            raise UpstreamError(self.error_reason, code=code or 0)
        if code in (1000, None) and self.finishing:
            return None
        if self.retryable(code, reason):
            return code, reason
        raise UpstreamError(f"{reason or 'the connection was closed'} (close code {code})", code=code or 0)

    async def _reconnect(self, code, reason):
        """A new socket after a drop, the kept audio replayed on it; raises :class:`UpstreamError`
        after :attr:`retry_delays_s` attempts in a row, or at once for a refusal."""
        last = _close_text(code, reason)
        while self._failures < len(self.retry_delays_s):
            await asyncio.sleep(self.retry_delays_s[self._failures])
            self._failures += 1
            try:
                ws = await self._connect()
            except UpstreamError as exc:
                if exc.status and not _retryable_status(exc.status):
                    raise
                last = exc.message
                continue
            self.ws, self.offset_ms, self.error_reason = ws, self.buffer.start_ms, ""
            self._ready.clear()
            self._tasks.append(asyncio.create_task(self._replay(ws)))
            return
        raise UpstreamError(f"the live connection dropped and {len(self.retry_delays_s)} attempts in a row to "
                            f"reconnect failed (the last: {last})", code=code or 0)

    async def _replay(self, ws):
        if self._ready_type:
            # The provider takes audio once it began the session; if it never does, the reader
            # sees the socket close.
            await self._ready.wait()
        async with self._lock:
            if ws is not self.ws:
                return
            try:
                for _, chunk in list(self.buffer.chunks):
                    await ws.send(chunk)
                if self.closing is not None:
                    await ws.send(self.closing)
            except ConnectionClosed:
                return  # dropped again: the reader reconnects or gives up
            self.connected = True

    def stream_ms(self, ms):
        """A time the current socket gave (ms from its first audio) on the stream's clock (ms)."""
        return self.offset_ms + ms

    def finalized(self, ms):
        """The provider gave a final result for the audio up to ``ms`` (the current socket's clock):
        that audio need not be replayed, and the session is making progress."""
        self.buffer.finalized(self.stream_ms(ms))
        self._failures = 0

    async def _keep_alive(self):
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(max(0.05, self._last_sent + self.keepalive_s - loop.time()))
            if self.finishing:
                return
            if loop.time() - self._last_sent >= self.keepalive_s:
                await self.send(json.dumps(self.keepalive))

    def _check(self):
        if self.failed is not None:
            raise self.failed

    async def send(self, data):
        """Send audio (bytes) or a control message (str); raises what ended the session. While the
        socket is being reconnected, audio waits for the replay and a control message is dropped."""
        self._check()
        async with self._lock:
            if isinstance(data, bytes):
                self.buffer.add(data)
            if not self.connected:
                return
            try:
                await self.ws.send(data)
            except ConnectionClosed:
                self.connected = False  # the reader reconnects and replays this audio, or fails
                return
        self._last_sent = asyncio.get_running_loop().time()

    async def finish(self, message):
        """Send the closing ``message`` (str) and wait for the provider's last frames and its close
        (through a reconnection, if the socket drops meanwhile)."""
        self._check()
        self.finishing = True
        async with self._lock:
            self.closing = message  # a replay ends with it
            if self.connected:
                try:
                    await self.ws.send(message)
                except ConnectionClosed:
                    self.connected = False
        try:
            await asyncio.wait_for(asyncio.shield(self._tasks[0]), self.finish_timeout_s)
        except TimeoutError:
            self.abort()
            raise UpstreamError(f"{self.product} did not finish the stream within {self.finish_timeout_s:.0f} s")
        self._check()
        await self.ws.close()

    def abort(self):
        for task in self._tasks:
            task.cancel()
        if self.ws is not None:
            asyncio.ensure_future(self.ws.close())
