"""Starting and stopping sessions: the one place the form views and the JSON API call."""
import os
import tempfile

from asgiref.sync import async_to_sync
from django.conf import settings
from django.core.files import File
from django.db import transaction

from streaming import control
from streaming.audio import AudioError, probe
from streaming.engines import available_engines

from .models import Meeting


class SessionError(ValueError):
    """A session that cannot be started as asked; the message is shown to the user."""


def check_engine(engine):
    if engine not in available_engines():
        names = ", ".join(available_engines())
        raise SessionError(f"Unknown or unavailable engine {engine!r}; available: {names}.")


def _probe_upload(upload):
    """Probe an uploaded file; returns its AudioInfo or raises SessionError."""
    if upload is None:
        raise SessionError("Choose a recording to upload.")
    if upload.size == 0:
        raise SessionError("The uploaded file is empty.")
    if upload.size > settings.MAX_UPLOAD_BYTES:
        raise SessionError(f"The file is larger than {settings.MAX_UPLOAD_BYTES // 1024**2} MB.")
    if hasattr(upload, "temporary_file_path"):
        path, cleanup = upload.temporary_file_path(), None
    else:
        suffix = os.path.splitext(upload.name)[1][:10]
        handle = tempfile.NamedTemporaryFile(suffix=suffix, delete=False)
        with handle:
            for chunk in upload.chunks():
                handle.write(chunk)
        path, cleanup = handle.name, handle.name
    try:
        return probe(path)
    except AudioError as exc:
        raise SessionError(str(exc)) from None
    finally:
        if cleanup:
            os.unlink(cleanup)
        upload.seek(0)


def start_upload(owner, workspace, *, upload, title="", engine=None, realtime=False, trackers=()):
    """Create a meeting for an uploaded recording and hand it to the runners.

    Raises :class:`SessionError` for a missing, empty, oversized, corrupt or unsupported file
    (nothing is created) or an unknown engine. ``engine`` None is the workspace's default;
    ``trackers`` as :attr:`Meeting.trackers`.
    """
    engine = engine or workspace.default_engine
    check_engine(engine)
    info = _probe_upload(upload)
    title = (title or "").strip() or os.path.splitext(os.path.basename(upload.name))[0][:200] or "Recording"
    with transaction.atomic():
        meeting = Meeting(
            title=title[:200],
            source=Meeting.Source.UPLOAD,
            engine=engine,
            owner=owner,
            workspace=workspace,
            realtime=bool(realtime),
            trackers=list(trackers),
            duration_ms=info.duration_ms,
        )
        meeting.recording.save(os.path.basename(upload.name)[-100:] or "recording", File(upload), save=False)
        meeting.save()
        transaction.on_commit(wake_runners)
    return meeting


def start_microphone(owner, workspace, *, title="", engine=None, trackers=()):
    """Create a meeting fed by the browser microphone; ``engine`` None is the workspace's default."""
    engine = engine or workspace.default_engine
    check_engine(engine)
    meeting = Meeting.objects.create(
        title=(title or "").strip()[:200] or "Microphone session",
        source=Meeting.Source.MICROPHONE,
        engine=engine,
        owner=owner,
        workspace=workspace,
        trackers=list(trackers),
    )
    transaction.on_commit(wake_runners)
    return meeting


def stop(meeting):
    """Stop a meeting's session as its user asked: a bot is first made to leave its meeting (or
    never join). Returns False when the meeting had already ended; raises :class:`SessionError`
    when the bot vendor refuses."""
    if meeting.source == Meeting.Source.BOT and meeting.status in Meeting.ACTIVE and hasattr(meeting, "bot"):
        from .bots.sessions import cancel

        cancel(meeting.bot)
        return True
    return request_stop(meeting)


def request_stop(meeting):
    """Ask the meeting's runner to stop: it flushes the last audio, then processes and completes.

    Returns False when the meeting had already ended.
    """
    updated = Meeting.objects.filter(pk=meeting.pk, status__in=Meeting.ACTIVE).update(stop_requested=True)
    if updated:
        async_to_sync(control.send_stop)(meeting.pk)
    return bool(updated)


def wake_runners():
    async_to_sync(control.wake_runners)()
