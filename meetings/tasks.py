"""Celery tasks of the meetings app (the Celery app: ``config/celery.py``; eager on the embedded default)."""
import logging

from celery import shared_task

log = logging.getLogger(__name__)


@shared_task(name="meetings.tasks.apply_retention")
def apply_retention():
    """The beat task (``CELERY_BEAT_SCHEDULE``): one bounded retention run, ``meetings.retention.apply``.

    Returns ``{"resumed": n, "deleted": n, "remote": {status: count}}``.
    """
    from . import retention

    outcome = retention.apply()
    if outcome["resumed"] or outcome["deleted"] or outcome["remote"]:
        log.info("retention: %s", outcome)
    return outcome


@shared_task(name="meetings.tasks.delete_meeting")
def delete_meeting(meeting_id):
    """An admin's "delete now", off the request: finish the deletion the view claimed.

    The view already set ``deleting_at`` (so the meeting is hidden at once); this resumes that claim.
    Returns the :class:`~meetings.models.DeletionRecord` id, or None when there is nothing to do.
    """
    from . import retention
    from .models import DeletionRecord, Meeting

    meeting = Meeting.objects.filter(pk=meeting_id, deleting_at__isnull=False).select_related("workspace").first()
    if meeting is None:
        return None
    record = retention.delete_meeting(meeting, DeletionRecord.Reason.MANUAL)
    return record.pk if record else None
