"""Import real transcripts as completed meetings: QMSum meeting files and Parley JSON exports.

Formats (recognised by shape, never by file name):

- **QMSum** (https://github.com/Yale-LILY/QMSum, ``data/ALL/*/*.json``): a JSON object with
  ``meeting_transcripts: [{"speaker": str, "content": str}]``. Corpus annotation tokens are
  stripped with :func:`streaming.insights.text.clean`; turns left empty are dropped. QMSum keeps
  no times, so each turn is given ``WORD_MS`` per word (150 words a minute, at least ``MIN_TURN_MS``)
  and turns follow each other ``GAP_MS`` apart: estimated, not measured, timestamps.
- **Parley JSON export** (``GET /api/v1/meetings/<id>/transcript.json``, the API's meeting shape):
  a JSON object with ``title`` and ``utterances: [{"speaker", "start_ms", "end_ms", "text"}]``;
  its insights (with done state), topics and summary come along when present.

Everything goes through the one persister as protocol events, in one transaction, so an import
either lands whole (a completed meeting with speakers, utterances, insights, topics, summary and
its event log) or not at all. Transcripts without insights get them from the local engine's
text pipeline (:class:`streaming.insights.InsightPipeline`).
"""
import json
from dataclasses import dataclass, field
from datetime import date, datetime

from django.db import transaction
from django.utils import timezone

from streaming import events
from streaming.insights import InsightPipeline
from streaming.insights import Utterance as PipelineUtterance
from streaming.insights.pipeline import speaker_key
from streaming.insights.text import clean
from streaming.persist import persist_event

from .models import Insight, Meeting

WORD_MS = 400
MIN_TURN_MS = 600
GAP_MS = 200

EXPECTED = (
    'expected a QMSum meeting file (a JSON object with "meeting_transcripts": [{"speaker", "content"}, …]) '
    'or a Parley JSON export (a JSON object with "title" and "utterances": [{"speaker", "start_ms", "end_ms", '
    '"text"}, …])'
)


class TranscriptFormatError(ValueError):
    """The file is not a transcript Parley can import; the message says what was expected."""


@dataclass
class Transcript:
    """A parsed transcript. ``utterances``: ``[(message_id, speaker, text, start_ms, end_ms)]``."""

    title: str
    format: str
    utterances: list
    engine: str = Meeting.Engine.LOCAL
    started_at: datetime | None = None
    insights: list = field(default_factory=list)
    topics: list = field(default_factory=list)
    summary: str = ""


def parse(raw, *, name="transcript"):
    """Parse the bytes or text of a transcript file; raise :class:`TranscriptFormatError`."""
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise TranscriptFormatError(f"{name} is not JSON ({exc}): {EXPECTED}.") from None
    if isinstance(data, dict) and isinstance(data.get("meeting_transcripts"), list):
        return _qmsum(data, name)
    if isinstance(data, dict) and isinstance(data.get("utterances"), list) and "title" in data:
        return _parley(data, name)
    raise TranscriptFormatError(f"{name} is in an unknown format: {EXPECTED}.")


def _qmsum(data, name):
    utterances, clock = [], 0
    for index, turn in enumerate(data["meeting_transcripts"]):
        if not isinstance(turn, dict) or not isinstance(turn.get("content"), str):
            raise TranscriptFormatError(f'{name}: turn {index} has no "content" string: {EXPECTED}.')
        text = clean(turn["content"])
        if not text:
            continue
        speaker = str(turn.get("speaker") or "Unknown speaker").strip()
        length = max(MIN_TURN_MS, WORD_MS * len(text.split()))
        utterances.append((f"qmsum-{index}", speaker, text, clock, clock + length))
        clock += length + GAP_MS
    if not utterances:
        raise TranscriptFormatError(f"{name}: the QMSum file has no turns with text.")
    return Transcript(title=name, format="qmsum", utterances=utterances)


def _parley(data, name):
    utterances = []
    for index, u in enumerate(data["utterances"]):
        try:
            if u.get("is_final") is False:
                continue
            start, end = int(u["start_ms"]), int(u["end_ms"])
            text = str(u["text"]).strip()
            if start < 0 or end < start:
                raise ValueError("times out of order")
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise TranscriptFormatError(f"{name}: utterance {index} is malformed ({exc}): {EXPECTED}.") from None
        if text:
            message_id = str(u.get("message_id") or f"import-{u.get('id', index)}")
            utterances.append((message_id, str(u.get("speaker") or "Unknown speaker"), text, start, end, u.get("id")))
    if not utterances:
        raise TranscriptFormatError(f"{name}: the Parley export has no utterances.")
    started = data.get("started_at")
    try:
        started = datetime.fromisoformat(started) if isinstance(started, str) else None
    except ValueError:
        started = None
    engine = data.get("engine") if data.get("engine") in Meeting.Engine.values else Meeting.Engine.LOCAL
    by_old_id = {u[5]: u[0] for u in utterances if u[5] is not None}
    insights = []
    for item in data.get("insights") or []:
        if not isinstance(item, dict) or item.get("type") not in Insight.Type.values or not item.get("text"):
            continue
        due = item.get("due")
        try:
            due = date.fromisoformat(due[:10]) if isinstance(due, str) else None
        except ValueError:
            due = None
        refs = [by_old_id[i] for i in item.get("utterance_ids") or [] if i in by_old_id]
        insights.append((item, due, refs))
    topics = [
        (t["phrase"], float(t.get("score") or 0), [by_old_id[i] for i in t.get("utterance_ids") or [] if i in by_old_id])
        for t in data.get("topics") or [] if isinstance(t, dict) and isinstance(t.get("phrase"), str)
    ]
    return Transcript(
        title=str(data.get("title") or name)[:200], format="parley", engine=engine, started_at=started,
        utterances=[u[:5] for u in utterances], insights=insights, topics=topics,
        summary=str(data.get("summary") or ""),
    )


def import_transcript(transcript, owner, workspace, *, title=None):
    """Store a parsed :class:`Transcript` as a completed meeting of ``workspace`` owned by ``owner``; returns it.

    All or nothing: any failure rolls the whole import back.
    """
    with transaction.atomic():
        meeting = Meeting.objects.create(
            title=(title or transcript.title)[:200], source=Meeting.Source.IMPORT, engine=transcript.engine,
            owner=owner, workspace=workspace, duration_ms=max(u[4] for u in transcript.utterances),
        )
        _emit(meeting, events.session_status("live"))
        if transcript.started_at:
            started = transcript.started_at
            if timezone.is_naive(started):
                started = timezone.make_aware(started)
            Meeting.objects.filter(pk=meeting.pk).update(started_at=started)
        else:
            started = timezone.now()
        use_pipeline = not (transcript.insights or transcript.topics or transcript.summary)
        pipeline = InsightPipeline(reference_time=started, speakers={u[1] for u in transcript.utterances},
                                   topic_every=0)
        for message_id, speaker, text, start_ms, end_ms in transcript.utterances:
            user = events.user_ref(speaker_key(speaker), speaker)
            _emit(meeting, events.message_response(message_id, text, user=user, start_ms=start_ms, end_ms=end_ms))
            if use_pipeline:
                for event in pipeline.add(PipelineUtterance(message_id, speaker, text, start_ms, end_ms)):
                    _emit(meeting, event)
        if use_pipeline:
            for event in pipeline.finish():
                _emit(meeting, event)
        else:
            _emit_exported(meeting, transcript)
        _emit(meeting, events.session_status("processing"))
        _emit(meeting, events.session_status("completed"))
        meeting.refresh_from_db()
    return meeting


def _emit_exported(meeting, transcript):
    if transcript.insights:
        _emit(meeting, events.insight_response(
            events.insight(str(item.get("id") or events.new_id()), item["type"], item["text"], message_ids=refs,
                           assignee=item.get("assignee"), due=due)
            for item, due, refs in transcript.insights
        ))
        done = [str(item["id"]) for item, _, _ in transcript.insights if item.get("done") and item.get("id")]
        for insight in meeting.insights.filter(provider_id__in=done):
            insight.done = True
            insight.save(update_fields=["done"])
    if transcript.topics:
        _emit(meeting, events.topic_response(events.topic(p, s, refs) for p, s, refs in transcript.topics))
    if transcript.summary:
        _emit(meeting, events.summary_response([(transcript.summary, [])]))


def _emit(meeting, event):
    if persist_event(meeting.pk, event) is None:
        raise TranscriptFormatError(f"the transcript could not be stored: event {events.event_type(event)} "
                                    "was rejected (see the log)")


def import_file(path, owner, workspace, *, title=None):
    """Parse and import the file at ``path``; raises :class:`TranscriptFormatError` or ``OSError``."""
    with open(path, "rb") as handle:
        raw = handle.read()
    name = str(path).rsplit("/", 1)[-1].rsplit(".", 1)[0]
    return import_transcript(parse(raw, name=name), owner, workspace, title=title)
