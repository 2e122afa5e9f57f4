"""Reconcile a meeting with Symbl's Conversation API, the source of truth once a conversation ends.

Fetches messages (with speakers), questions, action items, follow-ups, topics, summary, tracker
hits (``trackers-detected``: only those the live stream did not deliver are emitted), analytics and
members (https://docs.symbl.ai/docs/conversation-api/introduction; ``api-contracts.md`` §6)
and emits them as protocol events through the one persister. Symbl's ids are the live ids, so
whatever already arrived live is deduplicated by the persister and utterance ids (what insight
and review links point at) never change; what the live stream missed is added. Utterances whose
speaker, text or times Symbl changed afterwards (Speakers API, re-processing) are corrected by one
``message_correction`` event (``streaming/events.py``), so the event log and every live page see
the correction; reconciling again finds nothing left to correct.
"""
import asyncio
import logging

from asgiref.sync import sync_to_async
from django.utils import timezone

from ... import events
from .client import NotFound

log = logging.getLogger(__name__)


def message_event(message):
    """A Conversation API message (``{id, text, from, timeOffset s, duration s, …}``) as a ``message_response``."""
    who = message.get("from") or {}
    body = {
        "id": str(message["id"]),
        "from": {"id": str(who.get("id") or who.get("email") or who.get("name") or ""),
                 "userId": str(who.get("userId") or who.get("email") or who.get("id") or who.get("name") or ""),
                 "name": str(who.get("name") or "")},
        "payload": {"content": message.get("text") or "", "contentType": "text/plain"},
        "channel": {"id": "conversation-api"},
        "duration": {"startTime": message.get("startTime"), "endTime": message.get("endTime"),
                     "timeOffset": max(0.0, float(message.get("timeOffset") or 0)),
                     "duration": max(0.0, float(message.get("duration") or 0))},
    }
    return {"type": "message_response", "messages": [body]}


def insight_event(item, kind):
    """A Conversation API question/action item/follow-up as an ``insight_response``."""
    ids = [str(m) for m in item.get("messageIds") or []]
    body = {"id": str(item["id"]), "type": kind, "payload": {"content": item.get("text") or "", "contentType": "text/plain"},
            "messageReference": {"id": ids[0]} if ids else None, "messageReferences": [{"id": m} for m in ids],
            "from": item.get("from") or {}}
    assignee = item.get("assignee")
    if isinstance(assignee, dict) and assignee.get("name"):
        body["assignee"] = {"name": assignee["name"]}
    due = item.get("dueBy")
    if isinstance(due, str):
        body["dueBy"] = {"value": due}
    elif isinstance(due, dict):
        body["dueBy"] = due
    return {"type": "insight_response", "insights": [body]}


async def reconcile(client, meeting_id, conversation_id, emit):
    """Fetch the conversation and emit what it holds; returns counts of what was fetched.

    ``emit`` is the persisting coroutine; the events are emitted together once everything is
    fetched, so that a persister that stores concurrent events together (:func:`~streaming.persist.apersist_event`)
    stores them in one transaction. Raises :class:`~.client.SymblError` when Symbl fails (then
    nothing is emitted).
    """
    messages = await client.messages(conversation_id)
    bodies = [message_event(m)["messages"][0] for m in messages if (m.get("text") or "").strip()]
    # Compared with what was delivered live, before any of it is stored: a message missed live is
    # added with Symbl's text, so it has nothing to correct.
    changed = await sync_to_async(corrections)(meeting_id, bodies)
    # Already delivered live: dropped by the persister (same id). Missed live: added.
    batch = [{"type": "message_response", "messages": [body]} for body in bodies]
    if changed:
        # Through the persister, not the ORM: the event log (what live pages replay) records it.
        batch.append(events.message_correction(changed))
    counts = {"messages": len(messages), "corrected": len(changed)}
    for kind, fetch in (("question", client.questions), ("action_item", client.action_items),
                        ("follow_up", client.follow_ups)):
        items = await fetch(conversation_id)
        counts[kind] = len(items)
        batch.extend(insight_event(item, kind) for item in items if (item.get("text") or "").strip())
    topics = [t for t in await client.topics(conversation_id) if (t.get("text") or "").strip()]
    counts["topics"] = len(topics)
    if topics:
        batch.append(events.topic_response(
            {"id": str(t.get("id") or ""), "phrases": t["text"], "score": float(t.get("score") or 0), "type": "topic",
             "messageReferences": [{"id": str(m)} for m in t.get("messageIds") or []]} for t in topics))
    try:
        summary = await client.summary(conversation_id)
    except NotFound:
        summary = []  # documented 404 while Symbl is still processing: the live summary stays
    counts["summary"] = len(summary)
    if summary:
        batch.append({"type": "summary_response", "summary": [
            {"id": str(s.get("id") or events.new_id()), "text": s.get("text") or "",
             "messageRefs": [{"id": str(r.get("id"))} for r in s.get("messageRefs") or [] if isinstance(r, dict)]}
            for s in summary]})
    try:
        detected = await client.trackers_detected(conversation_id)
    except NotFound:
        detected = []
    missed = await sync_to_async(missed_tracker_hits)(meeting_id, detected if isinstance(detected, list) else [])
    counts["tracker_hits"] = sum(len(m["messageRefs"]) for t in missed for m in t["matches"])
    if missed:
        batch.append({"type": "tracker_response", "isFinal": True, "trackers": missed})
    members = await client.members(conversation_id)
    analytics = await client.analytics(conversation_id)
    # Started in order, so the persister stores them in this order.
    await asyncio.gather(*(emit(event) for event in batch))
    await sync_to_async(_store)(meeting_id, conversation_id, members, analytics)
    return counts


def corrections(meeting_id, messages):
    """The ``message_response`` messages (from :func:`message_event`) whose stored final utterance
    differs in text, speaker or times: what Symbl changed after delivering them live."""
    from meetings.models import Utterance

    from ...persist import message_span_ms

    bodies = {m["id"]: m for m in messages}
    stored = Utterance.objects.filter(meeting_id=meeting_id, message_id__in=list(bodies))
    changed = []
    for utterance in stored.select_related("speaker").order_by("start_ms", "pk"):
        body = bodies[utterance.message_id]
        key = events.speaker_key(body.get("from"))
        if (body["payload"]["content"].strip() != utterance.text
                or (key and (utterance.speaker is None or utterance.speaker.key != key))
                or message_span_ms(body) != (utterance.start_ms, utterance.end_ms)):
            changed.append(body)
    return changed


def missed_tracker_hits(meeting_id, detected):
    """The part of ``trackers-detected`` (``[{id, name, matches: [{type, value, messageRefs, insightRefs}]}]``)
    that no ``tracker_response`` in the meeting's event log holds yet, in the same shape."""
    from meetings.models import MeetingEvent

    logged = set()
    for payload in MeetingEvent.objects.filter(meeting_id=meeting_id, type="tracker_response").values_list(
            "payload", flat=True):
        logged.update(events.tracker_hits(payload))
    missed = []
    for tracker in detected:
        if not isinstance(tracker, dict) or not tracker.get("name"):
            continue
        matches = []
        for match in tracker.get("matches") or []:
            if not isinstance(match, dict):
                continue
            refs = [r for r in match.get("messageRefs") or [] if isinstance(r, dict) and r.get("id")
                    and (str(tracker["name"]), str(match.get("value") or ""), str(r["id"])) not in logged]
            if refs:
                matches.append({**match, "messageRefs": refs})
        if matches:
            missed.append({"name": str(tracker["name"]), "matches": matches})
    return missed


def _store(meeting_id, conversation_id, members, analytics):
    from ...models import SymblSession

    SymblSession.objects.filter(meeting_id=meeting_id).update(
        conversation_id=conversation_id, members=members, analytics=analytics, reconciled_at=timezone.now())
