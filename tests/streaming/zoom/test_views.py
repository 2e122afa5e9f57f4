"""The Zoom start form and a stream's page: the RTMP URL and key, Zoom's refusals in words, roles."""
import json
from pathlib import Path

import pytest

from meetings.models import Meeting
from streaming import events
from streaming.models import ZoomStream
from streaming.persist import persist_event
from tests.streaming.zoom.conftest import MEETING, zoom_account_for

pytestmark = pytest.mark.django_db
TIMELINE = json.loads((Path(__file__).resolve().parents[2] / "data" / "zoom" / "timeline.json").read_text())


def test_the_form_starts_a_local_session_and_shows_the_rtmp_url_and_key(client, alice, rtmp):
    client.force_login(alice)
    assert client.get("/streaming/zoom/new").status_code == 200
    response = client.post("/streaming/zoom/new", {"zoom_meeting_id": "857 4606 5432", "engine": "local",
                                                    "title": "Standup"})
    stream = ZoomStream.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/streaming/zoom/meetings/{stream.meeting_id}/"
    page = client.get(response["Location"]).content.decode()
    assert stream.stream_key in page and f"rtmp://127.0.0.1:{rtmp}/live" in page
    assert "Live on Custom Live Streaming Service" in page  # no Zoom account: the user enters them
    assert stream.meeting.title == "Standup" and stream.zoom_meeting_id == MEETING


def test_zoom_refusing_the_meeting_id_is_shown_on_the_form(client, alice, workspace, zoom_served, rtmp):
    zoom_account_for(workspace, zoom_served)
    client.force_login(alice)
    response = client.post("/streaming/zoom/new", {"zoom_meeting_id": "999999999", "engine": "local"})
    assert response.status_code == 400
    assert "Meeting does not exist: 999999999." in response.content.decode()
    assert not Meeting.objects.exists()


def test_a_reviewer_cannot_start_zoom_sessions(client, dana):
    client.force_login(dana)
    assert client.get("/streaming/zoom/new").status_code == 403


def test_the_page_applies_the_recordings_timeline_after_the_meeting(client, alice, workspace, zoom_served, rtmp):
    zoom_account_for(workspace, zoom_served)
    client.force_login(alice)
    client.post("/streaming/zoom/new", {"zoom_meeting_id": MEETING, "engine": "local"})
    stream = ZoomStream.objects.get()
    Meeting.objects.filter(pk=stream.meeting_id).update(status="completed")
    ZoomStream.objects.filter(pk=stream.pk).update(live_at="2026-11-21T10:00:00Z")
    persist_event(stream.meeting_id, events.message_response(
        "u1", "Morning all.", user=events.user_ref("speaker-1", "Speaker 1"), start_ms=3000, end_ms=6000))
    url = f"/streaming/zoom/meetings/{stream.meeting_id}/timeline"
    page = client.post(url, follow=True).content.decode()
    assert "could not be applied: Zoom: There is no recording for this meeting." in page
    zoom_served.add_recording(MEETING, TIMELINE, start_time="2026-11-21T10:00:00Z")
    page = client.post(url, follow=True).content.decode()
    assert "1 utterance(s) attributed" in page


def test_a_meeting_that_is_not_a_zoom_session_goes_to_its_own_page(client, alice):
    from tests.conftest import new_meeting

    meeting = new_meeting(alice)
    client.force_login(alice)
    response = client.get(f"/streaming/zoom/meetings/{meeting.pk}/")
    assert response.status_code == 302 and response["Location"] == f"/meetings/{meeting.pk}/live/"
    assert client.post(f"/streaming/zoom/meetings/{meeting.pk}/timeline").status_code == 302
