"""``POST /api/v1/meetings/`` with ``{"source": "zoom"}``: the RTMP URL and key, registered with Zoom; Zoom's refusals in its words."""
import json

import pytest

from meetings.models import ApiToken, Meeting
from streaming.models import ZoomStream
from tests.streaming.zoom.conftest import MEETING, zoom_account_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def token(alice, workspace):
    return ApiToken.issue(alice, workspace, "test")[1]


def start(client, token, **body):
    return client.post("/api/v1/meetings/", json.dumps({"source": "zoom", **body}), content_type="application/json",
                       HTTP_AUTHORIZATION=f"Bearer {token}")


def test_a_local_zoom_session_answers_the_rtmp_url_and_key_registered_with_zoom(client, token, workspace, zoom_served,
                                                                                 rtmp):
    zoom_account_for(workspace, zoom_served)
    response = start(client, token, engine="local", zoom_meeting_id=MEETING, title="Weekly sync")
    assert response.status_code == 201, response.content
    body = response.json()
    stream = ZoomStream.objects.get()
    assert body["rtmp_url"] == f"rtmp://127.0.0.1:{rtmp}/live"
    assert body["stream_key"] == stream.stream_key and len(stream.stream_key) >= 32
    assert body["registered_with_zoom"] is True and body["zoom_stream_state"] == "registered"
    assert body["source"] == "zoom" and body["engine"] == "local" and body["title"] == "Weekly sync"
    registered = zoom_served.meetings[MEETING]["livestream"]
    assert registered["stream_url"] == body["rtmp_url"] and registered["stream_key"] == body["stream_key"]
    assert registered["page_url"] == f"http://testserver/meetings/{stream.meeting_id}/live/"
    # Two sessions never share a key.
    other = start(client, token, engine="local", zoom_meeting_id=MEETING).json()
    assert other["stream_key"] != body["stream_key"]


def test_without_a_zoom_account_the_key_is_for_the_user_to_enter_in_zoom(client, token, rtmp):
    response = start(client, token, engine="local", zoom_meeting_id="857-4606-5432")
    assert response.status_code == 201
    assert response.json()["registered_with_zoom"] is False and response.json()["stream_key"]
    assert ZoomStream.objects.get().zoom_meeting_id == MEETING


@pytest.mark.parametrize("change, said", [
    ({"zoom_meeting_id": "111111111"}, "Zoom refused the live stream for meeting 111111111: Zoom: Meeting does "
                                       "not exist: 111111111. (404, 3001)"),
    ({"client_secret": "wrong"}, "Zoom refused the live stream for meeting 85746065432: Zoom: Invalid client_id or "
                                 "client_secret (401, invalid_client)"),
    ({"live_streaming": False}, "Zoom refused the live stream for meeting 85746065432: Zoom: Live streaming is not "
                                "enabled for this account. (400, 3000)"),
])
def test_zoom_refusals_reach_the_user_and_create_nothing(client, token, workspace, zoom_served, rtmp, change, said):
    zoom_account_for(workspace, zoom_served)
    if "client_secret" in change:
        zoom_served.client_secret = change["client_secret"]
    if "live_streaming" in change:
        zoom_served.live_streaming = False
    response = start(client, token, engine="local", zoom_meeting_id=change.get("zoom_meeting_id", MEETING))
    assert response.status_code == 400
    assert response.json() == {"error": said}
    assert not Meeting.objects.exists() and not ZoomStream.objects.exists()


def test_zoom_rate_limits_reach_the_user(client, token, workspace, zoom_served, rtmp, monkeypatch):
    from streaming.zoom.client import ZoomClient

    monkeypatch.setattr(ZoomClient, "backoff_s", 0)
    zoom_account_for(workspace, zoom_served)
    for _ in range(ZoomClient.attempts + 1):
        zoom_served.fail_next(429, {"code": 429, "message": "You have exceeded the daily rate limit of (100) for "
                                                           "Update a livestream API requests."})
    response = start(client, token, engine="local", zoom_meeting_id=MEETING)
    assert response.status_code == 400
    assert "daily rate limit" in response.json()["error"] and "(429, 429)" in response.json()["error"]


@pytest.mark.parametrize("body, said", [
    ({"zoom_meeting_id": "12ab"}, "Enter the Zoom meeting's numeric id"),
    ({}, "Enter the Zoom meeting's numeric id"),
    ({"zoom_meeting_id": MEETING, "engine": "symbl"}, "needs the workspace's Zoom account"),
    ({"zoom_meeting_id": MEETING, "engine": "nope"}, "Unknown or unavailable engine"),
])
def test_bad_input_is_refused_clearly(client, token, body, said):
    response = start(client, token, **body)
    assert response.status_code == 400
    assert said in response.json()["error"]
    assert not Meeting.objects.exists()
