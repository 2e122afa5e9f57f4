"""Parley's internal event protocol: Symbl.ai's streaming message shapes plus session events.

Every engine (local, symbl, deepgram, assemblyai) emits these dicts and nothing else; the
persister stores them in the meeting's event log and the browser applies them. The shapes are
Symbl's Streaming API messages (https://docs.symbl.ai/docs/streamingapi/reference, digest in
``api-contracts.md`` §2.3):

* ``{"type": "message", "message": {"type": "recognition_result", "isFinal": bool,
  "punctuated": {"transcript": str}, "user": {"userId", "name", "id"}, ...}, "timeOffset": ms}``
  — interim (``isFinal: false``) or final speech recognition for the speaker in ``user``.
* ``{"type": "message", "message": {"type": "conversation_created" | "started_listening" |
  "recognition_started" | "recognition_stopped" | "conversation_completed", "data": {...}}}``
* ``{"type": "message_response", "messages": [{"id", "from": {"id", "name", "userId"},
  "payload": {"content", "contentType"}, "duration": {"timeOffset": s, "duration": s}}]}``
  — final utterances. ``duration.timeOffset`` and ``duration.duration`` are seconds.
* ``{"type": "insight_response", "insights": [{"id", "type": "question" | "action_item" |
  "follow_up", "payload": {"content"}, "assignee": {"name"}, "dueBy": {"value": ISO date},
  "messageReference": {"id"}, "messageReferences": [{"id"}]}]}``
* ``{"type": "topic_response", "topics": [{"id", "phrases": str, "score": 0..1,
  "messageReferences": [{"id"}]}]}``
* ``{"type": "tracker_response", "isFinal": true, "trackers": [{"name", "matches": [{"type": "vocabulary",
  "value": phrase, "messageRefs": [{"id", "text", "offset": chars, -1 when fuzzy}], "insightRefs": [...]}]}]}``
  — hits of the trackers a session asked for (``start_request.trackers``); the same per-tracker
  shape as the Conversation API's ``GET /v1/conversations/{id}/trackers-detected``.
* ``{"type": "error", "message": str}``.

Parley's own events, in the same style:

* ``{"type": "message_correction", "messages": [<message_response message>]}`` — utterances
  already delivered whose text, speaker (``from``) or times (``duration``) the provider changed
  afterwards: Symbl's Conversation API (``GET /v1/conversations/{id}/messages``,
  https://docs.symbl.ai/docs/conversation-api/messages) after re-processing or a Speakers API call
  (``PUT /v1/conversations/{id}/speakers``). Each message has the shape of a ``message_response``
  message and carries its *whole* new state under the *same* ``id``: the utterance is updated in
  place, so links to it stay valid. Stored once per distinct correction (see :func:`dedupe_key`).
* ``{"type": "session_status", "status": <Meeting.Status>, "reason": str}``
* ``{"type": "progress", "percent": 0..100, "processedMs": int, "durationMs": int}``
* ``{"type": "summary_response", "summary": [{"id", "text", "messageRefs": [{"id"}]}]}`` — the
  shape of Symbl's Conversation API summary (``GET /v1/conversations/{id}/summary``).
* ``{"type": "provider_event", "provider": str, "message": str, "original": <frame>}`` — a frame a
  provider sent that Parley does not know: kept in the event log for the record, shown nowhere.

:func:`validate` checks an event and returns its type name; a malformed event raises
:class:`ProtocolError` and is logged and dropped by the persister, never ending a session.
"""
import hashlib
import json
import uuid

PLATFORM_TYPES = {
    "conversation_created",
    "started_listening",
    "recognition_started",
    "recognition_result",
    "recognition_stopped",
    "conversation_completed",
    "session_modified",
    "error",
}
INSIGHT_TYPES = {"question", "action_item", "follow_up"}
STATUSES = {"scheduled", "connecting", "live", "stopping", "processing", "completed", "failed"}


class ProtocolError(ValueError):
    """An event that does not follow the protocol; the message says what is wrong."""


def event_type(event):
    """The type name of an event: the inner type of a Symbl platform ``message`` envelope."""
    if not isinstance(event, dict):
        raise ProtocolError(f"an event must be a JSON object, not {type(event).__name__}")
    outer = event.get("type")
    if outer == "message":
        inner = event.get("message")
        if not isinstance(inner, dict) or not isinstance(inner.get("type"), str):
            raise ProtocolError("a 'message' event needs a 'message' object with a 'type'")
        return inner["type"]
    if not isinstance(outer, str) or not outer:
        raise ProtocolError("an event needs a 'type'")
    return outer


def _require(condition, message):
    if not condition:
        raise ProtocolError(message)


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_list_of_objects(event, key):
    items = event.get(key)
    _require(isinstance(items, list) and items, f"'{key}' must be a non-empty list")
    for item in items:
        _require(isinstance(item, dict), f"every entry of '{key}' must be an object")
    return items


def _validate_recognition_result(message):
    _require(isinstance(message.get("isFinal"), bool), "recognition_result needs a boolean 'isFinal'")
    punctuated = message.get("punctuated")
    _require(
        isinstance(punctuated, dict) and isinstance(punctuated.get("transcript"), str),
        "recognition_result needs 'punctuated.transcript'",
    )


def _validate_message_response(event):
    for message in _check_list_of_objects(event, "messages"):
        _require(isinstance(message.get("id"), str) and message["id"], "every message needs an 'id'")
        payload = message.get("payload")
        _require(
            isinstance(payload, dict) and isinstance(payload.get("content"), str),
            f"message {message['id']} needs 'payload.content'",
        )
        duration = message.get("duration")
        if duration is not None:
            _require(isinstance(duration, dict), f"message {message['id']}: 'duration' must be an object")
            for key in ("timeOffset", "duration"):
                if key in duration:
                    _require(_is_number(duration[key]) and duration[key] >= 0,
                             f"message {message['id']}: 'duration.{key}' must be seconds >= 0")


def _validate_insight_response(event):
    for insight in _check_list_of_objects(event, "insights"):
        _require(isinstance(insight.get("id"), str) and insight["id"], "every insight needs an 'id'")
        _require(insight.get("type") in INSIGHT_TYPES,
                 f"insight {insight['id']}: type must be one of {sorted(INSIGHT_TYPES)}")
        _require(bool(insight_text(insight)), f"insight {insight['id']} needs 'payload.content'")


def _validate_topic_response(event):
    for topic in _check_list_of_objects(event, "topics"):
        _require(isinstance(topic.get("phrases"), str) and topic["phrases"].strip(), "every topic needs 'phrases'")
        score = topic.get("score", 0)
        _require(_is_number(score), f"topic {topic['phrases']!r}: 'score' must be a number")


def _validate_tracker_response(event):
    for tracker in _check_list_of_objects(event, "trackers"):
        _require(isinstance(tracker.get("name"), str) and tracker["name"], "every tracker needs a 'name'")
        _require(isinstance(tracker.get("matches", []), list), f"tracker {tracker['name']!r}: 'matches' must be a list")


def _validate_summary_response(event):
    for part in _check_list_of_objects(event, "summary"):
        _require(isinstance(part.get("text"), str), "every summary part needs 'text'")


def _validate_session_status(event):
    _require(event.get("status") in STATUSES, f"session_status: status must be one of {sorted(STATUSES)}")
    _require(isinstance(event.get("reason", ""), str), "session_status: 'reason' must be a string")


def _validate_provider_event(event):
    _require(isinstance(event.get("provider"), str) and event["provider"], "provider_event needs a 'provider'")


def _validate_progress(event):
    percent = event.get("percent")
    _require(_is_number(percent) and 0 <= percent <= 100, "progress: 'percent' must be a number from 0 to 100")


_TOP_LEVEL = {
    "message_response": _validate_message_response,
    "message_correction": _validate_message_response,
    "insight_response": _validate_insight_response,
    "topic_response": _validate_topic_response,
    "tracker_response": _validate_tracker_response,
    "entity_response": lambda event: None,
    "summary_response": _validate_summary_response,
    "session_status": _validate_session_status,
    "progress": _validate_progress,
    "provider_event": _validate_provider_event,
    "error": lambda event: None,
}


def validate(event):
    """Check ``event`` against the protocol and return its type name.

    Raises :class:`ProtocolError` naming the first problem found.
    """
    kind = event_type(event)
    if event["type"] == "message":
        _require(kind in PLATFORM_TYPES, f"unknown platform message type {kind!r}")
        if kind == "recognition_result":
            _validate_recognition_result(event["message"])
        return kind
    validator = _TOP_LEVEL.get(kind)
    _require(validator is not None, f"unknown event type {kind!r}")
    validator(event)
    return kind


def dedupe_key(event):
    """A stable key for events that carry provider ids, so a redelivered event is stored once.

    Interim results, progress and status events have none: each one is new.
    """
    kind = event_type(event)
    if kind == "message_response":
        ids = sorted(m["id"] for m in event["messages"])
    elif kind == "insight_response":
        ids = sorted(i["id"] for i in event["insights"])
    elif kind == "conversation_completed":
        data = event["message"].get("data") or {}
        ids = [str(data.get("conversationId") or event["message"].get("conversationId") or "")]
    elif kind == "summary_response":
        ids = [hashlib.sha256("\n".join(p["text"] for p in event["summary"]).encode()).hexdigest()]
    elif kind == "tracker_response":
        ids = [hashlib.sha256(json.dumps(sorted(tracker_hits(event))).encode()).hexdigest()]
    elif kind == "message_correction":
        # The same correction (ids and new state) is one event; a later, different one is another.
        state = sorted([m["id"], m["payload"]["content"].strip(), speaker_key(m.get("from")),
                        *[(m.get("duration") or {}).get(k) for k in ("timeOffset", "duration")]]
                       for m in event["messages"])
        ids = [hashlib.sha256(json.dumps(state, default=str).encode()).hexdigest()]
    else:
        return None
    key = f"{kind}:{','.join(ids)}"
    if len(key) > 200:
        key = f"{kind}:sha256:{hashlib.sha256(key.encode()).hexdigest()}"
    return key


def insight_text(insight):
    """The text of an insight: ``payload.content``, or ``text`` in Symbl's older documents."""
    payload = insight.get("payload")
    if isinstance(payload, dict) and isinstance(payload.get("content"), str):
        return payload["content"].strip()
    text = insight.get("text")
    return text.strip() if isinstance(text, str) else ""


def insight_message_ids(insight):
    """Message ids an insight refers to: Symbl's single ``messageReference`` and our list form."""
    ids = []
    single = insight.get("messageReference")
    if isinstance(single, dict) and single.get("id"):
        ids.append(single["id"])
    for ref in insight.get("messageReferences") or []:
        if isinstance(ref, dict) and ref.get("id") and ref["id"] not in ids:
            ids.append(ref["id"])
    return ids


def tracker_hits(event):
    """The hits of a ``tracker_response`` as ``(tracker name, matched value, message id)`` triples
    (message id "" for a match that refers to no message)."""
    hits = []
    for tracker in event.get("trackers") or []:
        for match in tracker.get("matches") or [] if isinstance(tracker, dict) else []:
            if not isinstance(match, dict):
                continue
            refs = [r.get("id") or "" for r in match.get("messageRefs") or [] if isinstance(r, dict)] or [""]
            hits += [(str(tracker.get("name")), str(match.get("value") or ""), str(ref)) for ref in refs]
    return hits


def speaker_key(who):
    """The key a speaker is grouped by, from Symbl's ``user``/``from``: ``userId``, else ``id``, else
    ``name`` ("" when none)."""
    if not isinstance(who, dict):
        return ""
    return str(who.get("userId") or who.get("id") or who.get("name") or "").strip()


def new_id():
    """A provider-style message id (UUIDv4 string)."""
    return str(uuid.uuid4())


# Builders: engines call these rather than writing the dicts by hand.

def user_ref(key, name):
    """Symbl's ``user``/``from`` object for a speaker."""
    return {"id": key, "userId": key, "name": name}


def recognition_result(text, *, is_final, user, time_offset_ms):
    """A ``recognition_result``; ``time_offset_ms`` is the utterance start, ms since stream start."""
    return {
        "type": "message",
        "message": {
            "type": "recognition_result",
            "isFinal": is_final,
            "payload": {"raw": {"alternatives": [{"words": [], "transcript": text, "confidence": 0}]}},
            "punctuated": {"transcript": text},
            "user": user,
        },
        "timeOffset": int(time_offset_ms),
    }


def message_response(message_id, text, *, user, start_ms, end_ms, words=None):
    """A ``message_response`` holding one final utterance from ``start_ms`` to ``end_ms``."""
    message = {
        "id": message_id,
        "from": user,
        "payload": {"content": text, "contentType": "text/plain"},
        "channel": {"id": "realtime-api"},
        "duration": {"timeOffset": start_ms / 1000, "duration": max(0, end_ms - start_ms) / 1000},
    }
    if words is not None:
        message["metadata"] = {"words": words}
    return {"type": "message_response", "messages": [message]}


def message_correction(messages):
    """A ``message_correction`` for ``messages`` (``message_response`` message objects, each with the
    id of an utterance already delivered and its whole new state)."""
    return {"type": "message_correction", "messages": list(messages)}


def insight(insight_id, kind, text, *, message_ids, user=None, assignee=None, due=None):
    """One insight object for an ``insight_response``; ``due`` is a ``datetime.date`` or None."""
    body = {
        "id": insight_id,
        "type": kind,
        "payload": {"content": text, "contentType": "text/plain"},
        "tags": [],
        "dismissed": False,
        "messageReference": {"id": message_ids[0]} if message_ids else None,
        "messageReferences": [{"id": m} for m in message_ids],
    }
    if user:
        body["from"] = user
    if assignee:
        body["assignee"] = {"name": assignee}
    if due:
        body["dueBy"] = {"value": due.isoformat()}
    return body


def insight_response(insights):
    return {"type": "insight_response", "insights": list(insights)}


def topic(phrase, score, message_ids):
    return {
        "id": hashlib.sha1(phrase.lower().encode()).hexdigest()[:16],
        "phrases": phrase,
        "score": round(float(score), 4),
        "type": "topic",
        "messageReferences": [{"id": m, "relation": "text instance"} for m in message_ids],
    }


def topic_response(topics):
    return {"type": "topic_response", "topics": list(topics)}


def summary_response(sentences):
    """``sentences``: iterable of ``(text, message_ids)``."""
    return {
        "type": "summary_response",
        "summary": [
            {"id": new_id(), "text": text, "messageRefs": [{"id": m} for m in ids]} for text, ids in sentences
        ],
    }


def platform(kind, **data):
    """A Symbl platform envelope such as ``conversation_created`` or ``recognition_stopped``."""
    message = {"type": kind}
    if data:
        message["data"] = data
    return {"type": "message", "message": message}


def provider_event(provider, message, original):
    """A provider frame Parley does not know, kept verbatim under ``original``."""
    return {"type": "provider_event", "provider": provider, "message": message, "original": original}


def session_status(status, reason=""):
    return {"type": "session_status", "status": status, "reason": reason}


def progress(processed_ms, duration_ms):
    percent = 100.0 if not duration_ms else min(100.0, 100.0 * processed_ms / duration_ms)
    return {"type": "progress", "percent": round(percent, 1), "processedMs": int(processed_ms),
            "durationMs": int(duration_ms or 0)}
