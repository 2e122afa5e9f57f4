"""Symbl's server messages (Streaming and Subscribe APIs) mapped into Parley's event protocol.

Parley's protocol *is* Symbl's message shapes (``streaming/events.py``), so mapping is mostly
normalising what Symbl documents loosely: message ids absent from the docs' minimal example, the
nested and top-level error forms, insights whose text sits in ``text`` rather than
``payload.content``, and message types Parley does not know (logged and kept, never fatal).
Shapes: https://docs.symbl.ai/docs/streamingapi/reference and ``shared/api-contracts.md`` §2.2–2.3.
"""
import hashlib
import json
import logging

from ... import events

log = logging.getLogger(__name__)

TOP_LEVEL = {"message_response", "insight_response", "topic_response", "tracker_response", "entity_response"}


def to_events(frame, *, connection_id=""):
    """The protocol events for one Symbl server frame (a decoded JSON object); may be empty.

    A frame of a type Parley does not know becomes a ``provider_event`` carrying the original:
    kept in the event log, shown nowhere, not fatal.
    """
    if not isinstance(frame, dict):
        return [_unknown(frame, "not a JSON object")]
    kind = frame.get("type")
    if kind == "message":
        inner = frame.get("message")
        if not isinstance(inner, dict):
            return [_unknown(frame, "a 'message' envelope without a message")]
        sub = inner.get("type")
        if sub == "recognition_result":
            return [_recognition_result(frame)]
        if sub == "error":
            return [_error(inner)]
        if sub in events.PLATFORM_TYPES:
            return [frame]
        return [_unknown(frame, f"platform message type {sub!r}")]
    if kind == "error":
        return [_error(frame)]
    if kind == "message_response":
        messages = [_message(m, frame, i, connection_id) for i, m in enumerate(frame.get("messages") or [])
                    if isinstance(m, dict)]
        # One event per message: each final is deduplicated on its own id.
        return [{**{k: v for k, v in frame.items() if k != "messages"}, "messages": [m]} for m in messages if m]
    if kind == "insight_response":
        insights = [_insight(i) for i in frame.get("insights") or [] if isinstance(i, dict)]
        insights = [i for i in insights if i]
        return [{**frame, "insights": insights}] if insights else []
    if kind == "topic_response":
        topics = [t for t in frame.get("topics") or [] if isinstance(t, dict) and isinstance(t.get("phrases"), str)
                  and t["phrases"].strip()]
        return [{**frame, "topics": topics}] if topics else []
    if kind == "tracker_response":
        return [frame] if frame.get("trackers") else []
    if kind in TOP_LEVEL:
        return [frame]
    return [_unknown(frame, f"message type {kind!r}")]


def _unknown(frame, what):
    log.warning("Symbl sent %s, which Parley does not know; kept in the event log: %.300r", what, frame)
    return events.provider_event("symbl", f"Symbl sent {what}, which Parley does not know.", frame)


def _error(body):
    message = str(body.get("message") or body.get("details") or "Symbl reported an error.")
    event = {"type": "error", "message": message}
    for key in ("details", "code"):
        if key in body:
            event[key] = body[key]
    return event


def _recognition_result(frame):
    message = dict(frame["message"])
    if not isinstance(message.get("isFinal"), bool):
        message["isFinal"] = bool(message.get("isFinal"))
    punctuated = message.get("punctuated")
    if not isinstance(punctuated, dict) or not isinstance(punctuated.get("transcript"), str):
        try:
            text = message["payload"]["raw"]["alternatives"][0]["transcript"]
        except (KeyError, IndexError, TypeError):
            text = ""
        message["punctuated"] = {"transcript": str(text or "")}
    user = message.get("user")
    if isinstance(user, dict):
        message["user"] = _who(user)
    return {**frame, "message": message}


def _who(user):
    """Symbl's ``user``/``from``; the key Parley groups a speaker by is ``userId``, else ``id``, else name."""
    who = dict(user)
    if not who.get("userId"):
        who["userId"] = who.get("id") or who.get("email") or who.get("name") or ""
    return who


def _message(message, frame, index, connection_id):
    payload = message.get("payload")
    text = payload.get("content") if isinstance(payload, dict) else message.get("text")
    if not isinstance(text, str) or not text.strip():
        return None
    message = dict(message)
    message["payload"] = {"content": text, "contentType": "text/plain"}
    if not message.get("id"):
        # The docs' minimal example has no id: derive a stable one so a redelivery still dedupes.
        seed = json.dumps([connection_id, frame.get("sequenceNumber"), index, text], sort_keys=True)
        message["id"] = hashlib.sha256(seed.encode()).hexdigest()[:32]
    message["id"] = str(message["id"])
    if isinstance(message.get("from"), dict):
        message["from"] = _who(message["from"])
    duration = message.get("duration")
    if isinstance(duration, dict):
        clean = {k: v for k, v in duration.items() if k not in ("timeOffset", "duration")}
        for key in ("timeOffset", "duration"):
            value = duration.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
                clean[key] = value
        message["duration"] = clean
    elif duration is not None:
        message.pop("duration")
    return message


def _insight(insight):
    if insight.get("type") not in events.INSIGHT_TYPES or not insight.get("id"):
        log.warning("Symbl insight dropped (no id or unknown type): %.300r", insight)
        return None
    text = events.insight_text(insight)
    if not text:
        return None
    insight = dict(insight)
    insight["id"] = str(insight["id"])
    insight["payload"] = {"content": text, "contentType": "text/plain"}
    if isinstance(insight.get("assignee"), dict):
        insight["assignee"] = _who(insight["assignee"])
    return insight
