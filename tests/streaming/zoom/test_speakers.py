"""The recording's TIMELINE attributes a finished Zoom meeting's transcript to Zoom's participants."""
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from meetings.models import MeetingEvent, Utterance
from streaming import events
from streaming.models import ZoomStream
from streaming.persist import persist_event
from streaming.zoom import client as zoom_api
from streaming.zoom.speakers import apply_timeline
from tests.conftest import new_meeting
from tests.streaming.zoom.conftest import MEETING, zoom_account_for

pytestmark = pytest.mark.django_db
TIMELINE = json.loads((Path(__file__).resolve().parents[2] / "data" / "zoom" / "timeline.json").read_text())
RECORDING_START = datetime(2026, 11, 21, 10, 0, tzinfo=timezone.utc)


def zoom_meeting(alice, *, stream_began_s):
    meeting = new_meeting(alice, source="zoom", engine="local", status="completed")
    ZoomStream.objects.create(meeting=meeting, zoom_meeting_id=MEETING, stream_key="k" * 32, state="stopped",
                              live_at=RECORDING_START + timedelta(seconds=stream_began_s))
    return meeting


def said(meeting, message_id, text, start_s, end_s):
    persist_event(meeting.pk, events.message_response(message_id, text, user=events.user_ref("speaker-1", "Speaker 1"),
                                                      start_ms=int(start_s * 1000), end_ms=int(end_s * 1000)))


def test_each_utterance_goes_to_the_zoom_participant_speaking_then(alice, workspace, zoom_served):
    zoom_account_for(workspace, zoom_served)
    zoom_served.add_recording(MEETING, TIMELINE, start_time="2026-11-21T10:00:00Z")
    meeting = zoom_meeting(alice, stream_began_s=5)
    # Stream clock = recording clock - 5 s: A spoke 8.5–13.0 (3.5–8.0 here), T 13.0–46.75 (8.0–41.75),
    # S 410.0–413.49 (405.0–408.49).
    said(meeting, "u1", "Can you hear me?", 4.0, 7.0)
    said(meeting, "u2", "Yes, loud and clear.", 9.0, 20.0)
    said(meeting, "u3", "Let me share the plan.", 405.5, 408.0)
    assert apply_timeline(meeting.pk) == {"speaker_events": 78, "corrected": 3}
    names = dict(Utterance.objects.filter(meeting=meeting).values_list("message_id", "speaker__name"))
    assert names == {"u1": "Avery Chandler", "u2": "Taylor Jennings", "u3": "Sam Vance"}
    assert Utterance.objects.get(message_id="u2").speaker.key == "zoom-16778240"
    correction = MeetingEvent.objects.get(meeting=meeting, type="message_correction")
    assert [m["id"] for m in correction.payload["messages"]] == ["u1", "u2", "u3"]
    assert ZoomStream.objects.get(meeting=meeting).timeline_applied_at is not None
    # A second run changes nothing more.
    assert apply_timeline(meeting.pk)["corrected"] == 0


def test_no_recording_yet_is_said_in_zooms_words(alice, workspace, zoom_served):
    zoom_account_for(workspace, zoom_served)
    meeting = zoom_meeting(alice, stream_began_s=0)
    said(meeting, "u1", "Hello.", 1.0, 2.0)
    with pytest.raises(zoom_api.NotFound, match="There is no recording for this meeting"):
        apply_timeline(meeting.pk)
    assert Utterance.objects.get(message_id="u1").speaker.name == "Speaker 1"
