"""The persister: numbered, idempotent, projected onto the hub, published only after commit."""
import asyncio
import json
import logging
import time
from datetime import date

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.db import transaction

from meetings.models import Insight, Meeting, MeetingEvent, SearchEntry, Speaker, Summary, Topic, Utterance
from meetings.serializers import PROVISIONAL_WINDOW, snapshot
from streaming import events, persist
from streaming.persist import LIVE_LAYER, LeaseLost, persist_event
from tests.conftest import new_meeting

pytestmark = pytest.mark.django_db(transaction=True)

ANN = events.user_ref("ann@example.com", "Ann")


def said(message_id, text, start_ms, end_ms, user=ANN):
    return events.message_response(message_id, text, user=user, start_ms=start_ms, end_ms=end_ms)


def test_events_are_numbered_from_one_without_gaps(meeting):
    for n in range(5):
        persist_event(meeting.pk, events.progress(n, 10))
    assert list(meeting.events.values_list("seq", flat=True)) == [1, 2, 3, 4, 5]
    meeting.refresh_from_db()
    assert meeting.last_seq == 5


def test_each_meeting_has_its_own_sequence(meeting, alice):
    other = new_meeting(alice, title="Other")
    persist_event(meeting.pk, events.progress(1, 10))
    persist_event(other.pk, events.progress(1, 10))
    assert other.events.get().seq == 1


def test_the_same_provider_message_is_stored_once(meeting):
    first = persist_event(meeting.pk, said("m-1", "Hello there.", 0, 900))
    again = persist_event(meeting.pk, said("m-1", "Hello there.", 0, 900))
    assert first is not None and again is None
    assert meeting.events.count() == 1
    assert Utterance.objects.filter(meeting=meeting).count() == 1


def test_a_message_already_stored_keeps_its_first_delivery_and_the_others_are_added(meeting):
    persist_event(meeting.pk, said("m-1", "Hello there.", 0, 900))
    # Redelivered beside a new message (a different event: its dedupe key differs), and a message
    # repeated within one event: each id is one utterance, the first text it came with.
    both = events.message_response("m-1", "Hello again?", user=ANN, start_ms=0, end_ms=900)
    both["messages"] += said("m-2", "Shall we start.", 1000, 1800)["messages"] * 2
    assert persist_event(meeting.pk, both) is not None
    assert list(Utterance.objects.filter(meeting=meeting).order_by("start_ms").values_list("message_id", "text")) == [
        ("m-1", "Hello there."), ("m-2", "Shall we start.")]
    assert SearchEntry.objects.filter(utterance__meeting=meeting).count() == 2
    assert meeting.speakers.get().name == "Ann"


def test_a_malformed_event_is_logged_and_dropped(meeting, caplog):
    with caplog.at_level(logging.WARNING, logger="streaming.persist"):
        assert persist_event(meeting.pk, {"type": "message_response", "messages": [{"id": "x"}]}) is None
    assert "payload.content" in caplog.text
    assert meeting.events.count() == 0
    # ...and the next good event still gets number 1.
    assert persist_event(meeting.pk, events.progress(1, 2)).seq == 1


def snapshot_lines(meeting):
    return [(u["message_id"], u["speaker"], u["text"], u["start_ms"], u["is_final"])
            for u in snapshot(meeting.pk)[1]["utterances"]]


def test_final_text_replaces_the_provisional_line(meeting):
    persist_event(meeting.pk, events.session_status("live"))
    persist_event(meeting.pk, events.recognition_result("we should", is_final=False, user=ANN, time_offset_ms=1000))
    persist_event(meeting.pk, events.recognition_result("we should ship it", is_final=False, user=ANN, time_offset_ms=1000))
    # A partial result is in the log only: no row is written for it.
    assert not Utterance.objects.filter(meeting=meeting).exists()
    assert snapshot_lines(meeting) == [("interim:ann@example.com", "Ann", "we should ship it", 1000, False)]
    persist_event(meeting.pk, said("m-1", "We should ship it Friday.", 1000, 2600))
    utterance = Utterance.objects.get(meeting=meeting)
    assert (utterance.text, utterance.start_ms, utterance.end_ms) == ("We should ship it Friday.", 1000, 2600)
    assert utterance.speaker.name == "Ann" and utterance.speaker.key == "ann@example.com"
    assert snapshot_lines(meeting) == [("m-1", "Ann", "We should ship it Friday.", 1000, True)]


def test_each_speaker_keeps_their_own_provisional_line(meeting):
    bob = events.user_ref("bob", "Bob")
    persist_event(meeting.pk, events.session_status("live"))
    persist_event(meeting.pk, events.recognition_result("so the", is_final=False, user=bob, time_offset_ms=500))
    persist_event(meeting.pk, events.recognition_result("we should", is_final=False, user=ANN, time_offset_ms=1000))
    persist_event(meeting.pk, said("m-1", "We should ship it.", 1000, 2000))
    # Ann's final text replaced her line, not Bob's; a final recognition_result alone replaces nothing.
    persist_event(meeting.pk, events.recognition_result("so the plan", is_final=True, user=bob, time_offset_ms=500))
    persist_event(meeting.pk, events.recognition_result("and", is_final=False, user=ANN, time_offset_ms=2100))
    Speaker.objects.filter(meeting=meeting, key="bob").update(name="Robert")  # renamed in Parley
    assert snapshot_lines(meeting) == [
        ("m-1", "Ann", "We should ship it.", 1000, True),
        ("interim:bob", "Robert", "so the", 500, False),
        ("interim:ann@example.com", "Ann", "and", 2100, False),
    ]


def test_a_provisional_line_older_than_the_window_is_not_shown(meeting):
    persist_event(meeting.pk, events.session_status("live"))
    persist_event(meeting.pk, events.recognition_result("abandoned", is_final=False, user=ANN, time_offset_ms=0))
    bob = events.user_ref("bob", "Bob")
    for n in range(PROVISIONAL_WINDOW):
        persist_event(meeting.pk, said(f"b-{n}", "Next.", n * 10, n * 10 + 5, user=bob))
    assert [line for line in snapshot_lines(meeting) if not line[4]] == []


def test_insights_topics_and_summary_are_projected_with_their_utterances(meeting):
    persist_event(meeting.pk, said("m-1", "Ann will send the deck by Friday.", 0, 2000))
    persist_event(meeting.pk, said("m-2", "What is the budget?", 2000, 3000))
    persist_event(meeting.pk, events.insight_response([
        events.insight("i-1", "action_item", "Ann will send the deck by Friday.", message_ids=["m-1"],
                       assignee="Ann", due=date(2026, 11, 27)),
        events.insight("i-2", "question", "What is the budget?", message_ids=["m-2"]),
    ]))
    persist_event(meeting.pk, events.topic_response([events.topic("deck", 0.7, ["m-1"])]))
    persist_event(meeting.pk, events.topic_response([events.topic("deck", 0.9, ["m-1"])]))
    persist_event(meeting.pk, events.summary_response([("Ann will send the deck by Friday.", ["m-1"])]))

    action = Insight.objects.get(provider_id="i-1")
    assert (action.type, action.assignee, action.due) == ("action_item", "Ann", date(2026, 11, 27))
    assert [u.message_id for u in action.utterances.all()] == ["m-1"]
    topic = Topic.objects.get(meeting=meeting)
    assert (topic.phrase, topic.score) == ("deck", 0.9)
    assert Summary.objects.get(meeting=meeting).text == "Ann will send the deck by Friday."


@pytest.mark.parametrize("together", [False, True], ids=["one by one", "in one batch"])
def test_each_topic_response_replaces_the_topics_scores_and_utterances(meeting, alice, together):
    other = new_meeting(alice)
    for n, text in enumerate(["The deck is late.", "The budget for the deck.", "Budget review."], 1):
        persist_event(meeting.pk, said(f"m-{n}", text, 1000 * n, 1000 * n + 900))
    persist_event(other.pk, said("m-1", "Another deck.", 0, 900))
    lists = [
        (meeting.pk, events.topic_response([events.topic("deck", 0.7, ["m-1", "m-2"]),
                                            events.topic("budget", 0.4, ["m-2"]), events.topic("launch", 0.3, ["m-3"])])),
        (other.pk, events.topic_response([events.topic("deck", 0.5, ["m-1"])])),
        # Symbl's next list: "launch" is no longer in it, and keeps what it had.
        (meeting.pk, events.topic_response([events.topic("deck", 0.9, ["m-2"]),
                                            events.topic("budget", 0.4, ["m-2", "m-3", "m-gone"]),
                                            events.topic("review", 0.2, [])])),
    ]
    if together:
        assert all(error is None for _, error in persist._store_batch([(m, e, None) for m, e in lists]))
    else:
        for meeting_id, event in lists:
            persist_event(meeting_id, event)

    def topics(of):
        return {t.phrase: (t.score, sorted(u.message_id for u in t.utterances.all()))
                for t in Topic.objects.filter(meeting=of)}

    assert topics(meeting) == {"deck": (0.9, ["m-2"]), "budget": (0.4, ["m-2", "m-3"]), "review": (0.2, []),
                               "launch": (0.3, ["m-3"])}
    assert topics(other) == {"deck": (0.5, ["m-1"])}
    assert set(SearchEntry.objects.filter(meeting=meeting, kind="topic").values_list("text", flat=True)) == {
        "deck", "budget", "review", "launch"}


def test_status_events_drive_the_lifecycle(meeting):
    for status in ("connecting", "live", "processing", "completed"):
        persist_event(meeting.pk, events.session_status(status))
    meeting.refresh_from_db()
    assert meeting.status == "completed"
    assert meeting.started_at and meeting.ended_at and meeting.started_at <= meeting.ended_at


def test_an_impossible_transition_is_refused(meeting):
    persist_event(meeting.pk, events.session_status("failed", "Upstream closed the socket."))
    assert persist_event(meeting.pk, events.session_status("live")) is None
    meeting.refresh_from_db()
    assert (meeting.status, meeting.failure_reason) == ("failed", "Upstream closed the socket.")
    assert list(meeting.events.values_list("type", flat=True)) == ["session_status"]


def test_ending_a_session_clears_provisional_text(meeting):
    persist_event(meeting.pk, events.session_status("live"))
    persist_event(meeting.pk, events.recognition_result("and then", is_final=False, user=ANN, time_offset_ms=0))
    assert [line[2] for line in snapshot_lines(meeting)] == ["and then"]
    persist_event(meeting.pk, events.session_status("failed", "Engine crashed."))
    assert snapshot_lines(meeting) == []
    assert not Utterance.objects.filter(meeting=meeting).exists()


def test_events_are_published_only_after_commit(meeting, monkeypatch):
    published = []
    monkeypatch.setattr("streaming.persist.publish", lambda *args: published.append(args))
    with transaction.atomic():
        persist_event(meeting.pk, said("m-1", "Hello.", 0, 500))
        assert published == []  # not yet committed: nothing leaves
    assert [(meeting_id, seq) for meeting_id, seq, *_ in published] == [(meeting.pk, 1)]


def test_a_rolled_back_event_is_never_published(meeting, monkeypatch):
    published = []
    monkeypatch.setattr("streaming.persist.publish", lambda *args: published.append(args))
    with pytest.raises(RuntimeError), transaction.atomic():
        persist_event(meeting.pk, said("m-1", "Hello.", 0, 500))
        raise RuntimeError("the surrounding work failed")
    assert published == [] and not meeting.events.exists()


async def test_the_meetings_group_receives_each_event_with_its_number(meeting):
    layer = get_channel_layer(LIVE_LAYER)
    channel = await layer.new_channel()
    await layer.group_add(meeting.group_name, channel)
    await database_sync_to_async(persist_event)(meeting.pk, said("m-1", "Hello.", 0, 500))
    message = await asyncio.wait_for(layer.receive(channel), timeout=5)
    assert message["type"] == "meeting.event" and message["seq"] == 1
    frame = json.loads(message["frame"])
    assert frame["seq"] == 1 and frame["event"]["messages"][0]["id"] == "m-1"


def test_a_runner_that_lost_its_lease_cannot_write(meeting):
    Meeting.objects.filter(pk=meeting.pk).update(runner_id="runner-b")
    with pytest.raises(LeaseLost):
        persist_event(meeting.pk, said("m-1", "Hello.", 0, 500), runner_id="runner-a")
    assert persist_event(meeting.pk, said("m-1", "Hello.", 0, 500), runner_id="runner-b").seq == 1


def test_the_log_is_append_only_in_admin(admin_client, meeting):
    persist_event(meeting.pk, events.progress(1, 2))
    event = MeetingEvent.objects.get()
    assert admin_client.get(f"/admin/meetings/meetingevent/{event.pk}/change/").status_code == 200
    response = admin_client.post(f"/admin/meetings/meetingevent/{event.pk}/change/", {"type": "forged"})
    assert response.status_code == 403
    event.refresh_from_db()
    assert event.type == "progress"


def correction(message_id, text, start_ms, end_ms, user=ANN):
    return events.message_correction(said(message_id, text, start_ms, end_ms, user=user)["messages"])


def test_a_correction_updates_the_utterance_in_place_and_is_stored_once(meeting):
    persist_event(meeting.pk, said("m-1", "we should ship it friday", 1000, 2600))
    persist_event(meeting.pk, said("m-2", "What is the budget?", 2700, 3600))
    persist_event(meeting.pk, events.insight_response([
        events.insight("i-1", "question", "What is the budget?", message_ids=["m-2"])]))
    original = Utterance.objects.get(message_id="m-1")
    bob = events.user_ref("bob@example.com", "Bob")
    fixed = correction("m-1", "We should ship it Friday.", 1100, 2500)
    assert persist_event(meeting.pk, fixed).type == "message_correction"
    assert persist_event(meeting.pk, json.loads(json.dumps(fixed))) is None  # redelivered: dropped
    persist_event(meeting.pk, correction("m-2", "What is the budget?", 2700, 3600, user=bob))

    utterance = Utterance.objects.get(message_id="m-1")
    assert utterance.pk == original.pk
    assert (utterance.text, utterance.start_ms, utterance.end_ms, utterance.speaker.name) == (
        "We should ship it Friday.", 1100, 2500, "Ann")
    assert SearchEntry.objects.get(utterance=utterance).text == "We should ship it Friday."
    moved = Utterance.objects.get(message_id="m-2")
    assert moved.speaker.name == "Bob" and SearchEntry.objects.get(utterance=moved).said_by == moved.speaker
    assert SearchEntry.objects.get(insight__provider_id="i-1").said_by == moved.speaker
    assert list(meeting.events.values_list("type", flat=True)) == [
        "message_response", "message_response", "insight_response", "message_correction", "message_correction"]


def test_a_correction_of_an_utterance_never_delivered_adds_it(meeting):
    persist_event(meeting.pk, correction("m-9", "Late but here.", 0, 800))
    assert Utterance.objects.get(message_id="m-9").text == "Late but here."


async def test_a_cancelled_caller_leaves_nothing_to_be_stored_after_it_returns(meeting, monkeypatch):
    # Each batch takes 0.3 s in its thread: the first event is being stored when its caller is
    # cancelled, the second still waits for the next batch.
    real = persist._store_batch

    def slow(items):
        time.sleep(0.3)
        return real(items)

    monkeypatch.setattr(persist, "_store_batch", slow)
    monkeypatch.setattr(persist._Batcher, "_by_shard", {})
    storing = asyncio.create_task(persist.apersist_event(meeting.pk, said("m-1", "Stored.", 0, 500)))
    await asyncio.sleep(0.1)
    waiting = asyncio.create_task(persist.apersist_event(meeting.pk, said("m-2", "Withdrawn.", 500, 900)))
    await asyncio.sleep(0.05)
    for task in (storing, waiting):
        task.cancel()
    await asyncio.gather(storing, waiting, return_exceptions=True)
    last_seq = lambda: Meeting.objects.get(pk=meeting.pk).last_seq  # noqa: E731
    assert await database_sync_to_async(last_seq)() == 1  # the first was committed before the cancel returned
    await asyncio.sleep(0.5)
    assert await database_sync_to_async(last_seq)() == 1
    stored = await database_sync_to_async(lambda: list(Utterance.objects.values_list("message_id", flat=True)))()
    assert stored == ["m-1"]


def test_one_batch_of_several_meetings_projects_as_its_events_would_one_by_one(meeting, alice):
    other = new_meeting(alice)
    bob = events.user_ref("bob", "Bob")
    persist_event(meeting.pk, said("m-0", "Stored before.", 0, 500))
    corrected = said("m-2", "Friday, then.", 1000, 1900, user=bob)["messages"][0]
    batch = [
        (meeting.pk, events.recognition_result("ann speaks", is_final=True, user=ANN, time_offset_ms=500), None),
        (meeting.pk, said("m-1", "Ann will send the deck.", 500, 1000), None),
        (other.pk, said("m-1", "Same id, other meeting.", 0, 700, user=bob), None),
        # m-0 again (its first delivery is kept), with m-3.
        (meeting.pk, {"type": "message_response", "messages": [
            said("m-0", "A second delivery.", 0, 500, user=bob)["messages"][0],
            said("m-3", "And more.", 2000, 2500, user=bob)["messages"][0]]}, None),
        (meeting.pk, said("m-2", "Friday then", 1000, 1800), None),
        # Refers to an utterance stored in this same batch.
        (meeting.pk, events.insight_response([events.insight("i-1", "action_item", "Ann will send the deck.",
                                                             message_ids=["m-1"])]), None),
        (meeting.pk, events.message_correction([corrected]), None),
        (meeting.pk, events.topic_response([events.topic("deck", 0.8, ["m-1", "m-2"])]), None),
    ]
    results = persist._store_batch(batch)
    assert all(error is None for _, error in results)
    assert [stored.seq for stored, _ in results] == [2, 3, 1, 4, 5, 6, 7, 8]
    said_rows = dict(Utterance.objects.filter(meeting=meeting).values_list("message_id", "text"))
    # The first delivery of m-0 is kept; the correction came after m-2 and applies to it.
    assert said_rows == {"m-0": "Stored before.", "m-1": "Ann will send the deck.", "m-2": "Friday, then.",
                         "m-3": "And more."}
    assert Utterance.objects.get(meeting=meeting, message_id="m-2").speaker.name == "Bob"
    assert Utterance.objects.get(meeting=other).text == "Same id, other meeting."
    action = Insight.objects.get(meeting=meeting, provider_id="i-1")
    assert [u.message_id for u in action.utterances.all()] == ["m-1"]
    assert SearchEntry.objects.get(insight=action).said_by.name == "Ann"
    assert {e.utterance.message_id for e in SearchEntry.objects.filter(meeting=meeting, kind="utterance")} == {
        "m-0", "m-1", "m-2", "m-3"}
    topic = Topic.objects.get(meeting=meeting)
    assert sorted(topic.utterances.values_list("message_id", flat=True)) == ["m-1", "m-2"]
    assert SearchEntry.objects.filter(topic=topic, text="deck").exists()
    assert sorted(Speaker.objects.filter(meeting=meeting).values_list("name", flat=True)) == ["Ann", "Bob"]
    # The log holds every event, with the payload as given.
    logged = MeetingEvent.objects.get(meeting=meeting, seq=8)
    assert logged.type == "topic_response" and logged.payload == batch[-1][1]
