"""The meeting as JSON: the API's shape, also the live page's snapshot."""
from django.db import transaction

from .models import Meeting


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

    ``utterances``: ``[{id, message_id, speaker, start_ms, end_ms, text, is_final}]``;
    ``insights``: ``[{id, type, text, assignee, due, done, utterance_ids}]``.
    """
    speakers = {s.pk: s.name for s in meeting.speakers.all()}
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
                "is_final": u.is_final,
            }
            for u in utterances
        ],
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


def snapshot(meeting_id):
    """``(seq, detail)`` read in one transaction, so the detail is exactly the state at ``seq``.

    The persister locks the meeting row while it appends, so taking the same lock here keeps a
    concurrent event out of the snapshot (PostgreSQL reads at READ COMMITTED otherwise).
    """
    with transaction.atomic():
        meeting = Meeting.objects.select_for_update().get(pk=meeting_id)
        return meeting.last_seq, meeting_detail(meeting)
