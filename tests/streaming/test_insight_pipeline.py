"""InsightPipeline: a real meeting (QMSum / AMI ES2004a) fed utterance by utterance, as an engine would."""
import json
import uuid
from datetime import datetime, timezone
from pathlib import Path

import pytest

from streaming import events
from streaming.insights import InsightPipeline, Utterance
from streaming.insights.text import clean

MEETINGS = Path(__file__).resolve().parent.parent / "data" / "meetings"
START = datetime(2024, 3, 6, 9, 30, tzinfo=timezone.utc)  # a Wednesday


def load_utterances(name="ES2004a"):
    """The meeting's turns as utterances with UUID ids and made-up 4 s slots (QMSum has no times)."""
    data = json.loads((MEETINGS / f"{name}.json").read_text())
    return [
        Utterance(id=str(uuid.UUID(int=i + 1)), speaker=t["speaker"], text=t["content"],
                  start_ms=i * 4000, end_ms=i * 4000 + 3500)
        for i, t in enumerate(data["meeting_transcripts"])
    ]


@pytest.fixture(scope="module")
def meeting():
    return load_utterances()


def run(utterances, **options):
    """Feed every utterance through ``add``; return the pipeline and ``[(utterance, events)]``."""
    pipeline = InsightPipeline(reference_time=START, **options)
    return pipeline, [(u, pipeline.add(u)) for u in utterances]


def insight_ids(steps):
    return [i["id"] for _, out in steps for e in out if e["type"] == "insight_response" for i in e["insights"]]


def test_the_whole_meeting_yields_valid_events_at_the_right_times(meeting):
    pipeline, steps = run(meeting, topic_every=40)
    with_text = 0
    kinds = []
    for utterance, out in steps:
        if clean(utterance.text):
            with_text += 1
        for event in out:
            kinds.append(events.validate(event))
            if event["type"] == "topic_response":
                assert with_text % 40 == 0
            if event["type"] == "insight_response":
                for item in event["insights"]:
                    assert events.insight_message_ids(item) == [utterance.id]
                    assert item["messageReferences"] == [{"id": utterance.id}]
                    assert events.insight_text(item) in clean(utterance.text)
                    assert item["from"]["name"] == utterance.speaker
        if not clean(utterance.text):
            assert out == []  # "{vocalsound}" alone says nothing
    assert kinds.count("topic_response") == with_text // 40
    counts = {k: kinds.count(k) for k in set(kinds)}
    assert counts["insight_response"] >= 20

    ids = insight_ids(steps)
    assert len(ids) == len(set(ids))

    final = pipeline.finish()
    assert [events.validate(e) for e in final] == ["topic_response", "summary_response"]
    phrases = [t["phrases"].lower() for t in final[0]["topics"]]
    assert "remote control" in phrases
    known = {u.id for u in meeting}
    for part in final[1]["summary"]:
        assert {r["id"] for r in part["messageRefs"]} <= known


def test_topic_response_every_five_utterances(meeting):
    chatty = [u for u in meeting if clean(u.text)][:40]
    _, steps = run(chatty, topic_every=5)
    emitted_at = [n for n, (_, out) in enumerate(steps, 1) if any(e["type"] == "topic_response" for e in out)]
    assert emitted_at and all(n % 5 == 0 for n in emitted_at)
    assert len(emitted_at) >= 6  # the first few turns may hold no topic yet
    for _, out in steps:
        for event in out:
            if event["type"] == "topic_response":
                for topic in event["topics"]:
                    assert topic["messageReferences"]


def test_insight_ids_are_deterministic(meeting):
    first = insight_ids(run(meeting, topic_every=0)[1])
    second = insight_ids(run(meeting, topic_every=0)[1])
    assert first and first == second


def test_redelivered_utterance_keeps_its_ids_and_counts_once(meeting):
    utterance = meeting[184]  # "What are your experiences with remote controls? ..."
    pipeline = InsightPipeline(reference_time=START, topic_every=2)
    first = pipeline.add(utterance)
    again = pipeline.add(utterance)
    assert [e["type"] for e in first] == ["insight_response"] == [e["type"] for e in again]
    assert first[0]["insights"] == again[0]["insights"]
    assert first[0]["insights"][0]["payload"]["content"] == "What are your experiences with remote controls?"


def test_assignee_and_due_date_reach_the_event():
    pipeline = InsightPipeline(reference_time=START, speakers=["Ann", "John"], topic_every=0)
    [event] = pipeline.add(Utterance(id=str(uuid.uuid4()), speaker="Ann",
                                     text="John, can you book the room by Friday?", start_ms=0, end_ms=2000))
    [item] = event["insights"]
    assert item["type"] == "action_item"
    assert item["assignee"] == {"name": "John"}
    assert item["dueBy"] == {"value": "2024-03-08"}
    assert item["from"] == events.user_ref("ann", "Ann")


def test_names_seen_on_utterances_become_assignees():
    pipeline = InsightPipeline(reference_time=START, topic_every=0)
    pipeline.add(Utterance(id="m1", speaker="priya", text="Hello everyone.", start_ms=0, end_ms=1000))
    [event] = pipeline.add(Utterance(id="m2", speaker="Ann", text="priya can you send the deck",
                                     start_ms=1000, end_ms=2000))
    assert event["insights"][0]["assignee"] == {"name": "priya"}


def test_restore_emits_nothing_and_finish_covers_restored_text(meeting):
    half = len(meeting) // 2
    live = InsightPipeline(reference_time=START, topic_every=0)
    for utterance in meeting:
        live.add(utterance)

    taken_over = InsightPipeline(reference_time=START, topic_every=0)
    assert taken_over.restore(meeting[:half]) is None
    for utterance in meeting[half:]:
        taken_over.add(utterance)

    def texts(final):
        return [[(p.get("phrases") or p.get("text")) for p in e.get("topics") or e.get("summary")] for e in final]

    assert texts(taken_over.finish()) == texts(live.finish())


def test_restore_only_still_summarises(meeting):
    pipeline = InsightPipeline(reference_time=START)
    pipeline.restore(meeting)
    final = pipeline.finish()
    assert [e["type"] for e in final] == ["topic_response", "summary_response"]


def test_restored_utterances_count_towards_the_topic_cadence(meeting):
    with_text = [u for u in meeting if clean(u.text)]
    pipeline = InsightPipeline(reference_time=START, topic_every=5)
    pipeline.restore(with_text[180:183])
    assert not any(e["type"] == "topic_response" for e in pipeline.add(with_text[183]))
    assert any(e["type"] == "topic_response" for e in pipeline.add(with_text[184]))


def test_nothing_said_nothing_emitted():
    pipeline = InsightPipeline(reference_time=START, topic_every=1)
    assert pipeline.add(Utterance(id="x", speaker="Speaker 1", text="{vocalsound}", start_ms=0, end_ms=500)) == []
    assert pipeline.finish() == []
