"""``POST /streaming/zoom/webhook``: Zoom's endpoint validation, signatures over the raw body, stale
timestamps refused, meeting.started / meeting.ended / recording.completed acting on the sessions."""
import json
import time
from pathlib import Path

import pytest

from meetings.models import Meeting, Utterance
from streaming import events
from streaming.models import ZoomStream
from streaming.persist import persist_event
from tests.conftest import new_meeting
from tests.streaming.zoom.conftest import MEETING, zoom_account_for

pytestmark = pytest.mark.django_db
URL = "/streaming/zoom/webhook"
TIMELINE = json.loads((Path(__file__).resolve().parents[2] / "data" / "zoom" / "timeline.json").read_text())


@pytest.fixture
def zoom(zoom_served, workspace):
    zoom_account_for(workspace, zoom_served)
    return zoom_served


def send(client, zoom, event, payload, **kwargs):
    headers, body = zoom.signed(event, payload, **kwargs)
    return client.post(URL, body, content_type="application/json",
                       **{f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items() if k != "content-type"})


def stream_for(alice, **fields):
    meeting = new_meeting(alice, source="zoom", engine="local", status=fields.pop("status", "connecting"))
    return ZoomStream.objects.create(meeting=meeting, zoom_meeting_id=MEETING, stream_key=f"key-{meeting.pk}" * 4,
                                     **fields)


def test_the_url_validation_challenge_is_answered_with_the_hmac_of_the_plain_token(client, zoom):
    response = send(client, zoom, "endpoint.url_validation", {"plainToken": "qgg8vlvZRS6UYooatFL8Aw"})
    assert response.status_code == 200
    import hashlib
    import hmac
    expected = hmac.new(zoom.webhook_secret_token.encode(), b"qgg8vlvZRS6UYooatFL8Aw", hashlib.sha256).hexdigest()
    assert response.json() == {"plainToken": "qgg8vlvZRS6UYooatFL8Aw", "encryptedToken": expected}


def test_the_published_vector_holds():
    from streaming.zoom.webhooks import encrypted_token

    # shared/api-contracts.md §8: secret "secret", token "plain".
    assert encrypted_token("secret", "plain") == "a237566e044b73e6a1e54bd59974547487fa5f8143025ce0d04d82e7ee4c5e34"


def test_meeting_started_starts_the_streams_waiting_for_it_and_ended_stops_them(client, zoom, alice):
    waiting = stream_for(alice, auto_start=True)
    manual = stream_for(alice, auto_start=False)
    response = send(client, zoom, "meeting.started", zoom.meeting_event("meeting.started", MEETING))
    assert response.status_code == 200 and response.json() == {"sessions": 1}
    assert ZoomStream.objects.get(pk=waiting.pk).zoom_started is True
    assert ZoomStream.objects.get(pk=manual.pk).zoom_started is False

    response = send(client, zoom, "meeting.ended", zoom.meeting_event("meeting.ended", MEETING))
    assert response.json() == {"sessions": 2}
    assert set(Meeting.objects.values_list("stop_requested", flat=True)) == {True}


def test_recording_completed_attributes_the_finished_sessions(client, zoom, alice, django_capture_on_commit_callbacks):
    zoom.add_recording(MEETING, TIMELINE, start_time="2026-11-21T10:00:00Z")
    stream = stream_for(alice, status="completed", state="stopped")
    ZoomStream.objects.filter(pk=stream.pk).update(live_at="2026-11-21T10:00:00Z")
    persist_event(stream.meeting_id, events.message_response(
        "u1", "Morning all.", user=events.user_ref("speaker-1", "Speaker 1"), start_ms=3000, end_ms=6000))
    with django_capture_on_commit_callbacks(execute=True):
        response = send(client, zoom, "recording.completed", zoom.meeting_event("recording.completed", MEETING))
    assert response.json() == {"sessions": 1}
    assert Utterance.objects.get(message_id="u1").speaker.name == "Taylor Jennings"


@pytest.mark.parametrize("tamper, said", [
    ({"secret": "not-the-secret"}, "x-zm-signature does not match"),
    ({"timestamp": time.time() - 301}, "stale x-zm-request-timestamp"),
])
def test_a_bad_signature_or_an_old_timestamp_is_refused_and_changes_nothing(client, zoom, alice, caplog, tamper,
                                                                           said):
    waiting = stream_for(alice, auto_start=True)
    response = send(client, zoom, "meeting.started", zoom.meeting_event("meeting.started", MEETING), **tamper)
    assert response.status_code == 401
    assert response.json() == {"error": f"Invalid signature: {said}."}
    assert ZoomStream.objects.get(pk=waiting.pk).zoom_started is False
    assert said in caplog.text


def test_a_body_changed_after_signing_is_refused(client, zoom, alice):
    stream_for(alice, auto_start=True)
    headers, body = zoom.signed("meeting.ended", zoom.meeting_event("meeting.ended", MEETING))
    response = client.post(URL, body.replace(b'"duration": 0', b'"duration": 1'), content_type="application/json",
                           HTTP_X_ZM_REQUEST_TIMESTAMP=headers["x-zm-request-timestamp"],
                           HTTP_X_ZM_SIGNATURE=headers["x-zm-signature"])
    assert response.status_code == 401
    assert not Meeting.objects.filter(stop_requested=True).exists()


def test_an_account_no_workspace_has_is_refused(client, zoom, alice):
    payload = zoom.meeting_event("meeting.started", MEETING)
    payload["account_id"] = "someone-else"
    response = send(client, zoom, "meeting.started", payload)
    assert response.status_code == 401
    assert "No workspace's Zoom account" in response.json()["error"]


def test_another_workspaces_meeting_is_not_touched(client, zoom, bob, other_workspace):
    meeting = new_meeting(bob, source="zoom", status="connecting")
    ZoomStream.objects.create(meeting=meeting, zoom_meeting_id=MEETING, stream_key="b" * 32, auto_start=True)
    response = send(client, zoom, "meeting.started", zoom.meeting_event("meeting.started", MEETING))
    assert response.json() == {"sessions": 0}
    assert ZoomStream.objects.get(meeting=meeting).zoom_started is False
