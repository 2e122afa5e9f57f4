"""Speaker separation from a real Zoom TIMELINE file, against the golden output of Symbl's converter."""
import hashlib
import json
from pathlib import Path

import pytest

from streaming.zoom import timeline

DATA = Path(__file__).resolve().parents[2] / "data" / "zoom" / "timeline.json"
SHARED = Path(__file__).resolve().parents[4] / "shared" / "data" / "zoom" / "mockTimeline.json"

# shared/api-contracts.md §9: the converter's output for mockTimeline.json (T, A, S by user_id).
GOLDEN = """
+T2.00 -T8.50 +A8.50 -A13.00 +T13.00 -T46.75 +A46.75 -A48.00 +T48.00 -T177.50 +A177.50 -A197.74 +T198.25
-T248.75 +A248.75 -A250.00 +T250.00 -T263.75 +A263.75 -A294.75 +T294.75 -T296.75 +A296.75 -A301.75 +T301.75 -T303.75
+A303.75 -A338.75 +T338.75 -T354.75 +A355.25 -A367.75 +T367.75 -T369.75 +A369.75 -A390.50 +T390.50 -T400.25 +A400.25
-A410.00 +S410.00 -S413.49 +T413.49 -T424.49 +S424.49 -S468.25 +T468.25 -T475.25 +S475.25 -S476.25 +T476.25 -T484.25
+S484.25 -S488.75 +T488.75 -T496.75 +A496.75 -A500.50 +T501.00 -T504.75 +S505.00 -S505.75 +A505.75 -A511.00 +T511.00
-T512.50 +A512.75 -A515.75 +T515.75 -T518.50 +A519.24 -A522.25 +T522.25 -T524.74 +A525.00 -A526.25 +T526.25 -T534.75
""".split()
LETTERS = {"16778240": "T", "50332672": "A", "33555456": "S"}
GOLDEN_HASH = "a808780b611e026f06c3090df0c09a34c5d4d9ded920b7eed18c0627fe364853"


def canonical_hash(events):
    rows = [[e["type"], e["user"]["id"], e["user"]["name"], e["user"]["email"], e["offset"]["seconds"],
             e["offset"]["nanos"]] for e in events]
    return hashlib.sha256(json.dumps(rows, separators=(",", ":")).encode()).hexdigest()


def short(event):
    sign = "+" if event["type"] == timeline.STARTED else "-"
    return f"{sign}{LETTERS[event['user']['id']]}{event['offset']['seconds'] + event['offset']['nanos'] / 1e9:.2f}"


def test_the_real_timeline_converts_to_the_golden_speaker_events():
    events = timeline.convert(json.loads(DATA.read_text()))
    assert len(events) == 78
    assert [short(e) for e in events] == GOLDEN
    assert all(e["offset"]["nanos"] % 10_000_000 == 0 for e in events)
    assert {e["user"]["name"] for e in events} == {"Taylor Jennings", "Avery Chandler", "Sam Vance"}
    assert events[0]["user"] == {"id": "16778240", "name": "Taylor Jennings", "email": "taylor.jennings@example.com"}


@pytest.mark.skipif(not SHARED.exists(), reason="the team's shared data set is not beside this checkout")
def test_the_original_timeline_gives_the_golden_hash():
    assert canonical_hash(timeline.convert(SHARED.read_text())) == GOLDEN_HASH


def test_offsets_are_read_as_the_converter_reads_them():
    assert timeline.offset("00:03:17.740") == {"seconds": 197, "nanos": 740000000}
    assert timeline.offset("01:00:00.050") == {"seconds": 3600, "nanos": 50000000}


def test_a_malformed_timeline_names_the_bad_entry():
    with pytest.raises(timeline.TimelineError, match="index 1"):
        timeline.convert({"timeline": [{"ts": "00:00:01.000", "users": []}, {"ts": "00:00:02.000"}]})
    with pytest.raises(timeline.TimelineError, match="not JSON"):
        timeline.convert("{nope")
    with pytest.raises(timeline.TimelineError, match="HH:MM:SS"):
        timeline.convert([{"ts": "soon", "users": []}])


def test_shifting_to_the_stream_clock_drops_turns_before_it_and_clips_the_one_under_way():
    events = timeline.convert(json.loads(DATA.read_text()))
    shifted = timeline.shift(events, 10_000)
    spoken = timeline.turns(shifted)
    # T 2.00–8.50 ended before the stream started; A 8.50–13.00 was under way at its start.
    assert spoken[0] == (0, 3000, events[2]["user"])
    assert spoken[1][:2] == (3000, 36750)
    assert len(spoken) == 38


def test_each_utterance_goes_to_who_spoke_longest_during_it():
    spoken = timeline.turns(timeline.convert(json.loads(DATA.read_text())))
    assert timeline.speaker_for(9_000, 12_000, spoken)["name"] == "Avery Chandler"
    # 46.0–48.0 s: T until 46.75, A after: A spoke longer.
    assert timeline.speaker_for(46_000, 48_000, spoken)["name"] == "Avery Chandler"
    assert timeline.speaker_for(410_500, 413_000, spoken)["name"] == "Sam Vance"
    # Before anyone spoke: the nearest turn.
    assert timeline.speaker_for(0, 1_000, spoken)["name"] == "Taylor Jennings"
    assert timeline.speaker_for(0, 1_000, []) is None
