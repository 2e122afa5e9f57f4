"""Reconcile a meeting with Symbl's Conversation API, the source of truth once a conversation ends.

Fetches messages (with speakers), questions, action items, follow-ups, topics, summary, analytics
and members (https://docs.symbl.ai/docs/conversation-api/introduction; ``api-contracts.md`` §6)
and emits them as protocol events through the one persister. Symbl's ids are the live ids, so
whatever already arrived live is deduplicated by the persister and utterance ids (what insight
and review links point at) never change; what the live stream missed is added. Utterances whose
speaker or text Symbl changed afterwards (Speakers API, re-processing) are updated in place.
"""
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

    ``emit`` is the persisting coroutine; raises :class:`~.client.SymblError` when Symbl fails.
    """
    messages = await client.messages(conversation_id)
    for message in messages:
        if (message.get("text") or "").strip():
            await emit(message_event(message))
    await sync_to_async(_apply_corrections)(meeting_id, messages)
    counts = {"messages": len(messages)}
    for kind, fetch in (("question", client.questions), ("action_item", client.action_items),
                        ("follow_up", client.follow_ups)):
        items = await fetch(conversation_id)
        counts[kind] = len(items)
        for item in items:
            if (item.get("text") or "").strip():
                await emit(insight_event(item, kind))
    topics = [t for t in await client.topics(conversation_id) if (t.get("text") or "").strip()]
    counts["topics"] = len(topics)
    if topics:
        await emit(events.topic_response(
            {"id": str(t.get("id") or ""), "phrases": t["text"], "score": float(t.get("score") or 0), "type": "topic",
             "messageReferences": [{"id": str(m)} for m in t.get("messageIds") or []]} for t in topics))
    try:
        summary = await client.summary(conversation_id)
    except NotFound:
        summary = []  # documented 404 while Symbl is still processing: the live summary stays
    counts["summary"] = len(summary)
    if summary:
        await emit({"type": "summary_response", "summary": [
            {"id": str(s.get("id") or events.new_id()), "text": s.get("text") or "",
             "messageRefs": [{"id": str(r.get("id"))} for r in s.get("messageRefs") or [] if isinstance(r, dict)]}
            for s in summary]})
    members = await client.members(conversation_id)
    analytics = await client.analytics(conversation_id)
    await sync_to_async(_store)(meeting_id, conversation_id, members, analytics)
    return counts


def _apply_corrections(meeting_id, messages):
    """Speaker and text changes Symbl made after a message was first delivered (e.g. Speakers API)."""
    from meetings.models import Speaker, Utterance

    by_id = {str(m["id"]): m for m in messages}
    for utterance in Utterance.objects.filter(meeting_id=meeting_id, message_id__in=list(by_id), is_final=True):
        message = by_id[utterance.message_id]
        who = message.get("from") or {}
        key = str(who.get("userId") or who.get("email") or who.get("id") or who.get("name") or "")
        changed = []
        text = (message.get("text") or "").strip()
        if text and text != utterance.text:
            utterance.text = text
            changed.append("text")
        if key and (utterance.speaker is None or utterance.speaker.key != key):
            speaker, _ = Speaker.objects.get_or_create(meeting_id=meeting_id, key=key,
                                                       defaults={"name": str(who.get("name") or key)})
            utterance.speaker = speaker
            changed.append("speaker")
        if changed:
            utterance.save(update_fields=changed)


def _store(meeting_id, conversation_id, members, analytics):
    from ...models import SymblSession

    SymblSession.objects.filter(meeting_id=meeting_id).update(
        conversation_id=conversation_id, members=members, analytics=analytics, reconciled_at=timezone.now())
