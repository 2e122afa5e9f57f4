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

from meetings.models import Insight, Meeting, MeetingEvent, Speaker, Summary, Topic, Utterance

from . import events

log = logging.getLogger(__name__)

# Browsers watch through a channel layer of their own (settings.CHANNEL_LAYERS): on Redis it is
# the pub/sub layer, so an event crosses Redis once per Daphne process, not once per socket.
LIVE_LAYER = "live"

# At most this many events share one transaction (a runner's sessions emit concurrently).
BATCH_MAX = 200

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
    [(stored, error)] = _store_batch([(meeting_id, event, runner_id)])
    if error is not None:
        raise error
    if stored is not None:
        # Inside a caller's transaction, publishing waits for that transaction's commit.
        transaction.on_commit(lambda: publish(meeting_id, stored.seq, event))
    return stored


async def apersist_event(meeting_id, event, runner_id=None):
    """:func:`persist_event` for async callers. Events that arrive while a batch is being stored
    are stored together in the next one (one transaction, one commit), then published in order
    from the event loop; the caller resumes once its event is committed."""
    return await _Batcher.for_meeting(meeting_id).submit(meeting_id, event, runner_id)


class _Batcher:
    """A queue of pending events and one task draining it in batches. There is one per event loop
    and shard: with ``PERSIST_THREADS`` > 1 (PostgreSQL) meetings are spread over that many
    threads, each with its own connection, so that one meeting's round trips to the database do
    not wait for another's; a meeting always goes to the same shard, which keeps its order. With
    one (SQLite: a single writer anyway) the batches run where Django's other sync code runs."""

    _by_shard = {}

    @classmethod
    def for_meeting(cls, meeting_id):
        loop = asyncio.get_running_loop()
        threads = max(1, settings.PERSIST_THREADS)
        key = (loop, threads, meeting_id % threads)
        batcher = cls._by_shard.get(key)
        if batcher is None:
            # Finished loops (tests make many) are dropped with their batchers.
            for done in [k for k in cls._by_shard if k[0].is_closed()]:
                cls._by_shard.pop(done).close()
            batcher = cls._by_shard[key] = cls(threads)
        return batcher

    def __init__(self, threads):
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
        while self.pending:
            batch, self.pending = self.pending[:BATCH_MAX], self.pending[BATCH_MAX:]
            try:
                results = await self.store([item for item, _ in batch])
            except BaseException as exc:  # the database stayed away past the retry deadline
                results = [(None, exc)] * len(batch)
            for ((meeting_id, event, _), future), (stored, error) in zip(batch, results):
                if stored is not None:
                    self.published.put_nowait((meeting_id, stored.seq, event))
                if error is not None:
                    future.set_exception(error)
                else:
                    future.set_result(stored)
            if not self.published.empty() and (self.publisher is None or self.publisher.done()):
                self.publisher = asyncio.ensure_future(self._publish())

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
    stored, unsaved = [], []
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
        # Most events only need the meeting's id; a status change reads the rest.
        meeting = Meeting.objects.get(pk=meeting_id) if kind == "session_status" else Meeting(pk=meeting_id)
        _project(meeting, kind, event)
        unsaved.append(MeetingEvent(meeting_id=meeting_id, seq=seq, type=kind, payload=event, dedupe_key=key))
        stored.append(unsaved[-1])
    MeetingEvent.objects.bulk_create(unsaved)
    return stored


def _stored_keys(work):
    """The ``(meeting_id, dedupe key)`` pairs of ``work`` that the log already holds."""
    keyed = {(item[0], item[3]) for item in work if item[3]}
    if not keyed:
        return set()
    found = MeetingEvent.objects.filter(meeting_id__in={m for m, _ in keyed}, dedupe_key__in={k for _, k in keyed})
    return keyed & set(found.values_list("meeting_id", "dedupe_key"))


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


def publish(meeting_id, seq, event):
    """Fan an event out to every browser watching the meeting (call only after commit)."""
    async_to_sync(apublish)(meeting_id, seq, event)


def relay_frame(seq, event):
    """The text frame a watching browser gets for event number ``seq``:
    ``{"type": "event", "seq": seq, "event": <protocol event>}`` as JSON."""
    return json.dumps({"type": "event", "seq": seq, "event": event})


async def apublish(meeting_id, seq, event):
    """:func:`publish` from an event loop.

    The group message is ``{"type": "meeting.event", "seq": seq, "frame": relay_frame(…)}``: the
    frame is encoded once here, not once per watching socket, and a flat message costs little to
    decode in each of them."""
    layer = get_channel_layer(LIVE_LAYER)
    if layer is None:
        return
    try:
        await layer.group_send(f"meeting.{meeting_id}",
                               {"type": "meeting.event", "seq": seq, "frame": relay_frame(seq, event)})
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
    if message["isFinal"]:
        # Symbl follows a final result with a message_response; that is what becomes an utterance.
        _speaker(meeting, message.get("user"))
        return
    # One provisional line per speaker, named after the speaker's key: the line already names its
    # speaker, so only a new line needs the speaker's row. Partial results are most of all events
    # (several a second per speaker), so the line is rewritten with one plain UPDATE, without the
    # ORM's per-query work or signals: provisional lines have no search entries and no links.
    interim_id = _interim_id(events.speaker_key(message.get("user")))
    offset = int(event.get("timeOffset") or 0)
    text = message["punctuated"]["transcript"]
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {Utterance._meta.db_table} SET text = %s, start_ms = %s, end_ms = %s "
                       "WHERE meeting_id = %s AND message_id = %s", [text, offset, offset, meeting.pk, interim_id])
        updated = cursor.rowcount
    if not updated:
        Utterance.objects.create(meeting=meeting, message_id=interim_id, is_final=False, text=text,
                                 start_ms=offset, end_ms=offset, speaker=_speaker(meeting, message.get("user")))


def _interim_id(speaker_key):
    """The message id of a speaker's provisional line (one per speaker; ``None``: no speaker)."""
    return INTERIM_PREFIX + (speaker_key or "-")


def _drop_interim(meeting, speaker):
    """Remove the speaker's provisional line (a final one replaced it). A plain DELETE: the line has
    no search entry, insight or topic links for the ORM's cascade to look for."""
    interim_id = _interim_id(speaker.key if speaker else None)
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {Utterance._meta.db_table} WHERE meeting_id = %s AND message_id = %s "
                       "AND NOT is_final", [meeting.pk, interim_id])


def message_span_ms(message):
    """``(start_ms, end_ms)`` of a ``message_response`` message (its ``duration`` is in seconds)."""
    duration = message.get("duration") or {}
    start_ms = round(float(duration.get("timeOffset") or 0) * 1000)
    return start_ms, start_ms + round(float(duration.get("duration") or 0) * 1000)


def _project_message_response(meeting, event):
    # A message id already stored keeps its utterance (the first delivery wins). No other writer
    # can add one meanwhile: this transaction holds the meeting's row since it took sequence
    # numbers (_take_seqs), so a plain INSERT, without get_or_create's savepoint, is safe.
    ids = [message["id"] for message in event["messages"]]
    known = set(Utterance.objects.filter(meeting=meeting, message_id__in=ids).values_list("message_id", flat=True))
    for message in event["messages"]:
        speaker = _speaker(meeting, message.get("from"))
        if message["id"] not in known:
            known.add(message["id"])
            start_ms, end_ms = message_span_ms(message)
            # Saved through the ORM: its post_save handler indexes it for search.
            Utterance.objects.create(meeting=meeting, message_id=message["id"], speaker=speaker,
                                     text=message["payload"]["content"].strip(), start_ms=start_ms, end_ms=end_ms,
                                     is_final=True)
        # The final text replaces the speaker's provisional line.
        _drop_interim(meeting, speaker)


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
    # Symbl sends the whole list again whenever a topic changes: a few queries for the list,
    # whatever its length, since this runs for every one of them.
    wanted = {}
    for item in event["topics"]:
        refs = [r["id"] for r in item.get("messageReferences") or [] if isinstance(r, dict) and r.get("id")]
        wanted[item["phrases"].strip()[:200]] = float(item.get("score") or 0), refs
    topics = {t.phrase: t for t in Topic.objects.filter(meeting=meeting, phrase__in=wanted)}
    rescored = []
    for phrase, (score, _) in wanted.items():
        topic = topics.get(phrase)
        if topic is None:
            topics[phrase] = Topic.objects.create(meeting=meeting, phrase=phrase, score=score)
        elif topic.score != score:
            topic.score = score
            rescored.append(topic)
    # Only the score changed: the search index, which holds the phrase, has nothing to update.
    Topic.objects.bulk_update(rescored, ["score"])
    _link_topics(meeting, {topics[phrase].pk: refs for phrase, (_, refs) in wanted.items() if refs})


def _link_topics(meeting, refs_by_topic):
    """Make each topic's utterances those its message references name (a topic without
    references keeps what it had)."""
    if not refs_by_topic:
        return
    utterance_ids = dict(Utterance.objects.filter(
        meeting=meeting, message_id__in={r for refs in refs_by_topic.values() for r in refs}
    ).values_list("message_id", "pk"))
    wanted = {(topic_id, utterance_ids[r]) for topic_id, refs in refs_by_topic.items() for r in refs
              if r in utterance_ids}
    Link = Topic.utterances.through
    current = {(t, u): pk for pk, t, u in Link.objects.filter(topic_id__in=refs_by_topic)
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
