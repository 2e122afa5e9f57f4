"""The event protocol accepts Symbl's real message shapes and rejects malformed events clearly."""
import json
from datetime import date

import pytest

from streaming import events

# A real capture from Symbl's Go SDK (api-contracts.md §2.3), as the Streaming API sent it.
REAL_RECOGNITION_RESULT = {
    "type": "message",
    "message": {
        "type": "recognition_result",
        "isFinal": True,
        "payload": {"raw": {"alternatives": [{"words": [], "transcript": "Testing 1, 2 3.", "confidence": 0.86}]}},
        "punctuated": {"transcript": "Testing 1, 2 3."},
        "user": {"userId": "user@email.com", "name": "Jane Doe", "id": "bc58c2d6-e4d1-4d9f-a668-86587efc3dfe"},
    },
    "timeOffset": 6781,
}
REAL_MESSAGE_RESPONSE = {
    "type": "message_response",
    "sequenceNumber": 1,
    "messages": [
        {
            "from": {"id": "bc58c2d6", "name": "Jane Doe", "userId": "user@email.com"},
            "payload": {"content": "How are you doing today?", "contentType": "text/plain"},
            "id": "63a52ae6-79db-4e4f-97bf-ebea7f1abe6f",
            "channel": {"id": "realtime-api"},
            "duration": {"startTime": "2022-10-05T19:46:56.663Z", "endTime": "2022-10-05T19:46:57.663Z",
                         "timeOffset": 5, "duration": 1},
        }
    ],
}
REAL_INSIGHT_RESPONSE = {
    "type": "insight_response",
    "sequenceNumber": 1,
    "insights": [
        {
            "id": "9c050e5f-c50a-413c-a44b-6fbc857a62a1",
            "confidence": 0.97,
            "type": "question",
            "assignee": {"id": "bc58c2d6", "name": "Jane Doe", "userId": "user@email.com"},
            "payload": {"content": "How are you doing today?", "contentType": "text/plain"},
            "messageReference": {"id": "63a52ae6-79db-4e4f-97bf-ebea7f1abe6f"},
        }
    ],
}
# The documented tracker_response (api-contracts.md §2.3, Symbl's events-and-callbacks reference).
DOCUMENTED_TRACKER_RESPONSE = {
    "type": "tracker_response", "isFinal": True, "sequenceNumber": 1,
    "trackers": [{"name": "Goodness", "matches": [{"type": "vocabulary", "value": "Hello world", "messageRefs": [
        {"id": "8e720656", "text": "Hello world.", "offset": 0}], "insightRefs": []}]}],
}
REAL_TOPIC_RESPONSE = {
    "type": "topic_response",
    "topics": [{"id": "e69a5556", "messageReferences": [{"id": "0df44422", "relation": "text instance"}],
                "phrases": "auto insurance", "rootWords": [{"text": "auto"}], "score": 0.9, "type": "topic"}],
}


@pytest.mark.parametrize(
    "event, kind",
    [
        (REAL_RECOGNITION_RESULT, "recognition_result"),
        (REAL_MESSAGE_RESPONSE, "message_response"),
        (REAL_INSIGHT_RESPONSE, "insight_response"),
        (REAL_TOPIC_RESPONSE, "topic_response"),
        (DOCUMENTED_TRACKER_RESPONSE, "tracker_response"),
        (events.message_correction(REAL_MESSAGE_RESPONSE["messages"]), "message_correction"),
        ({"type": "message", "message": {"type": "conversation_created", "data": {"conversationId": "5751229838262272"}}},
         "conversation_created"),
        (events.session_status("live"), "session_status"),
        (events.progress(500, 1000), "progress"),
    ],
)
def test_it_accepts_symbl_shapes(event, kind):
    assert events.validate(event) == kind


def test_the_streaming_sample_from_symbls_docs_is_valid_once_ids_are_given(data_dir):
    # Symbl's documented minimal message_response lacks ids; with ids it is a valid event.
    sample = json.loads((data_dir / "symbl" / "streaming_messages.json").read_text())
    for n, message in enumerate(sample["messages"]):
        message["id"] = f"m{n}"
    assert events.validate(sample) == "message_response"


@pytest.mark.parametrize(
    "event, problem",
    [
        ("text", "JSON object"),
        ({}, "needs a 'type'"),
        ({"type": "message"}, "'message' object"),
        ({"type": "message", "message": {"type": "recognition_result", "punctuated": {"transcript": "x"}}}, "isFinal"),
        ({"type": "message", "message": {"type": "recognition_result", "isFinal": False}}, "punctuated.transcript"),
        ({"type": "message", "message": {"type": "teleport"}}, "unknown platform message"),
        ({"type": "message_response", "messages": []}, "non-empty list"),
        ({"type": "message_response", "messages": [{"payload": {"content": "hi"}}]}, "needs an 'id'"),
        ({"type": "message_response", "messages": [{"id": "a", "payload": {}}]}, "payload.content"),
        ({"type": "message_response", "messages": [{"id": "a", "payload": {"content": "x"}, "duration": {"timeOffset": -1}}]},
         "seconds >= 0"),
        ({"type": "insight_response", "insights": [{"id": "i", "type": "gossip", "payload": {"content": "x"}}]}, "type must be"),
        ({"type": "insight_response", "insights": [{"id": "i", "type": "question"}]}, "payload.content"),
        ({"type": "topic_response", "topics": [{"phrases": " "}]}, "phrases"),
        ({"type": "tracker_response", "trackers": [{"matches": []}]}, "needs a 'name'"),
        ({"type": "message_correction", "messages": [{"payload": {"content": "hi"}}]}, "needs an 'id'"),
        ({"type": "message_correction", "messages": []}, "non-empty list"),
        ({"type": "session_status", "status": "exploded"}, "status must be"),
        ({"type": "progress", "percent": 140}, "0 to 100"),
        ({"type": "weather_report"}, "unknown event type"),
        ({"type": "provider_event", "message": "x"}, "needs a 'provider'"),
    ],
)
def test_it_rejects_malformed_events_saying_what_is_wrong(event, problem):
    with pytest.raises(events.ProtocolError, match=problem):
        events.validate(event)


def test_old_insight_text_field_is_read():
    assert events.insight_text({"text": " Send the deck "}) == "Send the deck"


def test_dedupe_keys_follow_provider_ids():
    assert events.dedupe_key(REAL_MESSAGE_RESPONSE) == "message_response:63a52ae6-79db-4e4f-97bf-ebea7f1abe6f"
    assert events.dedupe_key(REAL_INSIGHT_RESPONSE).startswith("insight_response:9c050e5f")
    assert events.dedupe_key(REAL_RECOGNITION_RESULT) is None
    assert events.dedupe_key(events.progress(1, 2)) is None
    many = {"type": "message_response", "messages": [{"id": f"{n:040d}", "payload": {"content": "x"}} for n in range(9)]}
    assert len(events.dedupe_key(many)) <= 200


def test_builders_make_valid_events():
    user = events.user_ref("u1", "Ann")
    built = [
        events.recognition_result("hello", is_final=False, user=user, time_offset_ms=120),
        events.message_response("m1", "hello there", user=user, start_ms=120, end_ms=1500),
        events.insight_response([events.insight("i1", "action_item", "Ann will send it", message_ids=["m1"],
                                                 assignee="Ann", due=date(2026, 11, 23))]),
        events.topic_response([events.topic("budget", 0.8, ["m1"])]),
        events.summary_response([("Ann will send it.", ["m1"])]),
        events.platform("recognition_stopped"),
        events.provider_event("symbl", "unknown frame", {"type": "speaker_change_detected"}),
    ]
    for event in built:
        events.validate(event)
    assert built[1]["messages"][0]["duration"] == {"timeOffset": 0.12, "duration": 1.38}
    assert built[2]["insights"][0]["dueBy"] == {"value": "2026-11-23"}


def corrected(text, *, name="Jane Doe", user_id="user@email.com", offset=5):
    message = json.loads(json.dumps(REAL_MESSAGE_RESPONSE["messages"][0]))
    message["payload"]["content"] = text
    message["from"].update(name=name, userId=user_id)
    message["duration"]["timeOffset"] = offset
    return events.message_correction([message])


def test_a_correction_is_keyed_by_what_it_changes_to():
    first = corrected("How are you doing today?")
    # Redelivered (a second reconciliation, a retried task): the same key, stored once.
    assert events.dedupe_key(first) == events.dedupe_key(json.loads(json.dumps(first)))
    assert events.dedupe_key(first).startswith("message_correction:")
    # A later, different correction of the same message is a new event.
    assert len({events.dedupe_key(e) for e in (
        first, corrected("How are you doing, today?"),
        corrected("How are you doing today?", user_id="roger@example.com"),
        corrected("How are you doing today?", offset=6))}) == 4
    # The display name alone is not who spoke: the speaker is keyed by userId.
    assert events.dedupe_key(corrected("How are you doing today?", name="Jane")) == events.dedupe_key(first)


def test_tracker_hits_and_their_key():
    assert events.tracker_hits(DOCUMENTED_TRACKER_RESPONSE) == [("Goodness", "Hello world", "8e720656")]
    again = json.loads(json.dumps(DOCUMENTED_TRACKER_RESPONSE))
    again["sequenceNumber"] = 7  # the same hit redelivered
    assert events.dedupe_key(again) == events.dedupe_key(DOCUMENTED_TRACKER_RESPONSE)
    other = json.loads(json.dumps(DOCUMENTED_TRACKER_RESPONSE))
    other["trackers"][0]["matches"][0]["messageRefs"][0]["id"] = "0df44422"
    assert events.dedupe_key(other) != events.dedupe_key(DOCUMENTED_TRACKER_RESPONSE)
