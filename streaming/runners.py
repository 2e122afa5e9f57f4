"""Session runners: each active meeting is run by exactly one runner, whether or not anyone watches.

A :class:`RunnerPool` claims meetings with a conditional UPDATE on the lease columns (if it
updated nothing, another runner got there first), renews the lease with a heartbeat, and takes
over meetings whose lease expired because their runner died. On the embedded default the pool
is an asyncio task inside the Daphne process; in production ``manage.py run_sessions`` runs the
same pool in worker processes. Each of these processes serves the Zoom RTMP ingest's port once a
Zoom session runs in it (``SO_REUSEPORT``, :mod:`streaming.zoom.rtmp`), whichever meeting a
publisher's key belongs to.
"""
import asyncio
import logging
import os
import socket
import uuid
from datetime import timedelta

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection, transaction
from django.db.models import Max, Q
from django.utils import timezone

from meetings.models import Meeting

from . import events
from .audio import AudioError
from .control import WAKE_CHANNEL, SessionControl
from .engines import engine_class
from .engines.base import EngineError, SessionInfo
from .persist import LeaseLost, apersist_event
from .sources import source_class
from .sources.base import PAUSE

log = logging.getLogger(__name__)

EMBEDDED_PREFIX = "embedded:"


def new_runner_id(embedded):
    prefix = EMBEDDED_PREFIX if embedded else ""
    return f"{prefix}{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _lease_until():
    return timezone.now() + timedelta(seconds=settings.RUNNER_LEASE_SECONDS)


def _claimable(runner_id, take_embedded):
    """Active meetings no runner holds: no runner, or a lease that expired; ``take_embedded`` also
    those held by an embedded runner, which only a restarted embedded server may take (its
    predecessor is gone). A bot still scheduled to join later has no session to run yet."""
    free = Q(runner_id="") | Q(lease_expires_at__lt=timezone.now())
    if take_embedded:
        free |= Q(runner_id__startswith=EMBEDDED_PREFIX)
    return (Meeting.objects.filter(free, status__in=Meeting.ACTIVE)
            .exclude(runner_id=runner_id)
            .exclude(source=Meeting.Source.BOT, bot__status="scheduled"))


def claim(meeting_id, runner_id, *, take_embedded=False):
    """Claim a meeting for ``runner_id``; True when this runner now holds its lease."""
    return bool(_claimable(runner_id, take_embedded).filter(pk=meeting_id)
                .update(runner_id=runner_id, lease_expires_at=_lease_until()))


def claimable_ids(runner_id, *, take_embedded=False):
    return list(_claimable(runner_id, take_embedded).order_by("created_at").values_list("pk", flat=True)[:50])


def renew(meeting_ids, runner_id):
    """Extend the runner's leases on ``meeting_ids``, two queries for them all; returns ``{meeting
    id: stop requested}`` for those it still holds (a meeting missing from it was lost)."""
    held = Meeting.objects.filter(pk__in=meeting_ids, runner_id=runner_id, status__in=Meeting.ACTIVE)
    with transaction.atomic():
        held.update(lease_expires_at=_lease_until())
        # Read in the same transaction: the rows just renewed, still locked on PostgreSQL.
        return dict(held.values_list("pk", "stop_requested"))


def release(meeting_id, runner_id):
    Meeting.objects.filter(pk=meeting_id, runner_id=runner_id).update(runner_id="", lease_expires_at=None)


def _drop_broken_connection():
    """What Django does between requests, drop a connection that broke or grew too old, except
    that without persistent connections (``CONN_MAX_AGE`` 0, the embedded default) a healthy one
    is kept: the runners and their persister share it for the process's life, and reopening it at
    every claim made their next batch of events open it again."""
    if connection.in_atomic_block:
        return
    if connection.settings_dict["CONN_MAX_AGE"] or (connection.errors_occurred and not connection.is_usable()):
        close_old_connections()


def _session_info(meeting_id):
    meeting = Meeting.objects.select_related("owner").get(pk=meeting_id)
    finals = meeting.utterances.select_related("speaker").order_by("start_ms")
    known = [(u.message_id, u.speaker.name if u.speaker else "", u.text, u.start_ms, u.end_ms) for u in finals]
    resume_ms = finals.aggregate(end=Max("end_ms"))["end"] or 0
    if meeting.source == Meeting.Source.MICROPHONE:
        key = f"user-{meeting.owner_id}"
        name = meeting.owner.get_full_name() or meeting.owner.get_username()
    else:
        key, name = "speaker-1", "Speaker 1"
    info = SessionInfo(
        meeting_id=meeting.pk,
        title=meeting.title,
        language=meeting.language,
        # Local time: "tomorrow" in an action item means the meeting's tomorrow.
        started_at=timezone.localtime(meeting.started_at or timezone.now()),
        speaker_key=key,
        speaker_name=name,
        resume_ms=resume_ms,
        known_utterances=known,
        trackers=meeting.trackers,
    )
    return meeting, info


async def run_session(meeting_id, runner_id):
    """Run one claimed session to its end: completed, or failed with the reason.

    Cancellation (a lost lease, a shutting-down worker) leaves the meeting as it is, for the
    next runner to take over.
    """
    meeting, info = await sync_to_async(_session_info)(meeting_id)
    emit = _Emitter(meeting_id, runner_id)

    async def fail(reason):
        log.warning("meeting %s failed: %s", meeting_id, reason)
        await emit(events.session_status("failed", reason))

    if meeting.stop_requested and meeting.status in (Meeting.Status.SCHEDULED, Meeting.Status.CONNECTING):
        await emit(events.session_status("failed", "Stopped before the session started."))
        return
    try:
        engine = engine_class(meeting.engine)(info, emit)
        source_cls = source_class(meeting.source)
    except (KeyError, EngineError) as exc:
        await fail(f"The {meeting.get_source_display()} source on the {meeting.engine} engine is not available: {exc}")
        return

    async def went_live():
        if meeting.status in (Meeting.Status.SCHEDULED, Meeting.Status.CONNECTING):
            meeting.status = Meeting.Status.LIVE
            await emit(events.session_status("live"))

    async with SessionControl(meeting_id) as control:
        source = source_cls(meeting, control, emit, resume_ms=info.resume_ms)
        try:
            if meeting.status == Meeting.Status.SCHEDULED:
                await emit(events.session_status("connecting"))
            if meeting.stop_requested:
                control.stopped.set()
            if source.drives_engine:
                # Audio that never passes through Parley (a Symbl managed stream, a Symbl
                # telephony call): the source runs the upstream session and the engine itself.
                await source.run(engine, went_live)
            else:
                await engine.open()
                if not source.live_on_first_audio:
                    await went_live()
                async for chunk in source.chunks():
                    if chunk is PAUSE:
                        await engine.pause()
                    else:
                        await went_live()
                        await engine.send_audio(chunk)
            if control.stopped.is_set():
                await emit(events.session_status("stopping"))
            await emit(events.session_status("processing"))
            if not source.drives_engine:
                await engine.close()
            await emit(events.session_status("completed"))
        except (asyncio.CancelledError, LeaseLost):
            # Another runner has (or will have) the session: leave it exactly as it is, and
            # return only once nothing more of this runner's can be stored.
            engine.abort()
            await emit.close()
            raise
        except AudioError as exc:
            await fail(f"The recording could not be read: {exc}")
        except EngineError as exc:
            await fail(str(exc))
        except Exception as exc:
            log.exception("meeting %s: session crashed", meeting_id)
            await fail(f"Internal error in the session runner: {exc.__class__.__name__}: {exc}")


class _Emitter:
    """A session's ``emit``: stores each event (:func:`apersist_event`, fenced by the runner's
    lease). The engine emits from tasks of its own (decodes finishing, provider sockets'
    readers), which a cancelled session does not wait for; :meth:`close` refuses further events
    and waits for those being stored."""

    def __init__(self, meeting_id, runner_id):
        self.meeting_id, self.runner_id = meeting_id, runner_id
        self.storing = 0
        self.idle = asyncio.Event()
        self.idle.set()
        self.closed = False

    async def __call__(self, event):
        if self.closed:
            raise LeaseLost(f"meeting {self.meeting_id}: the session ended in runner {self.runner_id}")
        self.storing += 1
        self.idle.clear()
        try:
            return await apersist_event(self.meeting_id, event, self.runner_id)
        finally:
            self.storing -= 1
            if not self.storing:
                self.idle.set()

    async def close(self):
        self.closed = True
        await self.idle.wait()


class RunnerPool:
    """Claims and runs sessions. ``embedded``: this is the only runner of the database (Daphne)."""

    def __init__(self, *, embedded, max_sessions=None, poll_seconds=1.0):
        self.runner_id = new_runner_id(embedded)
        self.embedded = embedded
        self.max_sessions = max_sessions or int(os.environ.get("PARLEY_MAX_SESSIONS", "16"))
        self.poll_seconds = poll_seconds
        self.tasks = {}
        self._first_scan = True

    async def serve(self):
        log.info("runner %s serving", self.runner_id)
        heartbeat = asyncio.create_task(self._heartbeat())
        try:
            while True:
                try:
                    await self._claim_some()
                except DatabaseError as exc:
                    # PostgreSQL briefly away: keep serving the sessions held, claim again later.
                    log.warning("runner %s: cannot claim sessions (%s)", self.runner_id, exc)
                await self._wait_for_work()
        finally:
            heartbeat.cancel()
            for task in self.tasks.values():
                task.cancel()
            await asyncio.gather(*self.tasks.values(), return_exceptions=True)
            # The RTMP ingest a Zoom session started in this process (streaming.zoom.rtmp).
            from .zoom.rtmp import stop_ingest

            await stop_ingest()

    async def _claim_some(self):
        # A restarted embedded server takes back its predecessor's sessions at once.
        take_embedded = self.embedded and self._first_scan
        self._first_scan = False
        await sync_to_async(_drop_broken_connection)()
        for meeting_id in await sync_to_async(claimable_ids)(self.runner_id, take_embedded=take_embedded):
            if len(self.tasks) >= self.max_sessions:
                return
            if meeting_id in self.tasks:
                continue
            if await sync_to_async(claim)(meeting_id, self.runner_id, take_embedded=take_embedded):
                log.info("runner %s claimed meeting %s", self.runner_id, meeting_id)
                task = asyncio.create_task(self._run(meeting_id))
                self.tasks[meeting_id] = task

    async def _run(self, meeting_id):
        try:
            await run_session(meeting_id, self.runner_id)
        except LeaseLost as exc:
            log.warning("runner %s: %s", self.runner_id, exc)
        finally:
            self.tasks.pop(meeting_id, None)
            try:
                await sync_to_async(release)(meeting_id, self.runner_id)
            except DatabaseError as exc:
                log.warning("runner %s: could not release meeting %s (%s); its lease will expire",
                            self.runner_id, meeting_id, exc)

    async def _wait_for_work(self):
        layer = get_channel_layer()
        try:
            await asyncio.wait_for(layer.receive(WAKE_CHANNEL), timeout=self.poll_seconds)
        except TimeoutError:
            pass
        except Exception as exc:
            # Redis restarting: the wake-up is only a shortcut, polling carries on without it.
            log.warning("runner %s: wake-up channel unavailable (%r)", self.runner_id, exc)
            await asyncio.sleep(self.poll_seconds)

    async def _heartbeat(self):
        interval = max(1.0, settings.RUNNER_LEASE_SECONDS / 3)
        while True:
            await asyncio.sleep(interval)
            tasks = dict(self.tasks)
            if not tasks:
                continue
            try:
                held = await sync_to_async(renew)(list(tasks), self.runner_id)
            except DatabaseError as exc:
                # Unknown, not lost: the lease fences writes if another runner takes over.
                log.warning("runner %s: cannot renew its leases (%s)", self.runner_id, exc)
                await sync_to_async(_drop_broken_connection)()
                continue
            for meeting_id, task in tasks.items():
                stop = held.get(meeting_id)
                if stop is None:
                    log.warning("runner %s lost meeting %s", self.runner_id, meeting_id)
                    task.cancel()
                elif stop:
                    from .control import send_stop

                    try:
                        await send_stop(meeting_id)
                    except Exception as exc:
                        log.warning("meeting %s: stop request not delivered yet (%r)", meeting_id, exc)


_embedded_pool = None


def ensure_embedded_pool():
    """Start the in-process runner pool once, on the running event loop (embedded default)."""
    global _embedded_pool
    if _embedded_pool is None and settings.RUNNERS_IN_PROCESS:
        pool = RunnerPool(embedded=True)
        _embedded_pool = asyncio.get_running_loop().create_task(pool.serve())
    return _embedded_pool
