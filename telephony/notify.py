"""Parley's own summary e-mail, sent when a session ends, whatever its source.

Recipients are per session (:class:`~telephony.models.SummaryEmail`: set on the dial-in form, by
the API, or on the meeting's summary-recipients action). The e-mail holds the summary, the action
items and a link to the review page, and goes through Django's e-mail backend (the console on the
embedded default; SMTP when ``EMAIL_HOST`` is set). Sent once: the row is claimed with a
conditional UPDATE on ``sent_at``, so a task run twice (a retry, two workers) sends one e-mail.

:func:`session_ended` is what the session's end calls; :func:`send_summary_email` is the Celery
task (eager on the embedded default, a worker in production).
"""
import logging

from celery import shared_task
from django.core.mail import EmailMessage
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from meetings.links import public_origin

log = logging.getLogger(__name__)


def review_url(meeting):
    """The review page's absolute URL (an e-mail has no request to ask: ``PARLEY_PUBLIC_URL``)."""
    return f"{public_origin()}{reverse('meetings:review', args=[meeting.pk])}"


def session_ended(meeting_id):
    """Queue the summary e-mail of a meeting that just ended, after the current transaction commits.
    Does nothing when nobody is to get it."""
    from .models import SummaryEmail

    if SummaryEmail.objects.filter(meeting_id=meeting_id, sent_at=None).exclude(recipients=[]).exists():
        transaction.on_commit(lambda: send_summary_email.delay(meeting_id))


@shared_task(name="telephony.notify.send_summary_email", autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def send_summary_email(meeting_id):
    """E-mail the summary of an ended meeting to its recipients; returns the number sent (0 or 1).

    Raises :class:`OSError` (retried) when the mail server cannot be reached; the claim is undone
    first, so the retry sends it.
    """
    from meetings.models import Meeting, Summary

    from .models import SummaryEmail

    meeting = Meeting.objects.filter(pk=meeting_id, status__in=Meeting.ENDED).select_related("workspace").first()
    if meeting is None:
        return 0
    claimed = SummaryEmail.objects.filter(meeting_id=meeting_id, sent_at=None).update(sent_at=timezone.now())
    if not claimed:
        return 0
    recipients = SummaryEmail.objects.get(meeting_id=meeting_id).recipients
    if not recipients:
        return 0
    context = {
        "meeting": meeting,
        "summary": Summary.objects.filter(meeting=meeting).values_list("text", flat=True).first() or "",
        "action_items": list(meeting.insights.filter(type="action_item").order_by("pk")),
        "questions": list(meeting.insights.filter(type="question").order_by("pk")),
        "url": review_url(meeting),
    }
    subject = f"{'Summary' if meeting.status == Meeting.Status.COMPLETED else 'Session failed'}: {meeting.title}"
    message = EmailMessage(subject=subject[:200], body=render_to_string("telephony/summary_email.txt", context),
                           to=recipients)
    try:
        sent = message.send()
    except OSError:
        SummaryEmail.objects.filter(meeting_id=meeting_id).update(sent_at=None)
        raise
    log.info("meeting %s: summary e-mailed to %d recipients", meeting_id, len(recipients))
    return sent
