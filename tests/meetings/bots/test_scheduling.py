"""Scheduled bots: created by a Celery task at their join time, cancellable before, listed with their time;
the API starts bots too."""
from datetime import timedelta, timezone as dt_timezone

import pytest
from django.utils import timezone

from meetings.bots import tasks
from meetings.models import ApiToken, Bot, MeetingEvent

pytestmark = pytest.mark.django_db

FORM = {"meeting_url": "https://teams.microsoft.com/l/meetup-join/19%3ameeting_NzQ5%40thread.v2/0",
        "bot_name": "Parley Notetaker", "audio_required": "on", "transcription": "deepgram_streaming",
        "live_transcription": "on"}


@pytest.fixture
def queued(monkeypatch):
    calls = []
    monkeypatch.setattr(tasks.create_bot, "apply_async", lambda args, eta: calls.append((args, eta)))
    return calls


def schedule(client, alice, django_capture_on_commit_callbacks, when):
    client.force_login(alice)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/bots/new/", {**FORM, "join_at": timezone.localtime(when).strftime("%Y-%m-%dT%H:%M")})
    assert response.status_code == 302, response.content.decode()[:1500]
    return Bot.objects.get()


def test_a_bot_with_a_join_time_is_created_by_the_task_at_that_time(
        client, alice, meetstream_account, meetstream, queued, django_capture_on_commit_callbacks):
    when = (timezone.now() + timedelta(hours=2)).replace(second=0, microsecond=0)
    bot = schedule(client, alice, django_capture_on_commit_callbacks, when)
    assert bot.status == Bot.Status.SCHEDULED and meetstream.requests == []
    assert queued == [([bot.pk], when)]
    listing = client.get("/bots/").content.decode()
    assert 'id="scheduled-bots"' in listing and timezone.localtime(when).strftime("%Y-%m-%d %H:%M") in listing

    assert tasks.create_bot(bot.pk) == Bot.Status.CREATED
    bot.refresh_from_db()
    sent = meetstream.created[bot.vendor_bot_id]["request"]
    assert sent["join_at"] == when.astimezone(dt_timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    # Created at the vendor with its join time, not yet in the meeting: still listed as scheduled.
    assert 'id="scheduled-bots"' in client.get("/bots/").content.decode()
    # A second delivery of the task (acks_late) creates nothing more.
    assert tasks.create_bot(bot.pk) == Bot.Status.CREATED
    assert len(meetstream.created) == 1


def test_cancelling_first_means_the_task_sends_nothing(
        client, alice, meetstream_account, meetstream, queued, django_capture_on_commit_callbacks):
    bot = schedule(client, alice, django_capture_on_commit_callbacks, timezone.now() + timedelta(days=1))
    response = client.post(f"/bots/{bot.meeting_id}/cancel/", follow=True)
    assert "will not join" in response.content.decode()
    assert tasks.create_bot(bot.pk) == Bot.Status.CANCELLED
    assert meetstream.requests == []
    bot.refresh_from_db()
    assert bot.meeting.stop_requested
    assert MeetingEvent.objects.filter(meeting=bot.meeting, payload__original__event="cancel").exists()


def test_a_vendor_refusal_at_join_time_fails_the_bot_with_the_message(
        client, alice, meetstream_account, meetstream, queued, django_capture_on_commit_callbacks):
    bot = schedule(client, alice, django_capture_on_commit_callbacks, timezone.now() + timedelta(hours=1))
    meetstream.create_failures.append((500, {"detail": "Internal server error"}))
    assert tasks.create_bot(bot.pk) == Bot.Status.FAILED
    bot.refresh_from_db()
    assert "Internal server error" in bot.error
    assert bot.meeting.status == "failed" and "Internal server error" in bot.meeting.failure_reason


def test_removing_a_bot_in_the_meeting_asks_the_vendor(client, alice, meetstream_account, meetstream):
    client.force_login(alice)
    assert client.post("/bots/new/", FORM).status_code == 302
    bot = Bot.objects.get()
    response = client.post(f"/bots/{bot.meeting_id}/cancel/", follow=True)
    assert "asked to leave" in response.content.decode()
    assert ("GET", f"/api/v1/bots/{bot.vendor_bot_id}/remove_bot", 200) in meetstream.requests


def test_the_api_starts_a_bot(client, alice, workspace, meetstream_account, meetstream):
    _, token = ApiToken.issue(alice, workspace, "ci")
    response = client.post("/api/v1/meetings/", {"source": "bot", "meeting_url": "https://meet.google.com/abc-defg-hij",
                                                  "transcription": "assemblyai", "live_transcription": False,
                                                  "retention_hours": 24},
                           content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["bot"]["status"] == "created" and body["bot"]["vendor_bot_id"] in meetstream.created
    sent = meetstream.created[body["bot"]["vendor_bot_id"]]["request"]
    assert sent["recording_config"]["retention"] == {"type": "timed", "hours": 24}
    assert sent["bot_name"] == "Parley Notetaker"


def test_the_api_refuses_bad_input_with_the_forms_messages(client, alice, workspace, meetstream_account, meetstream):
    _, token = ApiToken.issue(alice, workspace, "ci")
    response = client.post("/api/v1/meetings/", {"source": "bot", "meeting_url": "https://example.com/x",
                                                  "waiting_room_timeout": 0},
                           content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 400
    assert "meeting_url: This is not a meeting link" in response.json()["error"]
    assert "waiting_room_timeout" in response.json()["error"]
    assert meetstream.requests == []


def test_another_workspaces_bot_is_not_found(client, bob, alice, meetstream_account, meetstream):
    client.force_login(alice)
    client.post("/bots/new/", FORM)
    bot = Bot.objects.get()
    client.force_login(bob)
    assert client.get(f"/bots/{bot.meeting_id}/").status_code == 404
    assert client.post(f"/bots/{bot.meeting_id}/cancel/").status_code == 404
