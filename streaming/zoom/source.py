"""The Zoom source: a Zoom meeting's audio through its custom RTMP live stream.

Two paths, chosen by the meeting's engine:

* **Parley as the RTMP destination** (local, and any engine that takes audio): the process's RTMP
  ingest (:mod:`streaming.zoom.rtmp`, one port shared by every runner process) is started if it
  is not yet; when the workspace has a Zoom account, Zoom is asked to start the live stream
  (``PATCH …/livestream/status`` start) once Parley listens, and to stop it at the end.
  Whichever process Zoom's connection lands in decodes it and sends the PCM to the meeting's
  session group; :meth:`ZoomSource.chunks` yields it, with a pause whenever the publisher went
  away, and waits for Zoom to reconnect until the session is stopped.
* **Symbl as the RTMP destination** (``drives_engine`` on the symbl engine), the sequence of
  ``shared/api-contracts.md`` §5 and §8: ``POST /v1/managed-stream`` (rtmp, secure) → register
  ``streamUrl`` minus the ``streamId`` and the ``streamId`` as key with Zoom → ``POST /v1/stream``
  start with ``enableSubscription`` → relay the ``subscriptionUrl`` into the meeting → Zoom live
  stream start; at the end Zoom stop and ``/v1/stream`` stop. A failure at any step undoes what had
  started and fails the meeting with the step and Zoom's or Symbl's reason. A runner taking the
  session over starts the managed stream already registered with Zoom again, and makes a new one
  only when Symbl no longer has it.

A stream with ``auto_start`` waits (the meeting shows "connecting") until Zoom's
``meeting.started`` webhook marks the Zoom meeting started (:mod:`streaming.zoom.webhooks`).
"""
import asyncio
import logging

from asgiref.sync import sync_to_async
from django.utils import timezone

from ..engines.base import EngineError
from ..sources.base import PAUSE, Source
from . import client as zoom_api
from .rtmp import IngestError, ensure_ingest, parse_rtmp_url

log = logging.getLogger(__name__)

# How often a stream waiting for its Zoom meeting looks whether Zoom said it started (s).
WAIT_POLL_SECONDS = 1.0
# How long the relay may take to deliver the conversation's end after both streams stopped (s).
RELAY_DRAIN_SECONDS = 30


class StepFailed(EngineError):
    """One step of starting a Zoom stream failed; ``str()`` names the step and the reason."""

    def __init__(self, step, reason):
        super().__init__(f"Zoom stream: {step} failed: {reason}")
        self.step, self.reason = step, reason


def _stream_of(meeting_id):
    from ..models import ZoomStream

    return ZoomStream.objects.get(meeting_id=meeting_id)


def _update(stream, **fields):
    from ..models import ZoomStream

    ZoomStream.objects.filter(pk=stream.pk).update(**fields)
    for name, value in fields.items():
        setattr(stream, name, value)


def _zoom_client(workspace_id):
    values = zoom_api.account_values(workspace_id)
    return zoom_api.ZoomClient.from_values(values) if values else None


class ZoomSource(Source):
    """See the module docstring. Raises :class:`~streaming.engines.base.EngineError` (a
    :class:`StepFailed`) to fail the meeting."""

    live_on_first_audio = True

    def __init__(self, meeting, control, emit, resume_ms=0):
        super().__init__(meeting, control, emit, resume_ms)
        # Symbl ingests the RTMP stream itself: Parley never has the audio, the source runs Symbl.
        self.drives_engine = meeting.engine == "symbl"
        self.stream = None

    async def _prepare(self):
        self.stream = await sync_to_async(_stream_of)(self.meeting.pk)
        try:
            zoom = await sync_to_async(_zoom_client)(self.meeting.workspace_id)
        except Exception as exc:  # a Zoom account lacking a value, an undecryptable secret
            raise StepFailed("reading the workspace's Zoom account", exc) from exc
        await self._wait_for_zoom_meeting()
        return zoom

    async def _wait_for_zoom_meeting(self):
        if not self.stream.auto_start or self.stream.zoom_started:
            return
        log.info("meeting %s waits for Zoom meeting %s to start", self.meeting.pk, self.stream.zoom_meeting_id)
        while not self.control.stopped.is_set():
            fresh = await sync_to_async(_stream_of)(self.meeting.pk)
            if fresh.zoom_started:
                self.stream.zoom_started = True
                return
            try:
                await asyncio.wait_for(self.control.stopped.wait(), WAIT_POLL_SECONDS)
            except TimeoutError:
                pass

    # -- Parley's RTMP ingest ------------------------------------------------------------------

    async def chunks(self):
        zoom = await self._prepare()
        if self.control.stopped.is_set():
            return
        self._zoom_live = False
        live = False
        try:
            try:
                await ensure_ingest()
            except IngestError as exc:
                raise StepFailed("listening for the RTMP stream", exc) from exc
            if zoom is not None:
                # Parley listens: only now may Zoom start pushing.
                await self._zoom_start(zoom)
            async for chunk in self._heard():
                if not live and chunk:
                    live = True
                    await sync_to_async(_update)(self.stream, state="live", live_at=timezone.now())
                yield chunk
        finally:
            if zoom is not None:
                if self._zoom_live:
                    await self._zoom_stop(zoom)
                await zoom.aclose()
            if self.stream.state != "failed":
                await sync_to_async(_update)(self.stream, state="stopped")

    async def _heard(self):
        """What the ingest (in this process or another) delivers to the session group, PAUSE
        included, until the stop; a stream waits for Zoom to reconnect however long it takes."""
        queue = self.control.audio
        stop = asyncio.ensure_future(self.control.stopped.wait())
        try:
            while True:
                get = asyncio.ensure_future(queue.get())
                await asyncio.wait({get, stop}, return_when=asyncio.FIRST_COMPLETED)
                if not get.done():
                    get.cancel()
                    break
                yield get.result()
            # Audio that arrived before the stop is still the meeting's.
            while not queue.empty():
                if (item := queue.get_nowait()) is not PAUSE:
                    yield item
        finally:
            stop.cancel()

    async def _zoom_start(self, zoom):
        try:
            await zoom.livestream_status(self.stream.zoom_meeting_id, "start")
        except zoom_api.ZoomError as exc:
            failed = StepFailed("Zoom live stream start", exc)
            await sync_to_async(_update)(self.stream, state="failed", failure=str(failed))
            raise failed from exc
        self._zoom_live = True

    async def _zoom_stop(self, zoom):
        try:
            await zoom.livestream_status(self.stream.zoom_meeting_id, "stop")
        except zoom_api.ZoomError as exc:
            # The meeting may have ended already, which stops its live stream anyway.
            log.warning("meeting %s: Zoom live stream stop: %s", self.meeting.pk, exc)

    # -- Symbl's managed stream ----------------------------------------------------------------

    async def run(self, engine, went_live):
        from ..engines.symbl.client import SymblError
        from ..engines.symbl.credentials import client_for
        from ..engines.symbl.subscribe import relay

        zoom = await self._prepare()
        if zoom is None:
            raise StepFailed("reading the workspace's Zoom account",
                             "the symbl engine needs the workspace's Zoom account (Workspace → Provider accounts) "
                             "to point the Zoom meeting's live stream at Symbl")
        if self.control.stopped.is_set():
            await zoom.aclose()
            return
        symbl = client_for(self.meeting)
        undo = []  # (what, coroutine function) to run in reverse when a later step fails
        relay_task = None
        step = "Symbl stream start"
        try:
            started = await self._resume_managed_stream(symbl)
            if started is None:
                step = "Symbl managed stream creation"
                created = await symbl.request("POST", "/v1/managed-stream", json={"protocol": "rtmp", "secure": True})
                try:
                    server, key = parse_rtmp_url(created["streamUrl"])
                    stream_id = str(created["streamId"])
                except (KeyError, TypeError, ValueError) as exc:
                    raise StepFailed(step, f"Symbl answered without a usable streamUrl/streamId: {exc}") from None
                await sync_to_async(_update)(self.stream, stream_url=server, stream_key=key, symbl_stream_id=stream_id)

                step = "Zoom live stream registration"
                await zoom.set_livestream(self.stream.zoom_meeting_id, stream_url=server, stream_key=key,
                                          page_url=self.stream.page_url)
                await sync_to_async(_update)(self.stream, registered_with_zoom=True, state="registered")

                step = "Symbl stream start"
                started = await symbl.request("POST", "/v1/stream", json={
                    "operation": "start", "streamId": stream_id, "enableSubscription": True})
            stream_id = self.stream.symbl_stream_id
            undo.append(("Symbl stream stop", lambda: symbl.request(
                "POST", "/v1/stream", json={"operation": "stop", "streamId": stream_id})))
            await sync_to_async(_keep_symbl_ids)(self.meeting.pk, started)

            step = "Symbl subscription"
            if not started.get("subscriptionUrl"):
                raise StepFailed(step, "Symbl's stream start answer has no subscriptionUrl")
            relay_task = asyncio.create_task(relay(symbl, started["subscriptionUrl"], self.emit,
                                                   connection_id=str(started.get("connectionId", ""))))

            step = "Zoom live stream start"
            await zoom.livestream_status(self.stream.zoom_meeting_id, "start")
            undo.append(("Zoom live stream stop", lambda: zoom.livestream_status(self.stream.zoom_meeting_id, "stop")))
            if relay_task.done():
                step = "Symbl subscription"
                relay_task.result()  # raises the subscription's failure
            # A runner taking over keeps the stream's first start: the TIMELINE's offsets count from it.
            await sync_to_async(_update)(self.stream, state="live", live_at=self.stream.live_at or timezone.now())
            await went_live()

            step = "streaming"
            stop = asyncio.ensure_future(self.control.stopped.wait())
            await asyncio.wait({stop, relay_task}, return_when=asyncio.FIRST_COMPLETED)
            stop.cancel()
            if relay_task.done():
                relay_task.result()
            # The end: Zoom stops pushing, Symbl ends the conversation, the relay hears its end.
            step = "stopping the streams"
            for what, action in reversed(undo):
                await action()
            undo = []
            try:
                await asyncio.wait_for(relay_task, RELAY_DRAIN_SECONDS)
            except TimeoutError:
                log.warning("meeting %s: Symbl did not end the subscription within %s s", self.meeting.pk,
                            RELAY_DRAIN_SECONDS)
            await sync_to_async(_update)(self.stream, state="stopped")
        except (zoom_api.ZoomError, SymblError, EngineError) as exc:
            reason = exc.reason if isinstance(exc, StepFailed) else exc
            failed = exc if isinstance(exc, StepFailed) else StepFailed(step, reason)
            await self._undo(undo)
            await sync_to_async(_update)(self.stream, state="failed", failure=str(failed))
            raise failed from exc
        finally:
            if relay_task is not None and not relay_task.done():
                relay_task.cancel()
                await asyncio.gather(relay_task, return_exceptions=True)
            await zoom.aclose()
            await symbl.aclose()

    async def _resume_managed_stream(self, symbl):
        """A runner taking over from one that made Symbl's managed stream and registered it with
        Zoom: start that stream again (Symbl answers with the same conversation), so that Zoom goes
        on pushing where it was told to. Symbl's start answer, or None when there is none to resume
        or Symbl no longer has it (404). Raises :class:`SymblError` for any other refusal."""
        from ..engines.symbl.client import SymblError

        stream_id = self.stream.symbl_stream_id
        if not (stream_id and self.stream.registered_with_zoom):
            return None
        try:
            started = await symbl.request("POST", "/v1/stream", json={
                "operation": "start", "streamId": stream_id, "enableSubscription": True})
        except SymblError as exc:
            if exc.status != 404:
                raise
            log.info("meeting %s: Symbl no longer has managed stream %s (%s); making a new one", self.meeting.pk,
                     stream_id, exc)
            return None
        log.info("meeting %s: resuming Symbl managed stream %s", self.meeting.pk, stream_id)
        return started

    async def _undo(self, undo):
        for what, action in reversed(undo):
            try:
                await action()
            except Exception as exc:  # undoing is best effort: the failure reported is the first one
                log.warning("meeting %s: %s while undoing: %s", self.meeting.pk, what, exc)


def _keep_symbl_ids(meeting_id, started):
    """Keep Symbl's ids on the meeting's SymblSession, so the conversation is reconciled like any
    Symbl session's (:func:`streaming.tasks.reconcile_symbl_conversation`)."""
    from ..models import SymblSession

    SymblSession.objects.update_or_create(meeting_id=meeting_id, defaults={
        "connection_id": str(started.get("connectionId", "")), "conversation_id": str(started.get("conversationId", ""))})
