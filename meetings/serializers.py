"""The meeting as JSON: the API's shape, also the live page's snapshot."""
from django.db import transaction

from streaming import events

from .models import Meeting, MeetingEvent

# A provisional line is read from this many of the meeting's latest events: engines finalise what
# a speaker says within seconds, so an older partial result has been replaced (or abandoned).
PROVISIONAL_WINDOW = 200
INTERIM_PREFIX = "interim:"


def _iso(value):
    return value.isoformat() if value else None


def meeting_summary(meeting):
    """The list shape: the meeting without its transcript."""
    return {
        "id": meeting.pk,
        "title": meeting.title,
        "source": meeting.source,
        "engine": meeting.engine,
        "status": meeting.status,
        "failure_reason": meeting.failure_reason,
        "created_at": _iso(meeting.created_at),
        "started_at": _iso(meeting.started_at),
        "ended_at": _iso(meeting.ended_at),
        "duration_ms": meeting.duration_ms,
        "progress": meeting.progress,
    }


def meeting_detail(meeting):
    """The full shape: speakers, utterances (ms), insights, topics and summary.

    ``utterances``: ``[{id, message_id, speaker, start_ms, end_ms, text, is_final}]``: the final
    ones, then while the session is live each speaker's provisional line (``id`` null,
    ``message_id`` ``interim:<speaker key>``, ``is_final`` false; see :func:`provisional_lines`);
    ``insights``: ``[{id, type, text, assignee, due, done, utterance_ids}]``.
    """
    speaker_rows = list(meeting.speakers.all())
    speakers = {s.pk: s.name for s in speaker_rows}
    utterances = list(meeting.utterances.all())
    by_id = {u.pk: u for u in utterances}
    insights = meeting.insights.prefetch_related("utterances")
    topics = meeting.topics.prefetch_related("utterances")
    summary = getattr(meeting, "summary", None)
    data = meeting_summary(meeting)
    data.update(
        speakers=[{"id": pk, "name": name} for pk, name in speakers.items()],
        utterances=[
            {
                "id": u.pk,
                "message_id": u.message_id,
                "speaker": speakers.get(u.speaker_id),
                "start_ms": u.start_ms,
                "end_ms": u.end_ms,
                "text": u.text,
                "is_final": True,
            }
            for u in utterances
        ] + provisional_lines(meeting, {s.key: s.name for s in speaker_rows}),
        insights=[
            {
                "id": i.provider_id,
                "type": i.type,
                "text": i.text,
                "assignee": i.assignee or None,
                "due": _iso(i.due),
                "done": i.done,
                "utterance_ids": [u.pk for u in i.utterances.all() if u.pk in by_id],
            }
            for i in insights
        ],
        topics=[
            {"phrase": t.phrase, "score": t.score, "utterance_ids": [u.pk for u in t.utterances.all()]}
            for t in topics
        ],
        summary=summary.text if summary else "",
    )
    return data


def provisional_lines(meeting, names=None):
    """What each speaker is saying right now: per speaker, the text of their latest partial
    ``recognition_result`` that no ``message_response`` of theirs has replaced yet, among the
    meeting's last :data:`PROVISIONAL_WINDOW` events; none once the session has ended.

    ``[{id: None, message_id: "interim:<speaker key>" ("interim:-" without one), speaker, start_ms,
    end_ms, text, is_final: False}]`` oldest first; ``start_ms`` = ``end_ms`` = the result's
    ``timeOffset``. ``names`` maps speaker keys to the names Parley shows (renamed speakers);
    otherwise the result's own ``user`` name is used.

    Partial results are not projected onto rows (streaming.persist): they are most of a live
    meeting's events, and the log already holds them.
    """
    if meeting.status in Meeting.ENDED:
        return []
    names = names or {}
    rows = (MeetingEvent.objects.filter(meeting=meeting, seq__gt=meeting.last_seq - PROVISIONAL_WINDOW,
                                        type__in=("recognition_result", "message_response"))
            .order_by("-seq").values_list("type", "payload"))
    lines, replaced = {}, set()
    for kind, payload in rows:  # newest first
        if kind == "message_response":
            replaced.update(events.speaker_key(m.get("from")) for m in payload["messages"])
            continue
        message = payload["message"]
        key = events.speaker_key(message.get("user"))
        if message["isFinal"] or key in replaced or key in lines:
            continue
        user = message.get("user") or {}
        offset = int(payload.get("timeOffset") or 0)
        lines[key] = {"id": None, "message_id": INTERIM_PREFIX + (key or "-"),
                      "speaker": names.get(key) or str(user.get("name") or key) or None,
                      "start_ms": offset, "end_ms": offset, "text": message["punctuated"]["transcript"],
                      "is_final": False}
    return list(reversed(lines.values()))


def snapshot(meeting_id):
    """``(seq, detail)`` read in one transaction, so the detail is exactly the state at ``seq``.

    The persister locks the meeting row while it appends, so taking the same lock here keeps a
    concurrent event out of the snapshot (PostgreSQL reads at READ COMMITTED otherwise).
    """
    with transaction.atomic():
        meeting = Meeting.objects.select_for_update().get(pk=meeting_id)
        return meeting.last_seq, meeting_detail(meeting)
