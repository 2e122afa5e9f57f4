"""Parley's ASGI application on loopback inside the test's own event loop (aiohttp as the HTTP and
WebSocket server), so a test's emulated Twilio call, the consumer, the in-memory channel layer and
the session runner all share one process and one loop.

Only what these tests need of ASGI: ``http`` (one request body, one response) and ``websocket``
(accept, text and binary frames both ways, close; a close before accept refuses the upgrade with
403, as Daphne does).
"""
import asyncio

from aiohttp import WSMsgType, web


def asgi_app():
    """Parley's ASGI router as Daphne serves it (config/asgi.py): the Twilio media socket outside
    the browser Origin check, since Twilio's upgrade carries no Origin (its signature authenticates it)."""
    from config.asgi import router

    return router


def _scope(request, kind):
    headers = [(k.lower().encode("latin1"), v.encode("latin1")) for k, v in request.headers.items()]
    peer = request.transport.get_extra_info("peername") or ("127.0.0.1", 0)
    scope = {"type": kind, "asgi": {"version": "3.0"}, "http_version": "1.1", "scheme": "ws" if kind == "websocket" else "http",
             "path": request.path, "raw_path": request.raw_path.split("?")[0].encode(), "root_path": "",
             "query_string": request.query_string.encode(), "headers": headers, "client": [peer[0], peer[1]],
             "server": ["127.0.0.1", request.url.port]}
    if kind == "http":
        scope["method"] = request.method
    else:
        scope["subprotocols"] = []
    return scope


class LoopbackASGI:
    def __init__(self, app):
        self.app = app
        self.runner = None
        self.port = None

    async def start(self):
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self.handle)
        self.runner = web.AppRunner(app, handle_signals=False)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]
        return self

    async def stop(self):
        await self.runner.cleanup()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    async def handle(self, request):
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return await self._websocket(request)
        return await self._http(request)

    async def _http(self, request):
        body = await request.read()
        sent = False
        response = {}
        chunks = []

        async def receive():
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await asyncio.Event().wait()

        async def send(message):
            if message["type"] == "http.response.start":
                response.update(message)
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(_scope(request, "http"), receive, send)
        headers = [(k.decode("latin1"), v.decode("latin1")) for k, v in response.get("headers", [])]
        out = web.Response(status=response.get("status", 500), body=b"".join(chunks))
        for name, value in headers:
            if name.lower() not in ("content-length",):
                out.headers.add(name, value)
        return out

    async def _websocket(self, request):
        inbox = asyncio.Queue()
        outcome = asyncio.get_running_loop().create_future()
        ws = web.WebSocketResponse(max_msg_size=4 * 1024 * 1024)
        inbox.put_nowait({"type": "websocket.connect"})

        async def receive():
            return await inbox.get()

        async def send(message):
            kind = message["type"]
            if kind == "websocket.accept":
                await ws.prepare(request)
                if not outcome.done():
                    outcome.set_result(True)
            elif kind == "websocket.close":
                if not outcome.done():
                    outcome.set_result(False)
                elif not ws.closed:
                    await ws.close(code=message.get("code", 1000))
            elif kind == "websocket.send":
                if message.get("text") is not None:
                    await ws.send_str(message["text"])
                else:
                    await ws.send_bytes(message["bytes"])

        app = asyncio.create_task(self.app(_scope(request, "websocket"), receive, send))
        done, _ = await asyncio.wait({app, outcome}, return_when=asyncio.FIRST_COMPLETED)
        if not outcome.done() or not outcome.result():
            app.cancel()
            return web.Response(status=403, text="WebSocket refused")
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    inbox.put_nowait({"type": "websocket.receive", "text": msg.data})
                elif msg.type == WSMsgType.BINARY:
                    inbox.put_nowait({"type": "websocket.receive", "bytes": msg.data})
        finally:
            inbox.put_nowait({"type": "websocket.disconnect", "code": ws.close_code or 1006})
            try:
                await asyncio.wait_for(app, 30)
            except (asyncio.CancelledError, TimeoutError):
                app.cancel()
        return ws
