"""What every vendor fake in ``tests/fakes/`` shares: an aiohttp server on loopback, a log of the
requests it answered, and ``python -m tests.fakes.<name> --port N``.

A fake subclasses :class:`LoopbackFake`, adds its routes in :meth:`LoopbackFake.routes` and its
credentials as constructor arguments. Async tests ``await fake.start()`` / ``await fake.stop()``;
sync tests (Django views, management commands) use ``with serving(fake):`` (or
``fake.serving()``), which runs the server on its own event loop in a thread.
"""
import argparse
import asyncio
import base64
import binascii
import json
import logging
import threading
from contextlib import contextmanager

from aiohttp import web


class LoopbackFake:
    """One vendor's HTTP API on ``127.0.0.1``; :attr:`requests` holds ``(method, path, status)``."""

    name = "fake"
    client_max_size = 1024**2  # bytes of a request body (aiohttp's default); a fake taking uploads raises it
    # On stop the port closes at once; open sockets (live WebSockets) get this long (s) before they
    # are cut, as when a vendor goes away (aiohttp's default would wait 60 s for their clients).
    shutdown_timeout = 0.5

    def __init__(self):
        self.requests = []
        self.runner = None
        self.port = None

    def routes(self):
        """The aiohttp route definitions of this vendor."""
        raise NotImplementedError

    def app(self):
        app = web.Application(client_max_size=self.client_max_size, middlewares=[self._record])
        app.add_routes(self.routes())
        return app

    async def start(self, host="127.0.0.1", port=0):
        self.runner = web.AppRunner(self.app(), handle_signals=False, shutdown_timeout=self.shutdown_timeout)
        await self.runner.setup()
        site = web.TCPSite(self.runner, host, port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]
        return self

    async def stop(self):
        if self.runner:
            await self.runner.cleanup()
            self.runner = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def serving(self):
        """Serve from a background thread until the block ends (for sync callers)."""
        return serving(self)

    @web.middleware
    async def _record(self, request, handler):
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            self.requests.append((request.method, request.path, exc.status))
            raise
        self.requests.append((request.method, request.path, response.status))
        return response


@contextmanager
def serving(fake):
    """Run ``fake`` (anything with ``async start()`` and ``async stop()``) on its own event loop in a
    thread until the block ends; yields it, started."""
    loop = asyncio.new_event_loop()
    started = threading.Event()
    failure = []

    def run():
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(fake.start())
        except Exception as exc:  # reported to the caller below
            failure.append(exc)
            return
        finally:
            started.set()
        loop.run_forever()

    thread = threading.Thread(target=run, name=f"{type(fake).__name__}-thread", daemon=True)
    thread.start()
    if not started.wait(10) or failure:
        raise RuntimeError(f"{type(fake).__name__} did not start: {failure}")
    try:
        yield fake
    finally:
        asyncio.run_coroutine_threadsafe(fake.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def basic_credentials(request):
    """``(user, password)`` of an ``Authorization: Basic`` header (RFC 7617), or None."""
    scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None
    try:
        user, colon, password = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if colon else None


def json_error(status, body, headers=None):
    """An aiohttp HTTP error with a JSON body, for handlers to raise."""
    return _STATUS[status](text=json.dumps(body), content_type="application/json", headers=headers)


_STATUS = {400: web.HTTPBadRequest, 401: web.HTTPUnauthorized, 403: web.HTTPForbidden, 404: web.HTTPNotFound,
           409: web.HTTPConflict, 429: web.HTTPTooManyRequests, 500: web.HTTPInternalServerError,
           502: web.HTTPBadGateway, 503: web.HTTPServiceUnavailable}


def serve_main(make_fake, argv=None, *, describe, options=(), prog=None):
    """The ``python -m tests.fakes.<name>`` entry point: ``options`` are ``(flag, default, help)``
    passed to ``make_fake(**{dest: value})``; ``describe(fake)`` prints how to point Parley at it."""
    parser = argparse.ArgumentParser(prog=prog, description=describe.__doc__ or "")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    for flag, default, help_text in options:
        parser.add_argument(flag, default=default, help=help_text)
    args = vars(parser.parse_args(argv))
    host, port = args.pop("host"), args.pop("port")
    serve_forever(make_fake(**args), host, port, describe)


def serve_forever(fake, host, port, describe):
    """Serve ``fake`` on ``host:port`` until interrupted, logging at INFO; print ``describe(fake)``
    once it listens, so whoever started the process knows where to point Parley."""
    logging.basicConfig(level=logging.INFO)

    async def serve():
        await fake.start(host, port)
        print(describe(fake), flush=True)
        await asyncio.Event().wait()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        pass
