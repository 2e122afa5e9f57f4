"""Symbl's documented and captured shapes mapped into Parley's protocol (tests/data/symbl/, see PROVENANCE.md)."""
import json
import logging

import pytest

from streaming import events
from streaming.engines.symbl import mapping
from streaming.engines.symbl.conversation import insight_event, message_event
from streaming.engines.symbl.client import BadRequest, NotFound, RateLimited, ServerError, SymblError, Unauthorized, error_for


@pytest.fixture
def samples(data_dir):
    return lambda name: json.loads((data_dir / "symbl" / name).read_text())


# The real recognition_result captured by Symbl's Go SDK (api-contracts.md §2.3, S-GO-CAP).
CAPTURED_RESULT = {"type": "message", "message": {"type": "recognition_result", "isFinal": True, "payload": {"raw": {
    "alternatives": [{"words": [{"word": "Testing", "startTime": {"seconds": "0", "nanos": "900000000"},
                                 "endTime": {"seconds": "1", "nanos": "600000000"}}],
                      "transcript": "Testing 1, 2 3.", "confidence": 0.8634329438209534}]}},
    "punctuated": {"transcript": "Testing 1, 2 3."},
    "user": {"userId": "user@email.com", "name": "Jane Doe", "id": "bc58c2d6-e4d1-4d9f-a668-86587efc3dfe"}},
    "timeOffset": 6781}


def test_a_captured_recognition_result_passes_through_unchanged():
    assert mapping.to_events(CAPTURED_RESULT) == [CAPTURED_RESULT]
    assert events.validate(CAPTURED_RESULT) == "recognition_result"


def test_a_recognition_result_without_punctuation_takes_the_raw_transcript():
    frame = json.loads(json.dumps(CAPTURED_RESULT))
    del frame["message"]["punctuated"]
    (event,) = mapping.to_events(frame)
    assert event["message"]["punctuated"]["transcript"] == "Testing 1, 2 3."


def test_the_docs_minimal_message_response_gets_stable_ids_one_event_per_message(samples):
    frame = samples("streaming_messages.json")  # Symbl's reference example: no ids, no durations
    mapped = mapping.to_events(frame, connection_id="conn-1")
    assert len(mapped) == 2
    for event, original in zip(mapped, frame["messages"]):
        assert events.validate(event) == "message_response"
        assert event["messages"][0]["payload"]["content"] == original["payload"]["content"]
        assert event["messages"][0]["from"]["userId"] == "jane.doe@example.com"
    ids = [e["messages"][0]["id"] for e in mapped]
    assert len(set(ids)) == 2
    # A redelivery of the same frame maps to the same ids: the persister stores it once.
    assert [e["messages"][0]["id"] for e in mapping.to_events(frame, connection_id="conn-1")] == ids
    assert events.dedupe_key(mapped[0]) == f"message_response:{ids[0]}"


def test_conversation_api_questions_and_follow_ups_become_insight_events(samples):
    question = samples("questions.json")["questions"][0]
    event = insight_event(question, "question")
    assert events.validate(event) == "insight_response"
    assert event["insights"][0]["id"] == "6673386714431488"
    assert events.insight_message_ids(event["insights"][0]) == ["5561105242914816"]
    follow_up = samples("follow-ups.json")["followUps"][0]
    event = insight_event(follow_up, "follow_up")
    assert events.validate(event) == "insight_response"
    assert event["insights"][0]["dueBy"] == {"value": "2020-06-22T07:00:00.000Z"}
    assert "assignee" not in event["insights"][0]  # Symbl's sample has an empty assignee


def test_a_conversation_api_message_keeps_its_id_and_timing():
    message = {"id": "6412283618000896", "text": "Best package for you is $69.99 per month.",
               "from": {"name": "Roger", "email": "Roger@example.com"}, "startTime": "2020-07-10T11:16:21.024Z",
               "endTime": "2020-07-10T11:16:26.724Z", "timeOffset": 5.9, "duration": 1,
               "conversationId": "6749556955938816"}  # the Conversation API reference's example (§6)
    event = message_event(message)
    assert events.validate(event) == "message_response"
    body = event["messages"][0]
    assert body["id"] == "6412283618000896" and body["from"]["userId"] == "Roger@example.com"
    assert body["duration"]["timeOffset"] == 5.9 and body["duration"]["duration"] == 1


def test_error_frames_in_both_documented_forms():
    top = {"type": "error", "details": "Invalid audio format", "message": "Bad request"}
    nested = {"type": "message", "message": {"type": "error", "message": "Something went wrong"}}
    assert mapping.to_events(top) == [{"type": "error", "message": "Bad request", "details": "Invalid audio format"}]
    assert mapping.to_events(nested) == [{"type": "error", "message": "Something went wrong"}]


def test_insights_of_unknown_types_are_dropped_and_empty_responses_emit_nothing():
    frame = {"type": "insight_response", "insights": [{"id": "1", "type": "gossip", "payload": {"content": "x"}}]}
    assert mapping.to_events(frame) == []
    assert mapping.to_events({"type": "topic_response", "topics": []}) == []


def test_the_typed_errors_carry_status_and_symbls_message(samples):
    assert samples("speakers.json")["message"].startswith("Speaker events associated")
    for status, cls in ((400, BadRequest), (401, Unauthorized), (404, NotFound), (429, RateLimited), (500, ServerError),
                        (503, ServerError), (405, SymblError)):
        error = error_for(status, "Token validation failed for provided token.")
        assert type(error) is cls and error.status == status
        assert str(error) == f"Token validation failed for provided token. (HTTP {status})"


def test_the_documented_tracker_response_passes_through_and_an_empty_one_is_dropped():
    # api-contracts.md §2.3 (Symbl's events-and-callbacks reference).
    frame = {"type": "tracker_response", "isFinal": True, "sequenceNumber": 1, "trackers": [{
        "name": "Goodness", "matches": [{"type": "vocabulary", "value": "Hello world", "messageRefs": [
            {"id": "8e720656", "text": "Hello world.", "offset": 0}], "insightRefs": []}]}]}
    assert mapping.to_events(frame) == [frame]
    assert events.validate(frame) == "tracker_response"
    assert mapping.to_events({"type": "tracker_response", "trackers": []}) == []


def test_a_frame_parley_does_not_know_is_logged_and_kept_whole(caplog):
    frame = {"type": "message", "message": {"type": "speaker_change_detected", "data": {"offset": 4.2}}}
    with caplog.at_level(logging.WARNING, logger="streaming.engines.symbl.mapping"):
        (event,) = mapping.to_events(frame)
    assert "speaker_change_detected" in caplog.text and "does not know" in caplog.text
    assert events.validate(event) == "provider_event"
    assert event["provider"] == "symbl" and event["original"] == frame
    assert events.dedupe_key(event) is None  # each one is kept
