"""Parley's RTMP ingest for Zoom: many Zoom live streams (or OBS, ffmpeg) on one port, each
publisher's audio delivered to the session that owns its stream key.

Zoom publishes to ``rtmp://{public host}:{ZOOM_RTMP_PORT}/live/{stream key}`` (Zoom sends AAC
audio, https://support.zoom.com/hc/en/article?id=zm_kb&sysparm_article=KB0064466). Every process
that runs sessions serves that port with :class:`streaming.rtmp.server.RtmpServer`
(``SO_REUSEPORT``: the Daphne process of the embedded default, each ``manage.py run_sessions``
worker in production), so a publisher may land in any of them, not necessarily in the one whose
runner owns its meeting. Hence:

* at ``publish`` the key is looked up in the database: only the key of a
  :class:`~streaming.models.ZoomStream` whose meeting is active on an engine that takes audio is
  accepted; any other key is refused
  (``NetStream.Publish.BadName``) and logged, and changes nothing;
* the publisher's AAC is decoded and resampled to PCM s16le mono 16 kHz
  (:class:`streaming.rtmp.flv.AacDecoder`) and sent in ~100 ms chunks (3,200 bytes) to the
  meeting's session group over the channel layer (:func:`streaming.control.send_audio`, the way a
  browser microphone's audio reaches its runner); when the publisher goes away (it unpublished,
  its socket dropped, or it sent nothing for ``ZOOM_RTMP_IDLE_SECONDS``) a pause follows
  (:func:`streaming.control.send_pause`), and a Zoom that reconnects with the key is heard again.
"""
import asyncio
import logging
import secrets
from urllib.parse import urlsplit

from asgiref.sync import sync_to_async
from django.conf import settings

from streaming.control import send_audio, send_pause
from streaming.rtmp.flv import AacDecoder, FlvAudioError
from streaming.rtmp.server import RtmpServer

log = logging.getLogger(__name__)

APP = "live"
CHUNK_BYTES = 3200  # 100 ms of PCM s16le mono 16 kHz


class IngestError(Exception):
    """The ingest cannot listen (the port is taken, the address is wrong); the message says why."""


def new_stream_key():
    """An unguessable RTMP stream key (32 URL-safe characters, 192 bits)."""
    return secrets.token_urlsafe(24)


def public_url():
    """The RTMP server URL Zoom publishes to (without the key): ``ZOOM_RTMP_PUBLIC_URL``."""
    return settings.ZOOM_RTMP_PUBLIC_URL.rstrip("/")


def parse_rtmp_url(url):
    """``(server URL, key)`` of a full RTMP URL: the key is the last path segment (Symbl's
    ``streamUrl`` ends in its ``streamId``, §5). Raises ValueError for a URL that is not RTMP(S)."""
    parts = urlsplit(url)
    if parts.scheme not in ("rtmp", "rtmps") or not parts.netloc or "/" not in parts.path.strip("/"):
        raise ValueError(f"not an RTMP URL with an app and a stream key: {url!r}")
    server, _, key = url.rstrip("/").rpartition("/")
    return server, key


def meeting_for_key(key):
    """The id of the active meeting whose Zoom stream has RTMP stream key ``key``, or None."""
    from meetings.models import Meeting

    from ..models import ZoomStream

    if not key:
        return None
    # The meeting's status decides, not the stream's state: a runner that lost its lease marks the
    # stream stopped, and the one taking over must still hear Zoom. On the symbl engine the key is
    # Symbl's: Zoom pushes that stream to Symbl, never here.
    return (ZoomStream.objects.filter(stream_key=key, meeting__status__in=Meeting.ACTIVE)
            .exclude(meeting__engine="symbl").values_list("meeting_id", flat=True).first())


class _Publication:
    """One accepted publisher: its audio, as PCM, to its meeting's session group."""

    def __init__(self, meeting_id, peer):
        self.meeting_id, self.peer = meeting_id, peer
        self.decoder = AacDecoder()
        self.pending = bytearray()
        self.warned = False

    async def audio(self, timestamp_ms, payload):
        try:
            self.pending += self.decoder.feed(payload)
        except FlvAudioError as exc:
            if not self.warned:  # once per publisher: a non-AAC stream would say it 50 times a second
                self.warned = True
                log.warning("RTMP %s (meeting %s): audio dropped: %s", self.peer, self.meeting_id, exc)
            return
        while len(self.pending) >= CHUNK_BYTES:
            await self._send(send_audio, bytes(self.pending[:CHUNK_BYTES]))
            del self.pending[:CHUNK_BYTES]

    async def close(self):
        try:
            self.pending += self.decoder.flush()
        except FlvAudioError:
            pass
        if self.pending:
            await self._send(send_audio, bytes(self.pending))
            self.pending.clear()
        await self._send(send_pause)
        log.info("RTMP %s: publisher of meeting %s gone", self.peer, self.meeting_id)

    async def _send(self, send, *pcm):
        try:
            await send(self.meeting_id, *pcm)
        except Exception as exc:
            # Redis restarting: this chunk is lost, the publisher stays connected and is heard again after.
            log.warning("RTMP %s (meeting %s): audio not delivered (%r)", self.peer, self.meeting_id, exc)


async def open_publication(app, key, peer):
    """:class:`RtmpServer`'s ``open_publication``: the publication for ``key``, None to refuse it."""
    meeting_id = await sync_to_async(meeting_for_key)(key)
    if meeting_id is None:
        # The key is a secret: say how it failed, never what it was.
        log.warning("RTMP %s: refused a publisher whose stream key (%d characters) matches no active Zoom stream",
                    peer, len(key))
        return None
    log.info("RTMP %s: publisher accepted for meeting %s", peer, meeting_id)
    return _Publication(meeting_id, peer)


# This process's ingest, per event loop and address (the runner's loop in production and in
# Daphne; each test has its own loop and port): the task starting it, so that sessions starting
# together share one server.
_ingests = {}


async def _start(host, port):
    server = RtmpServer(open_publication, host=host, port=port, app=APP, idle_seconds=settings.ZOOM_RTMP_IDLE_SECONDS)
    try:
        await server.start()
    except OSError as exc:
        raise IngestError(f"The RTMP ingest cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    log.info("RTMP ingest listening on %s:%s", host, port)
    return server


async def ensure_ingest():
    """Start this process's RTMP ingest on ``ZOOM_RTMP_BIND``:``ZOOM_RTMP_PORT`` unless it runs;
    returns the :class:`RtmpServer`. Raises :class:`IngestError` when the port cannot be bound
    (another program holds it without ``SO_REUSEPORT``, the address is not this machine's, a
    privileged port); the next call tries again."""
    loop = asyncio.get_running_loop()
    host, port = settings.ZOOM_RTMP_BIND, int(settings.ZOOM_RTMP_PORT)
    where = (loop, host, port)
    task = _ingests.get(where)
    if task is None or (task.done() and (task.cancelled() or task.exception() is not None)):
        task = _ingests[where] = loop.create_task(_start(host, port))
    return await asyncio.shield(task)


async def stop_ingest():
    """Close the ingests this process runs on the running loop (a runner pool shutting down)."""
    loop = asyncio.get_running_loop()
    for where in [where for where in _ingests if where[0] is loop]:
        task = _ingests.pop(where)
        if not task.done():
            task.cancel()
        elif not task.cancelled() and task.exception() is None:
            await task.result().close()
