"""The MeetStream client against the emulator: the create body, retry safety, errors with their message."""
import pytest

from meetings.bots.forms import BotForm
from meetings.bots.meetstream import MeetStream, create_body
from meetings.bots.vendor import VendorError
from meetings.models import Bot, Meeting

from tests.fakes.meetstream import meeting_turns

from .conftest import API_KEY

pytestmark = pytest.mark.django_db


def make_bot(alice, **fields):
    data = {"meeting_url": "https://zoom.us/j/85122334455", "bot_name": "Notetaker", "audio_required": "on",
            "transcription": "deepgram_streaming", "live_transcription": "on", "participant_events": "on", **fields}
    form = BotForm(data)
    assert form.is_valid(), form.errors
    meeting = Meeting.objects.create(title="Standup", source="bot", owner=alice, workspace=alice.memberships.first().workspace)
    return Bot.objects.create(meeting=meeting, callback_base="https://parley.example", **form.bot_fields())


def test_the_create_body_follows_the_documented_shape(alice):
    bot = make_bot(alice, join_message="Hi, I take notes", retention_hours=48, recording_permission_denied_timeout=90)
    body = create_body(bot)
    token = bot.callback_token
    assert body["meeting_link"] == "https://zoom.us/j/85122334455"
    assert body["callback_url"] == f"https://parley.example/bots/{token}/callback"
    assert body["live_transcription_required"] == {"webhook_url": f"https://parley.example/bots/{token}/live"}
    assert "live_audio_required" not in body
    assert body["recording_config"]["transcript"]["provider"] == {
        "deepgram_streaming": {"model": "nova-2", "language": "en", "punctuate": True, "endpointing": 300}}
    assert body["recording_config"]["retention"] == {"type": "timed", "hours": 48}
    assert body["recording_config"]["realtime_endpoints"][0]["events"] == ["participant_events.join",
                                                                           "participant_events.leave"]
    assert body["automatic_leave"] == {"waiting_room_timeout": 600, "everyone_left_timeout": 600,
                                       "in_call_recording_timeout": 14400, "recording_permission_denied_timeout": 90}
    assert body["bot_message"] == "Hi, I take notes"


def test_parleys_engine_asks_for_live_audio_on_parleys_websocket_and_no_vendor_transcript(alice):
    bot = make_bot(alice, transcription="parley", meeting_url="https://meet.google.com/abc-defg-hij")
    body = create_body(bot)
    assert body["live_audio_required"] == {"websocket_url": f"wss://parley.example/ws/bots/{bot.callback_token}/audio"}
    assert "transcript" not in body["recording_config"] and "live_transcription_required" not in body
    # recording_permission_denied_timeout is Zoom's alone.
    assert "recording_permission_denied_timeout" not in body["automatic_leave"]


def test_no_retention_given_follows_the_workspaces_policy(alice):
    from datetime import timedelta

    bot = make_bot(alice)
    bot.meeting.workspace.retention = timedelta(days=3)
    bot.meeting.workspace.save()
    assert create_body(bot)["recording_config"]["retention"] == {"type": "timed", "hours": 72}


def test_create_sends_the_token_and_an_idempotency_key_and_a_retry_gets_the_same_bot(alice, meetstream):
    bot = make_bot(alice, transcription="deepgram", live_transcription="")
    client = MeetStream(API_KEY)
    first = client.create(bot)
    again = client.create(bot)
    assert again.bot_id == first.bot_id and again.replayed and not first.replayed
    assert first.transcript_id  # a post-call provider has a transcript to come
    assert len(meetstream.created) == 1
    assert meetstream.created[first.bot_id]["request"]["meeting_link"] == bot.meeting_url
    assert [r[2] for r in meetstream.requests] == [201, 507]


@pytest.mark.parametrize("status, body, said", [
    (409, {"detail": "A bot with this deduplication_key already exists."}, "duplicate"),
    (500, {"detail": "Internal server error"}, "try again later"),
    (503, {"message": "Service temporarily unavailable"}, "Service temporarily unavailable"),
])
def test_vendor_errors_carry_their_message(alice, meetstream, status, body, said):
    meetstream.create_failures.append((status, body))
    with pytest.raises(VendorError) as caught:
        MeetStream(API_KEY).create(make_bot(alice))
    assert caught.value.status == status
    assert said in str(caught.value)
    assert f"HTTP {status}" in str(caught.value)


def test_a_wrong_key_is_refused_with_meetstreams_words(alice, meetstream):
    with pytest.raises(VendorError) as caught:
        MeetStream("wrong-key").create(make_bot(alice))
    assert caught.value.status == 401
    assert "refused the API key" in str(caught.value) and "Invalid token." in str(caught.value)


def test_status_remove_audio_transcript_and_deletion(alice, meetstream):
    bot = make_bot(alice, transcription="assemblyai", live_transcription="")
    client = MeetStream(API_KEY)
    created = client.create(bot)
    assert client.status(created.bot_id) == "Joining"
    assert client.transcript(created.transcript_id) is None  # 202: still processing
    meetstream.play_sync(created.bot_id)
    assert client.status(created.bot_id) == "Done"
    segments = client.transcript(created.transcript_id)
    # The real AMI meeting's turns, as the bot heard them.
    assert [(s.speaker, s.text) for s in segments] == meeting_turns(meetstream.turns)
    assert all(s.end_s > s.start_s for s in segments)
    assert client.audio_url(created.bot_id).endswith(f"/media/{created.bot_id}.flac")
    client.remove(created.bot_id)
    client.delete_data(created.bot_id)
    assert created.bot_id not in meetstream.data
    client.delete_data(created.bot_id)  # already gone: done
    with pytest.raises(VendorError):
        client.status("no-such-bot")


def test_a_workspace_without_a_meetstream_key_is_told_so(alice):
    with pytest.raises(VendorError, match="No MeetStream API key"):
        MeetStream.for_workspace(alice.memberships.first().workspace)


def test_the_fake_refuses_what_meetstream_refuses(alice, meetstream):
    bot = make_bot(alice)
    bot.in_call_recording_timeout = 300  # bypassing the form, as a bug would
    with pytest.raises(VendorError, match="at least 600"):
        MeetStream(API_KEY).create(bot)
    assert meetstream.created == {}
