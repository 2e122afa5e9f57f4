"""The one persister: every protocol event goes through :func:`persist_event`.

In one transaction it validates the event, drops a redelivered one (same provider ids),
appends it to the meeting's event log with the next sequence number and projects it onto the
hub tables (utterances, insights, topics, summary, status). Only after the commit is the event
published to the meeting's Channels group, so a browser never sees an event the log lacks.
"""
import logging
import time
from datetime import date

from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import IntegrityError, InterfaceError, OperationalError, connection, transaction
from django.utils import timezone

from meetings.models import Insight, Meeting, MeetingEvent, Speaker, Summary, Topic, Utterance

from . import events

log = logging.getLogger(__name__)

# Which status may follow which. A runner that lost its lease must not move a meeting back.
TRANSITIONS = {
    "scheduled": {"connecting", "live", "stopping", "failed"},
    "connecting": {"live", "stopping", "failed"},
    "live": {"stopping", "processing", "failed"},
    "stopping": {"processing", "completed", "failed"},
    "processing": {"completed", "failed"},
    "completed": set(),
    "failed": set(),
}

INTERIM_PREFIX = "interim:"


class TransitionError(events.ProtocolError):
    """A session_status event that would move a meeting along an edge TRANSITIONS lacks."""


class LeaseLost(RuntimeError):
    """The runner writing for a meeting no longer holds its lease: another runner took over."""


def persist_event(meeting_id, event, runner_id=None):
    """Store ``event`` for the meeting and publish it after commit.

    ``runner_id`` fences a session runner's writes: when given, the event is stored only while
    that runner holds the meeting's lease, else :class:`LeaseLost` is raised (a runner that was
    presumed dead and replaced must not write beside its successor).

    Returns the new :class:`MeetingEvent`, or ``None`` when the event was malformed (logged)
    or a duplicate of one already stored. Never raises for bad events: a malformed event must
    not end a session.
    """
    try:
        kind = events.validate(event)
    except events.ProtocolError as exc:
        log.warning("meeting %s: rejected malformed event: %s: %r", meeting_id, exc, event)
        return None
    key = events.dedupe_key(event)
    # PostgreSQL briefly unreachable (a restart, a fail-over, a network blip): reconnect and
    # retry with backoff rather than lose the event; the lease fence still applies on retry.
    deadline = time.monotonic() + settings.PERSIST_RETRY_SECONDS
    delay = 0.1
    while True:
        try:
            with transaction.atomic():
                return _append(meeting_id, kind, event, key, runner_id)
        except TransitionError as exc:
            log.warning("meeting %s: %s", meeting_id, exc)
            return None
        except IntegrityError:
            # Two writers raced on the same dedupe key: the other one stored it.
            log.info("meeting %s: duplicate %s dropped", meeting_id, key)
            return None
        except (OperationalError, InterfaceError) as exc:
            # Inside a caller's transaction a reconnect would silently drop its work: let it fail.
            if connection.in_atomic_block or time.monotonic() + delay > deadline:
                raise
            log.warning("meeting %s: database unavailable (%s), retrying in %.1f s", meeting_id, exc, delay)
            connection.close()
            time.sleep(delay)
            delay = min(delay * 2, 2.0)


apersist_event = sync_to_async(persist_event)


def _append(meeting_id, kind, event, key, runner_id):
    # Locking the meeting row serialises sequence numbers per meeting on PostgreSQL;
    # SQLite serialises all writers anyway.
    meeting = Meeting.objects.select_for_update().get(pk=meeting_id)
    if runner_id is not None and meeting.runner_id != runner_id:
        raise LeaseLost(f"meeting {meeting_id} is held by {meeting.runner_id or 'no runner'}, not {runner_id}")
    if key and MeetingEvent.objects.filter(meeting=meeting, dedupe_key=key).exists():
        log.info("meeting %s: duplicate %s dropped", meeting_id, key)
        return None
    _project(meeting, kind, event)
    meeting.last_seq += 1
    stored = MeetingEvent.objects.create(
        meeting=meeting, seq=meeting.last_seq, type=kind, payload=event, dedupe_key=key
    )
    Meeting.objects.filter(pk=meeting.pk).update(last_seq=meeting.last_seq)
    transaction.on_commit(lambda: publish(meeting.pk, stored.seq, event))
    return stored


def publish(meeting_id, seq, event):
    """Fan an event out to every browser watching the meeting (call only after commit)."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(
            f"meeting.{meeting_id}", {"type": "meeting.event", "seq": seq, "event": event}
        )
    except Exception:
        # The event is in the log: a browser that missed it catches up by sequence number.
        log.exception("meeting %s: publishing event %s failed", meeting_id, seq)


def _project(meeting, kind, event):
    handler = _PROJECTORS.get(kind)
    if handler:
        handler(meeting, event)


def _speaker(meeting, who):
    """Get or create the speaker for a Symbl ``user``/``from`` object (None when absent)."""
    key = events.speaker_key(who)
    if not key:
        return None
    name = str(who.get("name") or key)
    speaker, _ = Speaker.objects.get_or_create(meeting=meeting, key=key, defaults={"name": name})
    return speaker


def _project_recognition_result(meeting, event):
    message = event["message"]
    speaker = _speaker(meeting, message.get("user"))
    if message["isFinal"]:
        # Symbl follows a final result with a message_response; that is what becomes an utterance.
        return
    interim_id = INTERIM_PREFIX + (speaker.key if speaker else "-")
    offset = int(event.get("timeOffset") or 0)
    Utterance.objects.update_or_create(
        meeting=meeting,
        message_id=interim_id,
        defaults={
            "speaker": speaker,
            "text": message["punctuated"]["transcript"],
            "start_ms": offset,
            "end_ms": offset,
            "is_final": False,
        },
    )


def message_span_ms(message):
    """``(start_ms, end_ms)`` of a ``message_response`` message (its ``duration`` is in seconds)."""
    duration = message.get("duration") or {}
    start_ms = round(float(duration.get("timeOffset") or 0) * 1000)
    return start_ms, start_ms + round(float(duration.get("duration") or 0) * 1000)


def _project_message_response(meeting, event):
    for message in event["messages"]:
        speaker = _speaker(meeting, message.get("from"))
        start_ms, end_ms = message_span_ms(message)
        Utterance.objects.get_or_create(
            meeting=meeting,
            message_id=message["id"],
            defaults={
                "speaker": speaker,
                "text": message["payload"]["content"].strip(),
                "start_ms": start_ms,
                "end_ms": end_ms,
                "is_final": True,
            },
        )
        # The final text replaces the speaker's provisional line.
        interim_id = INTERIM_PREFIX + (speaker.key if speaker else "-")
        Utterance.objects.filter(meeting=meeting, message_id=interim_id).delete()


def _project_message_correction(meeting, event):
    for message in event["messages"]:
        utterance = Utterance.objects.filter(meeting=meeting, message_id=message["id"], is_final=True).first()
        if utterance is None:
            # Nothing was delivered under this id: the correction is the utterance.
            _project_message_response(meeting, {"messages": [message]})
            continue
        speaker = _speaker(meeting, message.get("from")) or utterance.speaker
        start_ms, end_ms = message_span_ms(message)
        if "duration" not in message:
            start_ms, end_ms = utterance.start_ms, utterance.end_ms
        moved = speaker != utterance.speaker
        utterance.text = message["payload"]["content"].strip()
        utterance.speaker = speaker
        utterance.start_ms, utterance.end_ms = start_ms, end_ms
        # Updated in place (same row, same message id: links stay valid); saving through the ORM
        # is what keeps its search entry current (meetings.search's post_save handler).
        utterance.save(update_fields=["text", "speaker", "start_ms", "end_ms"])
        if moved:
            # Who said an insight is who said its first utterance: refresh their search entries too.
            for insight in utterance.insights.all():
                insight.save(update_fields=["text"])


def _parse_due(insight):
    due = insight.get("dueBy")
    value = due.get("value") if isinstance(due, dict) else None
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def _project_insight_response(meeting, event):
    for item in event["insights"]:
        assignee = item.get("assignee") if isinstance(item.get("assignee"), dict) else {}
        insight, created = Insight.objects.get_or_create(
            meeting=meeting,
            provider_id=item["id"],
            defaults={
                "type": item["type"],
                "text": events.insight_text(item),
                "assignee": str(assignee.get("name") or "")[:200],
                "due": _parse_due(item),
            },
        )
        if created:
            refs = events.insight_message_ids(item)
            if refs:
                insight.utterances.set(Utterance.objects.filter(meeting=meeting, message_id__in=refs))


def _project_topic_response(meeting, event):
    for item in event["topics"]:
        phrase = item["phrases"].strip()[:200]
        topic, _ = Topic.objects.update_or_create(
            meeting=meeting, phrase=phrase, defaults={"score": float(item.get("score") or 0)}
        )
        refs = [r["id"] for r in item.get("messageReferences") or [] if isinstance(r, dict) and r.get("id")]
        if refs:
            topic.utterances.set(Utterance.objects.filter(meeting=meeting, message_id__in=refs))


def _project_summary_response(meeting, event):
    text = " ".join(part["text"].strip() for part in event["summary"] if part["text"].strip())
    Summary.objects.update_or_create(meeting=meeting, defaults={"text": text})


def _project_session_status(meeting, event):
    new = event["status"]
    if new == meeting.status:
        return
    if new not in TRANSITIONS[meeting.status]:
        raise TransitionError(f"status cannot go from {meeting.status} to {new}")
    changes = {"status": new}
    now = timezone.now()
    if new == "live" and not meeting.started_at:
        changes["started_at"] = now
    if new in Meeting.ENDED:
        changes["ended_at"] = now
        changes["runner_id"] = ""
        changes["lease_expires_at"] = None
        # Provisional text never outlives the session.
        Utterance.objects.filter(meeting=meeting, is_final=False).delete()
        # Its summary e-mail, if anyone is to get one (queued after this commit).
        from telephony.notify import session_ended

        session_ended(meeting.pk)
    if new == "failed":
        changes["failure_reason"] = event.get("reason") or "The session failed."
    Meeting.objects.filter(pk=meeting.pk).update(**changes)
    for field, value in changes.items():
        setattr(meeting, field, value)


def _project_progress(meeting, event):
    Meeting.objects.filter(pk=meeting.pk).update(progress=event["percent"])


_PROJECTORS = {
    "recognition_result": _project_recognition_result,
    "message_response": _project_message_response,
    "message_correction": _project_message_correction,
    "insight_response": _project_insight_response,
    "topic_response": _project_topic_response,
    "summary_response": _project_summary_response,
    "session_status": _project_session_status,
    "progress": _project_progress,
}
