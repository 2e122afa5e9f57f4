"""The JSON API: bearer tokens, uploads, the meeting shape, stop, and JSON errors."""
import asyncio
import io

import pytest
from django.core.management import call_command

from meetings.models import ApiToken, Meeting
from streaming.runners import claim, run_session
from tests.conftest import new_meeting

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def token(alice, workspace):
    return ApiToken.issue(alice, workspace, "test")[1]


def auth(token):
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def upload(client, token, path, **fields):
    with open(path, "rb") as handle:
        return client.post("/api/v1/meetings/", {"file": handle, **fields}, **auth(token))


def test_it_requires_a_bearer_token(client):
    response = client.get("/api/v1/meetings/")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert "Bearer" in response.json()["error"]


def test_a_revoked_or_unknown_token_is_refused(client, alice, token):
    assert client.get("/api/v1/meetings/", **auth("prl_not-a-token")).status_code == 401
    ApiToken.objects.update(revoked_at="2026-01-01T00:00:00Z")
    assert client.get("/api/v1/meetings/", **auth(token)).status_code == 401


def test_tokens_are_stored_only_as_hashes(alice, token):
    stored = ApiToken.objects.get()
    assert token not in (stored.digest, stored.prefix) and stored.digest == ApiToken.hash(token)


def test_create_api_token_prints_the_token_alone(alice, client):
    out = io.StringIO()
    call_command("create_api_token", "alice", stdout=out)
    printed = out.getvalue()
    assert printed.count("\n") == 1
    assert client.get("/api/v1/meetings/", **auth(printed.strip())).status_code == 200


def test_an_upload_is_created_then_transcribed(client, token, data_dir):
    response = upload(client, token, data_dir / "audio" / "beckett.flac", title="Worstward Ho")
    assert response.status_code == 201
    created = response.json()
    assert (created["title"], created["source"], created["engine"], created["status"]) == (
        "Worstward Ho", "upload", "local", "scheduled")
    meeting = Meeting.objects.get(pk=created["id"])
    assert not meeting.realtime and abs(meeting.duration_ms - 9960) < 100

    assert claim(meeting.pk, "api-test")
    asyncio.run(run_session(meeting.pk, "api-test"))

    detail = client.get(f"/api/v1/meetings/{meeting.pk}/", **auth(token)).json()
    assert set(detail) >= {"id", "title", "source", "engine", "status", "failure_reason", "started_at", "ended_at",
                           "speakers", "utterances", "insights", "topics", "summary"}
    assert detail["status"] == "completed" and detail["started_at"] and detail["ended_at"]
    assert detail["utterances"] and set(detail["utterances"][0]) >= {"id", "speaker", "start_ms", "end_ms", "text"}
    assert "fail better" in " ".join(u["text"].lower() for u in detail["utterances"])
    assert detail["summary"]
    for insight in detail["insights"]:
        assert set(insight) >= {"type", "text", "assignee", "due", "utterance_ids"}


def test_realtime_and_engine_are_read_from_the_form(client, token, data_dir):
    response = upload(client, token, data_dir / "audio" / "beckett.flac", realtime="true", engine="local")
    assert response.status_code == 201
    assert Meeting.objects.get().realtime


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("notes.wav", b"this is a text file, not audio" * 10, "Could not read"),
        ("empty.mp3", b"", "empty"),
    ],
)
def test_a_corrupt_or_empty_file_is_a_400_and_creates_nothing(client, token, tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    response = upload(client, token, path)
    assert response.status_code == 400
    assert message.lower() in response.json()["error"].lower()
    assert not Meeting.objects.exists()


def test_a_truncated_recording_is_a_400(client, token, data_dir, tmp_path):
    path = tmp_path / "cut.flac"
    path.write_bytes((data_dir / "audio" / "beckett.flac").read_bytes()[:300])
    response = upload(client, token, path)
    assert response.status_code == 400
    assert not Meeting.objects.exists()


def test_a_missing_file_or_unknown_engine_is_a_400(client, token, data_dir):
    response = client.post("/api/v1/meetings/", {"title": "x"}, **auth(token))
    assert response.status_code == 400 and "recording" in response.json()["error"]
    response = upload(client, token, data_dir / "audio" / "beckett.flac", engine="telepathy")
    assert response.status_code == 400 and "telepathy" in response.json()["error"]
    assert not Meeting.objects.exists()


def test_list_shows_only_the_tokens_workspaces_meetings(client, token, alice, bob):
    new_meeting(alice, title="Mine", source="upload")
    new_meeting(bob, title="Bob's", source="upload")
    titles = [m["title"] for m in client.get("/api/v1/meetings/", **auth(token)).json()["meetings"]]
    assert titles == ["Mine"]


def test_another_users_meeting_is_a_404(client, token, bob):
    theirs = new_meeting(bob, title="Bob's", source="upload")
    assert client.get(f"/api/v1/meetings/{theirs.pk}/", **auth(token)).status_code == 404
    assert client.post(f"/api/v1/meetings/{theirs.pk}/stop", **auth(token)).status_code == 404


def test_stop_asks_the_runner_and_a_second_stop_is_a_conflict(client, token, alice):
    meeting = new_meeting(alice, title="Mic", source="microphone", status="live")
    response = client.post(f"/api/v1/meetings/{meeting.pk}/stop", **auth(token))
    assert response.status_code == 202
    meeting.refresh_from_db()
    assert meeting.stop_requested
    Meeting.objects.filter(pk=meeting.pk).update(status="completed")
    response = client.post(f"/api/v1/meetings/{meeting.pk}/stop", **auth(token))
    assert response.status_code == 409 and "already ended" in response.json()["error"]


def test_wrong_methods_get_a_json_405(client, token, alice):
    meeting = new_meeting(alice, title="x", source="upload")
    response = client.get(f"/api/v1/meetings/{meeting.pk}/stop", **auth(token))
    assert response.status_code == 405 and response.json()["error"]


def test_a_source_the_api_cannot_start_or_a_bad_json_body_is_a_400(client, token):
    response = client.post("/api/v1/meetings/", '{"source": "carrier pigeon"}', content_type="application/json",
                           **auth(token))
    assert response.status_code == 400 and "Unknown source 'carrier pigeon'" in response.json()["error"]
    response = client.post("/api/v1/meetings/", "{not json", content_type="application/json", **auth(token))
    assert response.status_code == 400 and "not valid JSON" in response.json()["error"]
    assert not Meeting.objects.exists()
