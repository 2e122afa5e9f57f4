"""Parley's built-in RTMP ingest: a Zoom live stream (or any RTMP publisher, OBS, ffmpeg) pushed
straight to Parley, decoded to the PCM the engines take.

FFmpeg (through PyAV) listens as an RTMP server (``rtmp://{ZOOM_RTMP_BIND}:{ZOOM_RTMP_PORT}/live/{key}``
opened with ``listen=1``; https://ffmpeg.org/ffmpeg-protocols.html#rtmp), receives the FLV stream
(Zoom sends AAC audio, https://support.zoom.com/hc/en/article?id=zm_kb&sysparm_article=KB0064466),
and :func:`streaming.audio` resamples it to PCM s16le mono 16 kHz.

The stream key is the only secret between Zoom and Parley: FFmpeg's RTMP server takes any key and
only warns ("Unexpected stream …, expecting …", "App field don't match up"), so the ingest reads
FFmpeg's log for the connection and refuses a publisher whose app or key differ.

One ingest listens per meeting, on the one configured port: a second live local-engine Zoom session
on the same port fails to start with "address already in use". A publisher that drops (or sends
nothing for ``ZOOM_RTMP_IDLE_SECONDS``) is waited for again: Zoom reconnects a custom live stream.
"""
import asyncio
import errno
import logging
import secrets
import socket
import threading
from urllib.parse import urlsplit

import av
import av.logging
from django.conf import settings

# The one decoder's resampler (streaming/audio.py): every source hears the same samples.
from streaming.audio import resample_frames

from ..sources.base import PAUSE

log = logging.getLogger(__name__)

APP = "live"
# How long one listen waits for a publisher before the listener checks for a stop (s); a stop
# also wakes it at once by connecting to it.
LISTEN_SECONDS = 30
LISTEN_GRACE_SECONDS = 0.3
_KEY_WARNINGS = ("Unexpected stream", "App field don't match up")


class IngestError(Exception):
    """The ingest cannot listen (the port is taken, the address is wrong); the message says why."""


def new_stream_key():
    """An unguessable RTMP stream key (32 URL-safe characters, 192 bits)."""
    return secrets.token_urlsafe(24)


def public_url():
    """The RTMP server URL Zoom publishes to (without the key): ``ZOOM_RTMP_PUBLIC_URL``."""
    return settings.ZOOM_RTMP_PUBLIC_URL.rstrip("/")


class RtmpIngest:
    """One meeting's RTMP listener for ``key``. ``pcm(stopped)`` is an async iterator of PCM bytes
    (s16le mono 16 kHz) and :data:`PAUSE` whenever the publisher went away; it ends when
    ``stopped`` (an :class:`asyncio.Event`) is set. Raises :class:`IngestError` when it cannot listen.
    """

    def __init__(self, key, *, host=None, port=None, idle_seconds=None):
        self.key = key
        self.host = host or settings.ZOOM_RTMP_BIND
        self.port = int(port or settings.ZOOM_RTMP_PORT)
        self.idle_seconds = idle_seconds or settings.ZOOM_RTMP_IDLE_SECONDS
        self.publishers = 0  # publishers accepted so far
        self.refused = 0  # publishers refused for a wrong app or key
        self._stopping = threading.Event()

    @property
    def listen_url(self):
        return f"rtmp://{self.host}:{self.port}/{APP}/{self.key}"

    async def pcm(self, stopped, on_listening=None):
        """See the class docstring; ``on_listening`` (async, optional) is awaited once the listener
        runs: where the session asks Zoom to start pushing."""
        loop = asyncio.get_running_loop()
        queue = asyncio.Queue()
        done = object()

        def put(item):
            loop.call_soon_threadsafe(queue.put_nowait, item)

        thread = threading.Thread(target=self._serve, args=(put, done), name=f"rtmp-ingest-{self.port}", daemon=True)
        thread.start()
        stop = asyncio.ensure_future(stopped.wait())
        try:
            if on_listening is not None:
                # FFmpeg binds inside av.open and says nothing when it has: give it a moment (a
                # publisher that comes too early is refused and retries, as Zoom's does).
                await asyncio.sleep(LISTEN_GRACE_SECONDS)
                await on_listening()
            while True:
                get = asyncio.ensure_future(queue.get())
                await asyncio.wait({get, stop}, return_when=asyncio.FIRST_COMPLETED)
                if not get.done():
                    get.cancel()
                    break
                item = get.result()
                if item is done:
                    break
                if isinstance(item, IngestError):
                    raise item
                yield item
        finally:
            stop.cancel()
            self._stopping.set()
            self._wake()
            await asyncio.to_thread(thread.join, 5)

    def _wake(self):
        # A listener blocked in accept() returns once someone connects: be that someone.
        host = "127.0.0.1" if self.host in ("0.0.0.0", "", "::") else self.host
        try:
            socket.create_connection((host, self.port), timeout=1).close()
        except OSError:
            pass

    def _serve(self, put, done):
        try:
            while not self._stopping.is_set():
                container = self._accept()
                if container is None:
                    continue
                try:
                    for pcm in resample_frames(self._frames(container), 0):
                        put(pcm)
                except (av.error.FFmpegError, OSError, ValueError) as exc:
                    # The publisher went away (FFmpeg reports an RTMP disconnect as an I/O error).
                    log.info("RTMP publisher on port %s gone: %s", self.port, exc)
                finally:
                    container.close()
                if not self._stopping.is_set():
                    put(PAUSE)
        except IngestError as exc:
            put(exc)
        finally:
            put(done)

    def _accept(self):
        """Wait for one publisher; its container, or None (timed out, refused, or stopping)."""
        if av.logging.get_level() is None:
            # PyAV drops FFmpeg's log unless a level is set; the key check below reads it.
            av.logging.set_level(av.logging.WARNING)
        options = {"listen": "1", "timeout": str(LISTEN_SECONDS), "rw_timeout": str(int(self.idle_seconds * 1e6)),
                   "analyzeduration": "500000", "probesize": "8192"}
        with av.logging.Capture(local=True) as logs:
            try:
                container = av.open(self.listen_url, mode="r", options=options)
            except (av.error.FFmpegError, OSError) as exc:
                if getattr(exc, "errno", None) in (errno.EADDRINUSE, errno.EADDRNOTAVAIL, errno.EACCES):
                    raise IngestError(f"The RTMP ingest cannot listen on {self.host}:{self.port}: "
                                      f"{exc.strerror or exc}") from None
                return None
        if self._stopping.is_set():
            container.close()
            return None
        wrong = [message.strip() for _level, _name, message in logs if message.startswith(_KEY_WARNINGS)]
        if wrong or not container.streams.audio:
            self.refused += 1
            log.warning("Refused an RTMP publisher on port %s: %s", self.port,
                        "; ".join(wrong) if wrong else "no audio track")
            container.close()
            return None
        self.publishers += 1
        log.info("RTMP publisher accepted on port %s", self.port)
        return container

    def _frames(self, container):
        stream = container.streams.audio[0]
        for packet in container.demux(stream):
            if self._stopping.is_set():
                return
            yield from packet.decode()


def parse_rtmp_url(url):
    """``(server URL, key)`` of a full RTMP URL: the key is the last path segment (Symbl's
    ``streamUrl`` ends in its ``streamId``, §5). Raises ValueError for a URL that is not RTMP(S)."""
    parts = urlsplit(url)
    if parts.scheme not in ("rtmp", "rtmps") or not parts.netloc or "/" not in parts.path.strip("/"):
        raise ValueError(f"not an RTMP URL with an app and a stream key: {url!r}")
    server, _, key = url.rstrip("/").rpartition("/")
    return server, key
