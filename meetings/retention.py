"""Data retention: which ended meetings have expired, and deleting a meeting everywhere it is held.

A meeting's policy is its ``retention_override``: ``delete`` after its own ``retention``, ``keep``
for ever, or ``inherit`` the workspace's ``retention`` (NULL keeps). Age counts from ``ended_at``
(``created_at`` when a meeting never recorded an end). Active meetings are never expired.

Deleting (:func:`delete_meeting`) goes in this order, each step committed before the next:

1. claim: ``deleting_at`` set, the :class:`~meetings.models.DeletionRecord` with one
   :class:`~meetings.models.RemoteDeletion` per provider copy, and the audit entry, in one
   transaction; from then on ``meetings.access`` hides the meeting from every page, the API,
   search and the WebSocket, so nobody sees it half-deleted;
2. the recording file (storage before rows, so no row ever points at a file that is gone while
   the file outlives the rows);
3. its rows, table by table, in keyset-paginated batches of ``settings.RETENTION_BATCH_SIZE``,
   each batch its own transaction that also adds its counts to the record;
4. the meeting row, with ``finished_at`` on the record;
5. the remote copies: a failure leaves the :class:`RemoteDeletion` FAILED with its error and a
   ``next_attempt_at`` (exponential backoff); :func:`retry_remote_deletions` tries again.

A crash at any point leaves ``deleting_at`` set; :func:`apply` resumes deletions whose claim is
older than :data:`STALLED_AFTER`, and every step above is safe to run twice.

Remote copies are a small registry: :func:`copies_of` asks every function registered with
:func:`remote_copies` for ``[(provider, remote_id)]``, and :data:`DELETERS` maps a provider to a
function ``(workspace, remote_id)`` that deletes it there (or raises :class:`RemoteDeletionError`).
"""
import logging
from datetime import timedelta
from urllib.parse import quote

import httpx
from asgiref.sync import async_to_sync
from django.conf import settings
from django.db import transaction
from django.db.models import DateTimeField, ExpressionWrapper, F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from . import audit
from .models import (AuditEntry, DeletionRecord, Insight, Meeting, MeetingEvent, Provider, ProviderAccount,
                     RemoteDeletion, SearchEntry, Speaker, Summary, Topic, Utterance)

log = logging.getLogger(__name__)

# Work bounds of one beat run (the beat interval is settings.RETENTION_INTERVAL_SECONDS).
MEETINGS_PER_RUN = 20
REMOTE_PER_RUN = 50
# A claim this old with the meeting still there is a crashed deletion, to be resumed.
STALLED_AFTER = timedelta(minutes=30)
# Remote retries: 5 minutes after the first failure, doubling, at most a day apart.
RETRY_BASE = timedelta(minutes=5)
RETRY_MAX = timedelta(days=1)


class RemoteDeletionError(Exception):
    """A provider did not delete its copy; ``str()`` says why, in words (never a secret)."""


# -- policy ------------------------------------------------------------------------------------


def expired_meetings(now=None):
    """Ended meetings (completed or failed), not being deleted, older than their policy at ``now``.

    A queryset, oldest first, computed in the database (``ended_at + retention < now``; the
    DurationField arithmetic works on SQLite and PostgreSQL).
    """
    now = now or timezone.now()
    ended = Coalesce("ended_at", "created_at")

    def expiry(retention):
        return ExpressionWrapper(ended + retention, output_field=DateTimeField())

    own = Q(retention_override=Meeting.Retention.DELETE, retention__isnull=False, own_expiry__lt=now)
    inherited = Q(retention_override=Meeting.Retention.INHERIT, workspace__retention__isnull=False,
                  workspace_expiry__lt=now)
    return (Meeting.objects.filter(status__in=Meeting.ENDED, deleting_at__isnull=True)
            .annotate(own_expiry=expiry(F("retention")), workspace_expiry=expiry(F("workspace__retention")))
            .filter(own | inherited)
            .order_by(ended, "pk"))


def effective_retention(meeting):
    """The age (a timedelta) after which ``meeting`` goes once ended, or None when it is kept."""
    if meeting.retention_override == Meeting.Retention.KEEP:
        return None
    if meeting.retention_override == Meeting.Retention.DELETE:
        return meeting.retention
    return meeting.workspace.retention


def due_at(meeting):
    """When ``meeting`` is deleted under its policy (a datetime), or None: kept, or still active."""
    retention = effective_retention(meeting)
    if retention is None or meeting.status not in Meeting.ENDED:
        return None
    return (meeting.ended_at or meeting.created_at) + retention


def describe(retention):
    """A retention in words: "keep", "36 hours", "30 days"."""
    if retention is None:
        return "keep"
    if retention % timedelta(days=1) == timedelta(0):
        days = retention.days
        return f"{days} day{'s' if days != 1 else ''}"
    hours = round(retention / timedelta(hours=1))
    return f"{hours} hour{'s' if hours != 1 else ''}"


# -- remote copies -----------------------------------------------------------------------------

_COPY_FINDERS = []


def remote_copies(finder):
    """Register ``finder(meeting) -> [(provider, remote_id)]``: copies a provider holds. A decorator."""
    _COPY_FINDERS.append(finder)
    return finder


def copies_of(meeting):
    """Every provider copy of ``meeting``, as ``[(provider, remote_id)]``, without duplicates."""
    found = []
    for finder in _COPY_FINDERS:
        for copy in finder(meeting):
            if copy not in found:
                found.append(copy)
    return found


@remote_copies
def _symbl_conversation(meeting):
    """Symbl keeps the conversation of a meeting that ran on the symbl engine."""
    from streaming.models import SymblSession

    ids = SymblSession.objects.filter(meeting=meeting).exclude(conversation_id="").values_list("conversation_id",
                                                                                               flat=True)
    return [(Provider.SYMBL, conversation_id) for conversation_id in ids]


@remote_copies
def _bot_recordings(meeting):
    """The bot vendor keeps a bot's recording and transcript."""
    from .bots.retention import bot_copies

    return bot_copies(meeting)


def delete_symbl_conversation(workspace, conversation_id):
    """``DELETE {SYMBL_API_URL}/v1/conversations/{conversationId}`` with ``workspace``'s Symbl account.

    Symbl answers an unknown id with 400 (or 404) "The conversationId is either invalid or does not
    exist.": already gone, so done. Raises :class:`RemoteDeletionError` otherwise. Source:
    https://docs.symbl.ai/docs/conversation-api/delete-conversation (api-contracts §6).
    """
    from streaming.engines.symbl.client import BadRequest, NotFound, SymblError
    from streaming.engines.symbl.credentials import client_for

    # The meeting is gone by now: a stand-in carries the workspace whose account to use.
    stand_in = Meeting(workspace=workspace, engine=Meeting.Engine.SYMBL)

    async def run():
        async with client_for(stand_in) as client:
            client.attempts = 1  # our own schedule retries, not the client's backoff
            await client.delete_conversation(conversation_id)

    try:
        async_to_sync(run)()
    except NotFound:
        return
    except BadRequest as exc:
        if "does not exist" in exc.message:
            return
        raise RemoteDeletionError(f"Symbl refused: {exc}") from None
    except SymblError as exc:
        raise RemoteDeletionError(f"Symbl: {exc}") from None


def delete_meetstream_bot(workspace, bot_id):
    """``DELETE {MEETSTREAM_API_URL}/bots/{bot_id}/delete`` with ``Authorization: Token <api_key>``
    from ``workspace``'s MeetStream account (api-contracts §11.1,
    https://docs.meetstream.ai/api-reference). 2xx is done unless the body says
    ``"success": false``; 404 is done (already gone). Raises :class:`RemoteDeletionError`.
    """
    account = ProviderAccount.objects.filter(workspace=workspace, provider=Provider.MEETSTREAM).first()
    key = account.secrets().get("api_key") if account else None
    if not key:
        raise RemoteDeletionError("No MeetStream API key is set for this workspace.")
    url = f"{settings.MEETSTREAM_API_URL}/bots/{quote(bot_id, safe='')}/delete"
    try:
        response = httpx.delete(url, headers={"Authorization": f"Token {key}"},
                                timeout=settings.PROVIDER_TIMEOUT_SECONDS)
    except httpx.HTTPError as exc:
        raise RemoteDeletionError(f"MeetStream could not be reached: {exc.__class__.__name__}: {exc}") from None
    if response.status_code == 404:
        return
    body = _json_or_none(response)
    if response.is_success and not (isinstance(body, dict) and body.get("success") is False):
        return
    raise RemoteDeletionError(f"MeetStream answered HTTP {response.status_code}: {_message(body, response)}")


def _json_or_none(response):
    try:
        return response.json()
    except ValueError:
        return None


def _message(body, response):
    if isinstance(body, dict):
        for key in ("message", "detail", "details", "error"):
            if body.get(key):
                return str(body[key])[:300]
    return response.text.strip()[:300] or response.reason_phrase


DELETERS = {
    Provider.SYMBL: delete_symbl_conversation,
    Provider.MEETSTREAM: delete_meetstream_bot,
}


# -- deleting ----------------------------------------------------------------------------------

# The meeting's rows, in deletion order: search entries first (the largest index), then the
# event log, the projections, the speakers they point at, and the engines' state.
def _row_sets():
    from streaming.models import SymblSession

    return [SearchEntry, MeetingEvent, Insight, Topic, Utterance, Speaker, Summary, SymblSession]


# Count keys of DeletionRecord.counts, by model label (cascaded rows are counted too).
COUNT_KEYS = {
    "meetings.SearchEntry": "search_entries",
    "meetings.MeetingEvent": "events",
    "meetings.Insight": "insights",
    "meetings.Insight_utterances": "insight_links",
    "meetings.Topic": "topics",
    "meetings.Topic_utterances": "topic_links",
    "meetings.Utterance": "utterances",
    "meetings.Speaker": "speakers",
    "meetings.Summary": "summary",
    "streaming.SymblSession": "symbl_sessions",
}


def delete_meeting(meeting, reason, actor=None, *, now=None):
    """Delete ``meeting`` (its recording, rows and provider copies); returns the
    :class:`DeletionRecord`, or None when another process claimed it first.

    ``reason``: a :class:`DeletionRecord.Reason`; ``actor``: the admin, or None for the system
    (retention). Must run in autocommit (not inside ``transaction.atomic``): each step commits.
    Calling it again for a meeting whose deletion crashed finishes the job.
    """
    record = claim_deletion(meeting, reason, actor, now=now)
    if record is None:
        return None
    return _finish(meeting, record)


def claim_deletion(meeting, reason, actor=None, *, now=None):
    """Step 1 of :func:`delete_meeting`: hide ``meeting`` at once and own its deletion.

    Sets ``deleting_at`` with a conditional UPDATE (whoever updates the row owns the deletion; a
    crashed claim is taken over by passing the meeting as read, ``deleting_at`` included) and writes
    the record, its remote deletions and the audit entry, all in one commit. Returns the
    :class:`DeletionRecord`, or None when someone else holds the claim.
    """
    now = now or timezone.now()
    with transaction.atomic():
        claimed = Meeting.objects.filter(pk=meeting.pk)
        claimed = (claimed.filter(deleting_at__isnull=True) if meeting.deleting_at is None
                   else claimed.filter(deleting_at=meeting.deleting_at))
        if not claimed.update(deleting_at=now):
            return None
        meeting.deleting_at = now
        record = DeletionRecord.objects.filter(workspace_id=meeting.workspace_id, meeting_id=meeting.pk).first()
        if record is None:
            record = DeletionRecord.objects.create(
                workspace_id=meeting.workspace_id, meeting_id=meeting.pk, meeting_title=meeting.title,
                meeting_created_at=meeting.created_at, reason=reason, started_at=now,
            )
            RemoteDeletion.objects.bulk_create(
                RemoteDeletion(record=record, provider=provider, remote_id=remote_id)
                for provider, remote_id in copies_of(meeting)
            )
            audit.record(actor, meeting.workspace, AuditEntry.Action.MEETING_DELETED, meeting,
                         meeting_id=meeting.pk, reason=reason)
    return record


def _finish(meeting, record):
    if meeting.recording.name:
        existed = meeting.recording.storage.exists(meeting.recording.name)
        meeting.recording.delete(save=False)
        Meeting.objects.filter(pk=meeting.pk).update(recording="")
        if existed:
            _add_counts(record, {"recording": 1})
    for model in _row_sets():
        _delete_in_batches(model.objects.filter(meeting_id=meeting.pk), record)
    with transaction.atomic():
        # Anything added since (nothing should be) goes with the row.
        _, deleted = Meeting.objects.filter(pk=meeting.pk).delete()
        _add_counts(record, {COUNT_KEYS.get(label, label): n for label, n in deleted.items()
                             if label != "meetings.Meeting" and n})
        record.finished_at = timezone.now()
        record.save(update_fields=["finished_at"])
    log.info("meeting %s deleted (%s): %s", record.meeting_id, record.reason, record.counts)
    # Failed ones (a resumed deletion) keep their backoff: retry_remote_deletions takes them.
    for remote in record.remote.filter(status=RemoteDeletion.Status.PENDING):
        attempt_remote_deletion(remote)
    return record


def _delete_in_batches(queryset, record):
    """Delete ``queryset`` in keyset-paginated batches of ``RETENTION_BATCH_SIZE``, each in its own
    transaction with its counts; returns the number of rows (cascades included)."""
    size = max(1, settings.RETENTION_BATCH_SIZE)
    after, total = 0, 0
    while True:
        with transaction.atomic():
            pks = list(queryset.filter(pk__gt=after).order_by("pk").values_list("pk", flat=True)[:size])
            if not pks:
                return total
            count, deleted = queryset.model.objects.filter(pk__in=pks).delete()
            _add_counts(record, {COUNT_KEYS.get(label, label): n for label, n in deleted.items() if n})
        after, total = pks[-1], total + count


def _add_counts(record, counts):
    # Re-read under the batch's transaction so a resumed deletion adds to what was counted.
    current = DeletionRecord.objects.filter(pk=record.pk).values_list("counts", flat=True).get()
    for key, n in counts.items():
        current[key] = current.get(key, 0) + n
    DeletionRecord.objects.filter(pk=record.pk).update(counts=current)
    record.counts = current


def attempt_remote_deletion(remote, now=None):
    """Try ``remote`` once: DONE on success (or when the provider no longer has it), else FAILED
    with the error and the next attempt's time. Returns the status; None when another process
    claimed this attempt."""
    now = now or timezone.now()
    # Claim the attempt; the provisional next_attempt_at keeps a crashed attempt retried later.
    claimed = RemoteDeletion.objects.filter(pk=remote.pk, attempts=remote.attempts).exclude(
        status=RemoteDeletion.Status.DONE).update(attempts=F("attempts") + 1, next_attempt_at=now + RETRY_BASE)
    if not claimed:
        return None
    remote.refresh_from_db()
    deleter = DELETERS.get(remote.provider)
    try:
        if deleter is None:
            raise RemoteDeletionError(f"Parley cannot delete {remote.provider} copies.")
        deleter(remote.record.workspace, remote.remote_id)
    except RemoteDeletionError as exc:
        remote.status, remote.last_error = RemoteDeletion.Status.FAILED, str(exc)
        remote.next_attempt_at = now + min(RETRY_MAX, RETRY_BASE * 2 ** (remote.attempts - 1))
        log.warning("remote deletion %s (%s %s) failed, attempt %d: %s", remote.pk, remote.provider,
                    remote.remote_id, remote.attempts, exc)
    else:
        remote.status, remote.last_error = RemoteDeletion.Status.DONE, ""
        remote.next_attempt_at, remote.done_at = None, timezone.now()
    remote.save(update_fields=["status", "last_error", "next_attempt_at", "done_at"])
    return remote.status


def retry_remote_deletions(now=None, limit=None):
    """Attempt the remote deletions that are due (failed ones past ``next_attempt_at``, pending ones
    never attempted); returns ``{status: count}``."""
    now = now or timezone.now()
    limit = REMOTE_PER_RUN if limit is None else limit
    due = (RemoteDeletion.objects.exclude(status=RemoteDeletion.Status.DONE)
           .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
           .select_related("record__workspace").order_by("next_attempt_at", "pk")[:limit])
    outcome = {}
    for remote in due:
        status = attempt_remote_deletion(remote, now)
        if status is not None:
            outcome[status] = outcome.get(status, 0) + 1
    return outcome


def stalled_deletions(now=None):
    """Meetings whose deletion was claimed more than :data:`STALLED_AFTER` ago and never finished."""
    now = now or timezone.now()
    return Meeting.objects.filter(deleting_at__lt=now - STALLED_AFTER).order_by("deleting_at", "pk")


def apply(now=None, limit=None):
    """One retention run: resume stalled deletions, delete up to ``limit`` (default
    :data:`MEETINGS_PER_RUN`) meetings in all, retry due remote deletions.

    Returns ``{"resumed": n, "deleted": n, "remote": {status: count}}``.
    """
    now = now or timezone.now()
    limit = MEETINGS_PER_RUN if limit is None else limit
    resumed = deleted = 0
    for meeting in stalled_deletions(now)[:limit]:
        record = DeletionRecord.objects.filter(meeting_id=meeting.pk, workspace_id=meeting.workspace_id).first()
        reason = record.reason if record else DeletionRecord.Reason.RETENTION
        resumed += delete_meeting(meeting, reason, now=now) is not None
    for meeting in expired_meetings(now).select_related("workspace")[:max(0, limit - resumed)]:
        deleted += delete_meeting(meeting, DeletionRecord.Reason.RETENTION, now=now) is not None
    return {"resumed": resumed, "deleted": deleted, "remote": retry_remote_deletions(now)}
