"""A whole meeting played by the MeetStream emulator against a running Parley: the bot is sent
from the page, joins, transcribes a real meeting live, leaves by everyone_left_timeout, and its
session completes with the transcript; afterwards the retention's data deletion is recorded."""
import asyncio
import threading
import time

import pytest
from asgiref.sync import async_to_sync

from meetings.models import Bot, Meeting, MeetingEvent, Utterance
from streaming.runners import claim, run_session
from tests.fakes.meetstream import RECORDING, meeting_turns

pytestmark = pytest.mark.django_db(transaction=True)

FORM = {"meeting_url": "https://zoom.us/j/85122334455?pwd=aGVsbG8", "bot_name": "Parley Notetaker",
        "audio_required": "on", "participant_events": "on"}


@pytest.fixture
def parley(live_server, settings):
    settings.PUBLIC_URL = live_server.url
    settings.BOT_POLL_SECONDS = 0.05
    return live_server


def send_bot(client, alice, **fields):
    client.force_login(alice)
    response = client.post("/bots/new/", {**FORM, **fields})
    assert response.status_code == 302, response.content.decode()[:2000]
    return Bot.objects.get()


def run(meeting):
    assert claim(meeting.pk, "test-runner")
    async_to_sync(run_session)(meeting.pk, "test-runner")
    return Meeting.objects.get(pk=meeting.pk)


def test_a_live_transcribed_meeting_from_join_to_review(client, alice, meetstream_account, meetstream, parley):
    bot = send_bot(client, alice, transcription="deepgram_streaming", live_transcription="on")
    assert bot.status == Bot.Status.CREATED and bot.vendor_bot_id in meetstream.created
    meetstream.play_sync(bot.vendor_bot_id)
    # Every callback was accepted (signed, to the bot's own URLs).
    assert {status for _, _, status in meetstream.deliveries} == {200}
    bot.refresh_from_db()
    assert bot.status == Bot.Status.DONE and bot.audio_processed
    assert bot.status_message == "Bot is done"
    people = {who["name"]: who["present"] for who in bot.participants.values()}
    assert people == {"User Interface": False, "Project Manager": False, "Marketing": False}
    said = list(Utterance.objects.filter(meeting=bot.meeting).order_by("start_ms")
                .values_list("speaker__name", "text"))
    assert said == meeting_turns(meetstream.turns)
    lifecycle = [e.payload["original"]["event"] for e in MeetingEvent.objects.filter(
        meeting=bot.meeting, type="provider_event", payload__message="bot_status")]
    assert lifecycle == ["bot.joining", "bot.in_waiting_room", "bot.inmeeting", "bot.recording", "bot.leaving",
                         "bot.stopped", "manifest.completed", "audio.processed", "bot.done"]
    leaving = MeetingEvent.objects.filter(meeting=bot.meeting, payload__original__event="bot.leaving").get()
    assert "everyone_left_timeout" in leaving.payload["original"]["message"]

    meeting = run(bot.meeting)
    assert meeting.status == "completed", meeting.failure_reason
    review = client.get(f"/meetings/{meeting.pk}/review/")
    assert review.status_code == 200 and "dim the lights" in review.content.decode()
    # The vendor transcribed; the insights, topics and summary are Parley's own, on its text.
    assert meeting.summary.text and meeting.topics.exists()
    # The vendor's recording was kept for the review page's player: the very file the bot recorded.
    assert meeting.recording.name.endswith(f"bot-{bot.vendor_bot_id}.flac")
    assert meeting.recording.read() == RECORDING.read_bytes()

    # The vendor's retention runs out: its data_deletion callback is recorded.
    asyncio.run_coroutine_threadsafe(meetstream.expire(bot.vendor_bot_id), meetstream.loop).result(10)
    bot.refresh_from_db()
    assert bot.deleted_objects == 12 and bot.data_deleted_at


def test_a_post_call_transcript_is_fetched_once_processed(client, alice, meetstream_account, meetstream, parley):
    meetstream.generation = "legacy"
    bot = send_bot(client, alice, transcription="assemblyai")
    assert bot.transcript_id
    meetstream.play_sync(bot.vendor_bot_id)
    bot.refresh_from_db()
    assert bot.status == Bot.Status.STOPPED and bot.transcript_processed
    assert not Utterance.objects.filter(meeting=bot.meeting).exists()  # nothing live
    meeting = run(bot.meeting)
    assert meeting.status == "completed", meeting.failure_reason
    said = list(Utterance.objects.filter(meeting=meeting).order_by("start_ms").values_list("speaker__name", "text"))
    assert said == meeting_turns(meetstream.turns)
    assert Bot.objects.get(pk=bot.pk).transcript_fetched
    assert meeting.summary.text and meeting.topics.exists()


def test_a_vendor_refusal_is_shown_and_nothing_is_kept(client, alice, meetstream_account, meetstream, parley):
    meetstream.create_failures.append((409, {"detail": "A bot with this deduplication_key already exists."}))
    client.force_login(alice)
    response = client.post("/bots/new/", {**FORM, "transcription": "deepgram_streaming", "live_transcription": "on"})
    assert response.status_code == 400
    assert "A bot with this deduplication_key already exists." in response.content.decode()
    assert not Bot.objects.exists() and not Meeting.objects.exists()


def test_a_bot_not_admitted_fails_its_session_with_the_reason(client, alice, meetstream_account, meetstream, parley):
    bot = send_bot(client, alice, transcription="deepgram_streaming", live_transcription="on")
    loop = meetstream.loop
    for event, status, message in (("bot.joining", "Joining", "Bot is joining the meeting"),
                                   ("bot.stopped", "NotAllowed", "The host did not admit the bot")):
        asyncio.run_coroutine_threadsafe(meetstream._status(bot.vendor_bot_id, event, status, message, 500),
                                         loop).result(10)
    meeting = run(bot.meeting)
    assert meeting.status == "failed"
    assert meeting.failure_reason == "The bot was not allowed into the meeting: The host did not admit the bot"


def test_stop_on_the_meeting_page_removes_the_bot_and_completes(client, alice, meetstream_account, meetstream, parley):
    bot = send_bot(client, alice, transcription="deepgram_streaming", live_transcription="on")
    asyncio.run_coroutine_threadsafe(meetstream._status(bot.vendor_bot_id, "bot.inmeeting", "InMeeting",
                                                        "Successfully joined the meeting", 200), meetstream.loop).result(10)
    assert claim(bot.meeting_id, "test-runner")
    session = threading.Thread(target=async_to_sync(run_session), args=(bot.meeting_id, "test-runner"))
    session.start()
    try:
        while Meeting.objects.get(pk=bot.meeting_id).status != "live":
            assert session.is_alive(), Meeting.objects.get(pk=bot.meeting_id).failure_reason
            time.sleep(0.05)
        assert client.post(f"/meetings/{bot.meeting_id}/stop/").status_code in (302, 303)
    finally:
        session.join(60)
    meeting = Meeting.objects.get(pk=bot.meeting_id)
    assert meeting.status == "completed", meeting.failure_reason
    assert ("GET", f"/api/v1/bots/{bot.vendor_bot_id}/remove_bot", 200) in meetstream.requests
    bot.refresh_from_db()
    assert bot.status == Bot.Status.DONE
    assert bot.events.filter(kind="bot.leaving").get().payload["message"] == "Bot was removed from the meeting"
