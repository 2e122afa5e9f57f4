"""Another runner process's RTMP ingest, for the test that needs two processes on one port.

``python -m tests.streaming.zoom.other_process PORT PREFIX`` serves Parley's RTMP ingest on
127.0.0.1:PORT (the environment's ``DATABASE_URL`` and ``REDIS_URL``, the channel layer's keys
under PREFIX, as the test process's are) and prints ``listening``; it runs until killed.
"""
import asyncio
import os
import sys


def main(port, prefix):
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.conf import settings

    settings.ZOOM_RTMP_BIND, settings.ZOOM_RTMP_PORT = "127.0.0.1", int(port)
    settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"] = prefix

    from streaming.zoom.rtmp import ensure_ingest

    async def serve():
        await ensure_ingest()
        print("listening", flush=True)
        await asyncio.Event().wait()

    asyncio.run(serve())


if __name__ == "__main__":
    main(*sys.argv[1:3])
