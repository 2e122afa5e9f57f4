"""The one persister: every protocol event goes through :func:`persist_event` (or, from a session
runner's event loop, :func:`apersist_event`, which stores concurrent events in batches).

In one transaction it validates the event, drops a redelivered one (same provider ids),
appends it to the meeting's event log with the next sequence number and projects it onto the
hub tables (utterances, insights, topics, summary, status). Only after the commit is the event
published to the meeting's Channels group, so a browser never sees an event the log lacks.
"""
import asyncio
import functools
import json
import logging
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import date

from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import DatabaseError, IntegrityError, InterfaceError, OperationalError, connection, transaction
from django.utils import timezone

from meetings import search
from meetings.models import Insight, Meeting, MeetingEvent, Speaker, Summary, Topic, Utterance

from . import events
from .loops import loop_local

log = logging.getLogger(__name__)

# Browsers watch through a channel layer of their own (settings.CHANNEL_LAYERS): on Redis it is
# the pub/sub layer, so an event crosses Redis once per Daphne process, not once per socket.
LIVE_LAYER = "live"

# At most this many events share one transaction (a runner's sessions emit concurrently).
BATCH_MAX = 200
# From this many meetings storing events within a second, a batcher paces its transactions
# (settings.PERSIST_INTERVAL_MS); with fewer, each event is stored as soon as it can be.
BUSY_MEETINGS = 10

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
    [(stored, error)] = _store_batch([(meeting_id, event, runner_id)])
    if error is not None:
        raise error
    if stored is not None:
        # Inside a caller's transaction, publishing waits for that transaction's commit.
        transaction.on_commit(lambda: publish(meeting_id, stored.seq, event, stored.payload_json))
    return stored


async def apersist_event(meeting_id, event, runner_id=None):
    """:func:`persist_event` for async callers. Events that arrive while a batch is being stored
    are stored together in the next one (one transaction, one commit), then published in order
    from the event loop; the caller resumes once its event is committed."""
    return await _Batcher.for_meeting(meeting_id).submit(meeting_id, event, runner_id)


class _Batcher:
    """A queue of pending events and one task draining it in batches, paced while many meetings
    are storing events (see :meth:`_drain`). There is one per event loop and shard: with
    ``PERSIST_THREADS`` > 1 meetings are spread over that many threads, each with its own
    connection; a meeting always goes to the same shard, which keeps its order. With one (the
    default) the batches run where Django's other sync code runs."""

    _by_shard = {}

    @classmethod
    def for_meeting(cls, meeting_id):
        threads = max(1, settings.PERSIST_THREADS)
        return loop_local(cls._by_shard, (threads, meeting_id % threads), lambda: cls(threads), close=cls.close)

    def __init__(self, threads):
        self.interval = settings.PERSIST_INTERVAL_MS / 1000
        self.last_batch_at = float("-inf")
        self.second, self.meetings, self.busy = 0, set(), False  # meetings seen this second
        self.pending = []
        self.draining = None
        self.published = asyncio.Queue()
        self.publisher = None
        if threads == 1:
            self.executor = None
            self.store = sync_to_async(_store_batch)
        else:
            self.executor = ThreadPoolExecutor(1, thread_name_prefix="persist")
            self.store = functools.partial(asyncio.get_running_loop().run_in_executor, self.executor, _store_batch)

    def close(self):
        if self.executor is not None:
            self.executor.submit(connection.close)
            self.executor.shutdown(wait=False)

    async def submit(self, meeting_id, event, runner_id):
        future = asyncio.get_running_loop().create_future()
        entry = ((meeting_id, event, runner_id), future)
        self.pending.append(entry)
        if self.draining is None or self.draining.done():
            self.draining = asyncio.ensure_future(self._drain())
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            # A cancelled caller (a runner stopped or replaced) stores nothing after it returns:
            # an event not yet in a batch is withdrawn; one being stored is waited for, since a
            # transaction in a thread cannot be stopped.
            if any(e is entry for e in self.pending):
                self.pending = [e for e in self.pending if e is not entry]
            else:
                await asyncio.wait([future])
                future.exception()  # retrieved: its caller is gone, and its outcome with it
            raise

    async def _drain(self):
        loop = asyncio.get_running_loop()
        while self.pending:
            # With many sessions live, at most one transaction per interval: their events share
            # it, and its fixed cost (BEGIN, the sequence numbers, the log's INSERT, COMMIT: four
            # round trips, and a disk flush). Paced so, a hundred sessions' events cost a few
            # dozen transactions a second instead of hundreds, for at most an interval of delay.
            # A session or two are never held back: their events are stored at once.
            if self.busy:
                wait = self.last_batch_at + self.interval - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
            self.last_batch_at = now = loop.time()
            batch, self.pending = self.pending[:BATCH_MAX], self.pending[BATCH_MAX:]
            self._count(now, batch)
            try:
                results = await self.store([item for item, _ in batch])
            except BaseException as exc:  # the database stayed away past the retry deadline
                results = [(None, exc)] * len(batch)
            for ((meeting_id, event, _), future), (stored, error) in zip(batch, results):
                if stored is not None:
                    self.published.put_nowait((meeting_id, stored.seq, event, stored.payload_json))
                if error is not None:
                    future.set_exception(error)
                else:
                    future.set_result(stored)
            if not self.published.empty() and (self.publisher is None or self.publisher.done()):
                self.publisher = asyncio.ensure_future(self._publish())

    def _count(self, now, batch):
        """Busy: events of BUSY_MEETINGS meetings or more this second or the one before."""
        second = int(now)
        if second != self.second:
            self.busy = second == self.second + 1 and len(self.meetings) >= BUSY_MEETINGS
            self.second, self.meetings = second, set()
        self.meetings.update(meeting_id for (meeting_id, _, _), _ in batch)
        self.busy = self.busy or len(self.meetings) >= BUSY_MEETINGS

    async def _publish(self):
        # Publishing overlaps the next batch's database work, and keeps each meeting's order.
        while not self.published.empty():
            await apublish(*self.published.get_nowait())


def _store_batch(items):
    """Store ``[(meeting_id, event, runner_id)]`` in one transaction; ``[(MeetingEvent | None,
    exception | None)]`` in order. An item that spoils the batch (a lost lease, a forbidden status
    change, a racing duplicate, a meeting that is gone, a value the database refuses) sends every
    item through a transaction of its own instead."""
    checked = []
    for meeting_id, event, runner_id in items:
        try:
            kind = events.validate(event)
        except events.ProtocolError as exc:
            log.warning("meeting %s: rejected malformed event: %s: %r", meeting_id, exc, event)
            checked.append(None)
            continue
        checked.append((meeting_id, kind, event, events.dedupe_key(event), runner_id))
    work = [c for c in checked if c is not None]
    if len(work) > 1:
        try:
            stored = iter(_retrying(lambda: _append_all(work)))
            return [(next(stored), None) if c is not None else (None, None) for c in checked]
        except (OperationalError, InterfaceError):
            raise  # the database stayed away past the retry deadline
        except (TransitionError, LeaseLost, Meeting.DoesNotExist, DatabaseError):
            pass
    return [(None, None) if c is None else _store_one(c) for c in checked]


def _store_one(checked):
    meeting_id, key = checked[0], checked[3]
    try:
        return _retrying(lambda: _append_all([checked]))[0], None
    except TransitionError as exc:
        log.warning("meeting %s: %s", meeting_id, exc)
    except IntegrityError:
        # Two writers raced on the same dedupe key: the other one stored it.
        log.info("meeting %s: duplicate %s dropped", meeting_id, key)
    except (LeaseLost, Meeting.DoesNotExist) as exc:
        return None, exc
    return None, None


def _retrying(work):
    """``work()`` in a transaction, retried with backoff while PostgreSQL is briefly unreachable
    (a restart, a fail-over, a network blip) rather than lose events; the lease fence still
    applies on retry. Raises the database error after ``PERSIST_RETRY_SECONDS``."""
    deadline = time.monotonic() + settings.PERSIST_RETRY_SECONDS
    delay = 0.1
    while True:
        try:
            with transaction.atomic():
                return work()
        except (OperationalError, InterfaceError) as exc:
            # Inside a caller's transaction a reconnect would silently drop its work: let it fail.
            if connection.in_atomic_block or time.monotonic() + delay > deadline:
                raise
            log.warning("database unavailable (%s), retrying in %.1f s", exc, delay)
            connection.close()
            time.sleep(delay)
            delay = min(delay * 2, 2.0)


def _append_all(work):
    """Append ``[(meeting_id, kind, event, dedupe key, runner_id)]`` to the log and project them,
    in the caller's transaction; ``[MeetingEvent | None]`` in order (None: a duplicate, dropped).

    Whatever the batch's size, it costs one query for the duplicates, one UPDATE for every
    meeting's sequence numbers and one INSERT for the log's rows, beside the projections. A
    repeated dedupe key within the batch fails the INSERT (the unique constraint): the caller
    then stores every event on its own."""
    duplicates = _stored_keys(work)
    fresh = [item for item in work if not (item[3] and (item[0], item[3]) in duplicates)]
    seqs = _take_seqs(fresh)
    projection = _Projection()
    stored = []
    for item in work:
        meeting_id, kind, event, key, runner_id = item
        if key and (meeting_id, key) in duplicates:
            log.info("meeting %s: duplicate %s dropped", meeting_id, key)
            stored.append(None)
            continue
        seq, holder = seqs[meeting_id]
        seqs[meeting_id] = seq + 1, holder
        if runner_id is not None and holder != runner_id:
            raise LeaseLost(f"meeting {meeting_id} is held by {holder or 'no runner'}, not {runner_id}")
        projection.add(meeting_id, kind, event)
        row = MeetingEvent(meeting_id=meeting_id, seq=seq, type=kind, payload=event, dedupe_key=key,
                           created_at=timezone.now())
        # Encoded once: the log's row and the browsers' frame (relay_frame) both use it.
        row.payload_json = json.dumps(event)
        stored.append(row)
    projection.flush()
    _insert_log([s for s in stored if s is not None])
    return stored


def _insert_log(rows):
    """One INSERT for the batch's rows of the event log. Written out rather than through
    ``bulk_create``: every event makes one row, and the payload is inserted as the JSON text already
    made for the browsers' frame (the JSON column's own text form on both databases)."""
    if not rows:
        return
    table = MeetingEvent._meta.db_table
    values = ", ".join(["(%s, %s, %s, %s, %s, %s)"] * len(rows))
    params = [v for r in rows for v in (r.meeting_id, r.seq, r.type, r.payload_json, r.dedupe_key, r.created_at)]
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {table} (meeting_id, seq, type, payload, dedupe_key, created_at) VALUES {values}",
                       params)


class _Projection:
    """The hub rows a batch's events make, in the batch's order.

    Most of a live session's events that project onto rows are final results, ``message_response``,
    ``insight_response`` and ``topic_response``: those are gathered and written together, a query
    or two per table for the whole batch, utterances first (what insights and topics link to).
    Any other event first writes what was gathered, so it sees the rows of the events before it."""

    def __init__(self):
        self.messages = []  # [(meeting_id, message of a message_response)]
        self.insights = []  # [(meeting_id, insight of an insight_response)]
        self.topics = {}  # {meeting_id: {phrase: (score, message ids)}}, the batch's lists merged

    def add(self, meeting_id, kind, event):
        if kind == "recognition_result":
            # A partial result projects onto nothing (the log is where a snapshot reads the
            # provisional line, meetings.serializers); a final one names its speaker. Symbl
            # follows it with the message_response that becomes an utterance.
            message = event["message"]
            if message["isFinal"]:
                _speaker_id(meeting_id, message.get("user"))
        elif kind == "message_response":
            self.messages.extend((meeting_id, message) for message in event["messages"])
        elif kind == "insight_response":
            self.insights.extend((meeting_id, insight) for insight in event["insights"])
        elif kind == "topic_response":
            wanted = self.topics.setdefault(meeting_id, {})
            for item in event["topics"]:
                refs = [r["id"] for r in item.get("messageReferences") or [] if isinstance(r, dict) and r.get("id")]
                wanted[item["phrases"].strip()[:200]] = float(item.get("score") or 0), refs
        else:
            self.flush()
            # Most events only need the meeting's id; a status change reads the rest.
            meeting = Meeting.objects.get(pk=meeting_id) if kind == "session_status" else Meeting(pk=meeting_id)
            _project(meeting, kind, event)

    def flush(self):
        if self.messages:
            _store_utterances(self.messages)
            self.messages = []
        if self.insights:
            _store_insights(self.insights)
            self.insights = []
        if self.topics:
            _store_topics(self.topics)
            self.topics = {}


def _stored_keys(work):
    """The ``(meeting_id, dedupe key)`` pairs of ``work`` that the log already holds."""
    keyed = {(item[0], item[3]) for item in work if item[3]}
    if not keyed:
        return set()
    found = MeetingEvent.objects.filter(meeting_id__in={m for m, _ in keyed}, dedupe_key__in={k for _, k in keyed})
    return keyed & set(found.order_by().values_list("meeting_id", "dedupe_key"))


def _take_seqs(work):
    """Take each meeting's next sequence numbers for ``work``'s events: ``{meeting_id: (its
    first new number, the runner holding the meeting)}``. Raises ``Meeting.DoesNotExist`` for a
    meeting that is gone.

    Taking them locks the meetings' rows until commit: that serialises each meeting's events on
    PostgreSQL (SQLite serialises all writers anyway)."""
    counts = Counter(item[0] for item in work)
    if not counts:
        return {}
    cases = " ".join("WHEN %s THEN %s" for _ in counts)
    ids = ", ".join("%s" for _ in counts)
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {Meeting._meta.db_table} SET last_seq = last_seq + CASE id {cases} END "
                       f"WHERE id IN ({ids}) RETURNING id, last_seq, runner_id",
                       [v for pair in counts.items() for v in pair] + list(counts))
        rows = cursor.fetchall()
    seqs = {meeting_id: (last - counts[meeting_id] + 1, holder) for meeting_id, last, holder in rows}
    missing = counts.keys() - seqs.keys()
    if missing:
        raise Meeting.DoesNotExist(f"meeting {min(missing)} does not exist")
    return seqs


def publish(meeting_id, seq, event, event_json=None):
    """Fan an event out to every browser watching the meeting (call only after commit)."""
    async_to_sync(apublish)(meeting_id, seq, event, event_json)


def relay_frame(seq, event, event_json=None):
    """The text frame a watching browser gets for event number ``seq``:
    ``{"type": "event", "seq": seq, "event": <protocol event>}`` as JSON (``event_json``: the
    event already encoded, which is then used as it is)."""
    if event_json is None:
        event_json = json.dumps(event)
    return f'{{"type": "event", "seq": {int(seq)}, "event": {event_json}}}'


async def apublish(meeting_id, seq, event, event_json=None):
    """:func:`publish` from an event loop.

    The group message is ``{"type": "meeting.event", "group": "meeting.<id>", "seq": seq, "frame":
    relay_frame(…)}``: the frame is encoded once here, not once per watching socket; ``group`` tells
    a process's :class:`~streaming.fanout.Fanout`, a member of many groups, whose event it is."""
    layer = get_channel_layer(LIVE_LAYER)
    if layer is None:
        return
    group = Meeting.group_for(meeting_id)
    try:
        await layer.group_send(group, {"type": "meeting.event", "group": group, "seq": seq,
                                       "frame": relay_frame(seq, event, event_json)})
    except Exception:
        # The event is in the log: a browser that missed it catches up by sequence number.
        log.exception("meeting %s: publishing event %s failed", meeting_id, seq)


def _project(meeting, kind, event):
    handler = _PROJECTORS.get(kind)
    if handler:
        handler(meeting, event)


# (meeting id, speaker key) -> the speaker's id, as committed. Speakers are only ever deleted with
# their meeting, and a meeting that is gone takes no events, so an entry never goes stale; the
# bound only keeps a long-lived runner's memory flat.
_speaker_ids = {}
SPEAKER_CACHE_MAX = 20_000


def _speaker_id(meeting_id, who):
    """The id of the speaker for a Symbl ``user``/``from`` object (created on first sight; None
    when it names nobody)."""
    key = events.speaker_key(who)
    if not key:
        return None
    speaker_id = _speaker_ids.get((meeting_id, key))
    if speaker_id is None:
        name = str(who.get("name") or key)
        speaker_id = Speaker.objects.get_or_create(meeting_id=meeting_id, key=key, defaults={"name": name})[0].pk
        # Remembered once committed: a transaction that rolls back takes the new row with it.
        transaction.on_commit(functools.partial(_remember_speaker, (meeting_id, key), speaker_id))
    return speaker_id


def _remember_speaker(meeting_key, speaker_id):
    if len(_speaker_ids) >= SPEAKER_CACHE_MAX:
        _speaker_ids.clear()
    _speaker_ids[meeting_key] = speaker_id


def message_span_ms(message):
    """``(start_ms, end_ms)`` of a ``message_response`` message (its ``duration`` is in seconds)."""
    duration = message.get("duration") or {}
    start_ms = round(float(duration.get("timeOffset") or 0) * 1000)
    return start_ms, start_ms + round(float(duration.get("duration") or 0) * 1000)


def _utterances_named(pairs, *fields):
    """``{(meeting_id, message_id): (fields…)}`` of the stored utterances among ``pairs`` (a set
    of ``(meeting_id, message_id)``), one query whatever their number."""
    if not pairs:
        return {}
    rows = Utterance.objects.filter(meeting_id__in={m for m, _ in pairs}, message_id__in={i for _, i in pairs})
    return {(meeting_id, message_id): tuple(rest) for meeting_id, message_id, *rest in
            rows.order_by().values_list("meeting_id", "message_id", *fields) if (meeting_id, message_id) in pairs}


def _store_utterances(messages):
    """The utterances of ``[(meeting_id, message of a message_response)]``: one query for the
    message ids already stored, one INSERT for the new utterances and one for their search entries.

    A message id already stored keeps its utterance (the first delivery wins). No other writer can
    add one meanwhile: this transaction holds the meetings' rows since it took sequence numbers
    (_take_seqs), so plain INSERTs are safe."""
    known = set(_utterances_named({(meeting_id, message["id"]) for meeting_id, message in messages}))
    new = []
    for meeting_id, message in messages:
        if (meeting_id, message["id"]) in known:
            continue
        known.add((meeting_id, message["id"]))
        start_ms, end_ms = message_span_ms(message)
        new.append(Utterance(meeting_id=meeting_id, message_id=message["id"], text=message["payload"]["content"].strip(),
                             speaker_id=_speaker_id(meeting_id, message.get("from")), start_ms=start_ms, end_ms=end_ms))
    Utterance.objects.bulk_create(new)
    search.index_new("utterance", new, {u.pk: u.speaker_id for u in new})


def _project_message_correction(meeting, event):
    for message in event["messages"]:
        utterance = Utterance.objects.filter(meeting=meeting, message_id=message["id"]).first()
        if utterance is None:
            # Nothing was delivered under this id: the correction is the utterance.
            _store_utterances([(meeting.pk, message)])
            continue
        speaker_id = _speaker_id(meeting.pk, message.get("from")) or utterance.speaker_id
        start_ms, end_ms = message_span_ms(message)
        if "duration" not in message:
            start_ms, end_ms = utterance.start_ms, utterance.end_ms
        moved = speaker_id != utterance.speaker_id
        utterance.text = message["payload"]["content"].strip()
        utterance.speaker_id = speaker_id
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


def _store_insights(items):
    """The insights of ``[(meeting_id, insight of an insight_response)]`` with their links to the
    utterances they name and their search entries, a query per table for the lot. An insight id
    already stored keeps its first delivery."""
    wanted = {}
    for meeting_id, item in items:
        wanted.setdefault((meeting_id, item["id"]), item)
    known = set(Insight.objects.filter(meeting_id__in={m for m, _ in wanted}, provider_id__in={i for _, i in wanted})
                .order_by().values_list("meeting_id", "provider_id"))
    new = []
    for (meeting_id, provider_id), item in wanted.items():
        if (meeting_id, provider_id) in known:
            continue
        assignee = item.get("assignee") if isinstance(item.get("assignee"), dict) else {}
        insight = Insight(meeting_id=meeting_id, provider_id=provider_id, type=item["type"],
                          text=events.insight_text(item), assignee=str(assignee.get("name") or "")[:200],
                          due=_parse_due(item))
        insight.refs = events.insight_message_ids(item)
        new.append(insight)
    if not new:
        return
    Insight.objects.bulk_create(new)
    # (meeting_id, message_id) -> (start_ms, utterance id, speaker id)
    said = _utterances_named({(i.meeting_id, ref) for i in new for ref in i.refs}, "start_ms", "pk", "speaker_id")
    Link = Insight.utterances.through
    links, said_by = [], {}
    for insight in new:
        linked = sorted({said[(insight.meeting_id, ref)] for ref in insight.refs if (insight.meeting_id, ref) in said})
        links.extend(Link(insight_id=insight.pk, utterance_id=pk) for _, pk, _ in linked)
        # Who said an insight is who said its first utterance (as meetings.search keeps it).
        said_by[insight.pk] = linked[0][2] if linked else None
    Link.objects.bulk_create(links)
    search.index_new("insight", new, said_by)


def _store_topics(lists):
    """The topics of ``{meeting_id: {phrase: (score, message ids)}}``, merged from a batch's
    ``topic_response`` events in order (Symbl sends the whole list again whenever a topic changes,
    so a later list's score and references replace an earlier one's): a query or two per table
    for the lot. A topic no longer listed is kept, with the utterances it had; so is a listed
    topic without references."""
    # Ids and scores only: the meetings' whole lists come back each time, most of them unchanged.
    stored = {(meeting_id, phrase): (pk, score) for pk, meeting_id, phrase, score in Topic.objects.filter(
        meeting_id__in=lists).order_by().values_list("pk", "meeting_id", "phrase", "score")}
    refs, new, rescored = [], [], []  # refs: [(topic, its message ids)]
    for meeting_id, wanted in lists.items():
        for phrase, (score, message_ids) in wanted.items():
            pk, stored_score = stored.get((meeting_id, phrase), (None, None))
            topic = Topic(pk=pk, meeting_id=meeting_id, phrase=phrase, score=score)
            if pk is None:
                new.append(topic)
            elif stored_score != score:
                rescored.append(topic)
            if message_ids:
                refs.append((topic, message_ids))
    Topic.objects.bulk_create(new)
    search.index_new("topic", new)
    # Only the score changed: the search index, which holds the phrase, has nothing to update.
    Topic.objects.bulk_update(rescored, ["score"])
    if not refs:
        return
    # Each topic's utterances become those its message references name.
    said = _utterances_named({(topic.meeting_id, r) for topic, message_ids in refs for r in message_ids}, "pk")
    wanted = {(topic.pk, said[(topic.meeting_id, r)][0]) for topic, message_ids in refs for r in message_ids
              if (topic.meeting_id, r) in said}
    Link = Topic.utterances.through
    current = {(t, u): pk for pk, t, u in Link.objects.filter(topic_id__in=[t.pk for t, _ in refs])
               .values_list("pk", "topic_id", "utterance_id")}
    stale = [pk for pair, pk in current.items() if pair not in wanted]
    if stale:
        Link.objects.filter(pk__in=stale).delete()
    Link.objects.bulk_create([Link(topic_id=t, utterance_id=u) for t, u in wanted - current.keys()])


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


# Final results, message_response, insight_response and topic_response are written by
# _Projection, set-wise.
_PROJECTORS = {
    "message_correction": _project_message_correction,
    "summary_response": _project_summary_response,
    "session_status": _project_session_status,
    "progress": _project_progress,
}
