"""``manage.py serve``: Daphne on 127.0.0.1:$PORT, with the embedded session runners started at once.

Starting the runner pool with the server (not with the first request) lets a restarted server
take back the sessions its predecessor left live before anyone opens a page.
"""
import asyncio
import os

import daphne.server  # noqa: F401  (installs Twisted's asyncio reactor before anything imports Twisted)
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Serve Parley with Daphne (HTTP and WebSockets) and start the in-process session runners."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))

    def handle(self, *args, host, port, **options):
        from daphne.server import Server

        from config.asgi import application
        from streaming import gc_tuning
        from streaming.runners import ensure_embedded_pool

        def ready():
            gc_tuning.settle()
            asyncio.get_event_loop().call_soon(ensure_embedded_pool)
            self.stdout.write(f"Parley is serving on http://{host}:{port}/")

        Server(
            application=application,
            endpoints=[f"tcp:port={port}:interface={host}"],
            ready_callable=ready,
            application_close_timeout=10,
            # A browser's socket is accepted once the relay has read its snapshot from the
            # database. When hundreds of browsers (re)connect at once, after a restart, that queue
            # outlasts Daphne's 5 s default, and a refused handshake only brings them back again.
            websocket_handshake_timeout=30,
        ).run()
