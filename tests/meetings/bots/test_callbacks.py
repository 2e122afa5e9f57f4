"""The per-bot callback URL: token and signature, both event generations, idempotent, never fatal."""
import hashlib
import hmac
import json

import pytest

from meetings.models import Bot, BotEvent, Meeting, MeetingEvent, Speaker, Utterance
from meetings.serializers import snapshot

from .conftest import SECRET

pytestmark = pytest.mark.django_db

BOT_ID = "5b0ff6e7-6d1c-4a5e-9c1f-3f2d8f7a9b10"


@pytest.fixture
def bot(alice, workspace, meetstream_account):
    meeting = Meeting.objects.create(title="Design review", source="bot", owner=alice, workspace=workspace)
    return Bot.objects.create(meeting=meeting, meeting_url="https://meet.google.com/abc-defg-hij",
                              platform="google_meet", vendor_bot_id=BOT_ID, status=Bot.Status.CREATED)


def post(client, bot, payload, *, secret=SECRET, kind="callback", token=None, raw=None):
    body = raw if raw is not None else json.dumps(payload).encode()
    headers = {}
    if secret:
        headers["HTTP_X_MEETSTREAM_SIGNATURE"] = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return client.post(f"/bots/{token or bot.callback_token}/{kind}", body, content_type="application/json", **headers)


def current(event, status, stamp, message=""):
    return {"event": event, "bot_id": BOT_ID, "bot_status": status, "message": message, "status_code": 200,
            "timestamp": stamp, "custom_attributes": {}}


def bot_statuses(bot):
    return [e.payload["original"]["status"] for e in MeetingEvent.objects.filter(meeting=bot.meeting, type="provider_event")
            if e.payload["message"] == "bot_status"]


def test_a_wrong_token_is_refused_and_logged(client, bot, caplog):
    response = post(client, bot, current("bot.joining", "Joining", "t1"), token="not-the-token")
    assert response.status_code == 404
    assert "unknown callback token" in caplog.text
    assert not BotEvent.objects.exists()


def test_a_wrong_signature_is_refused_and_logged(client, bot, caplog):
    response = post(client, bot, current("bot.joining", "Joining", "t1"), secret="someone-elses-secret")
    assert response.status_code == 401
    assert "signature does not match" in caplog.text
    unsigned = post(client, bot, current("bot.joining", "Joining", "t1"), secret="")
    assert unsigned.status_code == 401
    bot.refresh_from_db()
    assert bot.status == Bot.Status.CREATED and not BotEvent.objects.exists()


def test_the_current_generation_drives_the_lifecycle_and_shows_it_on_the_meeting(client, bot):
    steps = [("bot.joining", "Joining", "joining"), ("bot.in_waiting_room", "InWaitingRoom", "in_waiting_room"),
             ("bot.inmeeting", "InMeeting", "in_meeting"), ("bot.recording", "Recording", "recording"),
             ("bot.leaving", "Leaving", "leaving"), ("bot.stopped", "Stopped", "stopped")]
    for number, (event, status, expected) in enumerate(steps):
        assert post(client, bot, current(event, status, f"2026-02-27T07:11:{number:02d}+00:00")).json()["outcome"] == "applied"
        bot.refresh_from_db()
        assert bot.status == expected
    post(client, bot, {"event": "audio.processed", "bot_id": BOT_ID, "message": "Audio processing completed successfully",
                       "status_code": 200, "timestamp": "2026-02-27T07:12:00+00:00"})
    post(client, bot, current("bot.done", "Done", "2026-02-27T07:12:01+00:00"))
    bot.refresh_from_db()
    assert bot.status == Bot.Status.DONE and bot.audio_processed
    assert bot_statuses(bot) == [s[2] for s in steps] + ["stopped", "done"]


def test_the_legacy_generation_is_understood_too(client, bot):
    for payload in ({"bot_id": BOT_ID, "bot_status": "joining", "message": "Bot is joining the meeting", "status_code": 102},
                    {"bot_id": BOT_ID, "bot_status": "InMeeting", "message": "Successfully joined the meeting", "status_code": 200},
                    {"bot_id": BOT_ID, "bot_status": "Stopped", "message": "Bot exited and step function was triggered",
                     "status_code": 500},
                    {"bot_id": BOT_ID, "audio_status": "Success", "message": "Audio processing completed successfully",
                     "status_code": 200},
                    {"bot_id": BOT_ID, "transcript_status": "Success",
                     "message": "Transcript processing completed successfully", "status_code": 200}):
        assert post(client, bot, payload).json()["outcome"] == "applied"
    bot.refresh_from_db()
    assert bot.status == Bot.Status.STOPPED and bot.audio_processed and bot.transcript_processed
    assert bot.status_message == "Bot exited and step function was triggered"


def test_a_stop_reason_is_kept(client, bot):
    post(client, bot, current("bot.joining", "Joining", "t1"))
    post(client, bot, current("bot.stopped", "NotAllowed", "t2", "The host did not admit the bot"))
    bot.refresh_from_db()
    assert bot.status == Bot.Status.NOT_ALLOWED and bot.status_message == "The host did not admit the bot"


def test_a_repeated_callback_changes_nothing(client, bot):
    payload = current("bot.inmeeting", "InMeeting", "2026-02-27T07:11:51.863543+00:00")
    assert post(client, bot, payload).json()["outcome"] == "applied"
    seq = Meeting.objects.get(pk=bot.meeting_id).last_seq
    assert post(client, bot, payload).json()["outcome"] == "duplicate"
    assert Meeting.objects.get(pk=bot.meeting_id).last_seq == seq
    assert BotEvent.objects.filter(bot=bot).count() == 1


def test_out_of_order_and_unknown_callbacks_are_kept_and_logged_never_fatal(client, bot, caplog):
    post(client, bot, current("bot.recording", "Recording", "t2"))
    late = post(client, bot, current("bot.joining", "Joining", "t1"))
    unknown = post(client, bot, {"event": "bot.teleported", "bot_id": BOT_ID, "timestamp": "t3"})
    assert late.status_code == unknown.status_code == 200
    assert late.json()["outcome"] == unknown.json()["outcome"] == "kept"
    bot.refresh_from_db()
    assert bot.status == Bot.Status.RECORDING
    kept = BotEvent.objects.filter(bot=bot, applied=False)
    assert sorted(e.kind for e in kept) == ["bot.joining", "bot.teleported"]
    assert "out-of-order" in caplog.text and "unknown" in caplog.text
    kinds = [e.payload["message"] for e in MeetingEvent.objects.filter(meeting=bot.meeting, type="provider_event")]
    assert "unknown callback bot.teleported" in kinds


def test_a_body_that_is_not_json_is_refused(client, bot):
    assert post(client, bot, None, raw=b"{not json").status_code == 400


def test_a_callback_naming_another_bot_is_refused(client, bot):
    payload = {**current("bot.joining", "Joining", "t1"), "bot_id": "someone-else"}
    assert post(client, bot, payload).status_code == 400


def test_participants_join_and_leave_live_and_become_speakers(client, bot):
    join = {"event": "participant_events.join", "bot_id": BOT_ID,
            "data": {"data": {"participant": {"id": "spk_1", "name": "Jane Smith"}, "timestamp": {"relative": 3.2}}}}
    leave = {**join, "event": "participant_events.leave",
             "data": {"data": {"participant": {"id": "spk_1", "name": "Jane Smith"}, "timestamp": {"relative": 60.0}}}}
    post(client, bot, join, kind="participants")
    bot.refresh_from_db()
    assert bot.participants == {"spk_1": {"name": "Jane Smith", "present": True}}
    assert Speaker.objects.get(meeting=bot.meeting, key="bot:spk_1").name == "Jane Smith"
    post(client, bot, leave, kind="participants")
    bot.refresh_from_db()
    assert bot.participants["spk_1"]["present"] is False
    shown = [e.payload["original"] for e in MeetingEvent.objects.filter(meeting=bot.meeting, type="provider_event")]
    assert [(o["name"], o["joined"]) for o in shown] == [("Jane Smith", True), ("Jane Smith", False)]


def test_live_words_become_an_interim_line_then_one_utterance_at_end_of_turn(client, bot):
    words = [{"word": "hello", "start": 1.2, "end": 1.6, "confidence": 0.999, "word_is_final": True},
             {"word": "world", "start": 1.7, "end": 2.1, "confidence": 0.98, "word_is_final": True}]
    partial = {"bot_id": BOT_ID, "speakerId": "spk_abc123", "speakerName": "Jane Smith",
               "timestamp": "2026-01-24T17:00:30.354452", "new_text": "hello", "transcript": "hello",
               "words": words[:1], "word_is_final": True, "end_of_turn": False, "custom_attributes": {}}
    final = {**partial, "timestamp": "2026-01-24T17:00:31.0", "new_text": "world", "transcript": "hello world",
             "words": words, "end_of_turn": True}
    post(client, bot, partial, kind="live")
    assert not Utterance.objects.filter(meeting=bot.meeting).exists()
    [interim] = snapshot(bot.meeting_id)[1]["utterances"]
    assert (interim["is_final"], interim["text"], interim["speaker"]) == (False, "hello", "Jane Smith")
    post(client, bot, final, kind="live")
    post(client, bot, {**final, "timestamp": "2026-01-24T17:00:31.5"}, kind="live")  # redelivered turn
    (said,) = Utterance.objects.filter(meeting=bot.meeting)
    assert (said.text, said.start_ms, said.end_ms) == ("hello world", 1200, 2100)
    assert said.speaker.key == "bot:spk_abc123"
    assert [(u["text"], u["is_final"]) for u in snapshot(bot.meeting_id)[1]["utterances"]] == [("hello world", True)]


def test_data_deletion_records_the_deleted_objects(client, bot):
    post(client, bot, {"event": "data_deletion", "bot_id": BOT_ID, "status": "success", "deleted_objects": 12,
                       "status_code": 200, "timestamp": "2026-02-28T07:00:00Z"})
    bot.refresh_from_db()
    assert bot.deleted_objects == 12 and bot.data_deleted_at is not None


def test_without_a_webhook_secret_the_token_alone_authenticates(client, bot, meetstream_account):
    meetstream_account.set_secrets({"api_key": "k", "webhook_secret": ""})
    meetstream_account.save()
    assert post(client, bot, current("bot.joining", "Joining", "t1"), secret="").json()["outcome"] == "applied"


def test_the_bot_page_shows_the_lifecycle_kept_and_applied(client, alice, bot):
    post(client, bot, current("bot.recording", "Recording", "t2"))
    post(client, bot, current("bot.joining", "Joining", "t1"))
    client.force_login(alice)
    page = client.get(f"/bots/{bot.meeting_id}/").content.decode()
    assert 'id="bot-status"' in page and "Recording" in page
    assert "bot.joining (kept, not applied)" in page
    assert 'id="bot-panel"' in page and "Remove the bot" in page


def test_a_repeated_joining_is_recorded_but_changes_nothing(client, bot):
    assert post(client, bot, current("bot.joining", "Joining", "t1")).json()["outcome"] == "applied"
    assert post(client, bot, current("bot.joining", "Joining", "t2")).json()["outcome"] == "repeat"
    assert bot_statuses(bot) == ["joining"]
