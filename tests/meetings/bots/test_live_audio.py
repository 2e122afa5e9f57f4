"""Live audio: MeetStream's binary frames of a real two-voice recording arrive on the bot's socket,
go to Parley's engine through the bot source, and each utterance is attributed to its speaker."""
import asyncio
import json
import re

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from meetings.bots import audio as bot_audio
from meetings.bots import lifecycle
from meetings.bots.meetstream import MeetStream
from meetings.models import Bot, Meeting, Utterance
from streaming.runners import claim, run_session
from tests.fakes.meetstream import audio_frame, pcm48, recording_turns

from .conftest import account

pytestmark = pytest.mark.django_db(transaction=True)

TURNS = 4  # "Do you hear me?" / "Yes." twice: two speakers, a few seconds of speech


@database_sync_to_async
def make_bot(alice, workspace, status=Bot.Status.IN_MEETING):
    account(workspace, secret="")
    meeting = Meeting.objects.create(title="Endgame", source="bot", engine="local", owner=alice, workspace=workspace)
    return Bot.objects.create(meeting=meeting, meeting_url="https://meet.google.com/abc-defg-hij", platform="google_meet",
                              transcription="parley", live_audio=True, live_transcription=False,
                              audio_required=False,  # no recording to fetch afterwards: this bot is not at the fake
                              vendor_bot_id="8ceabf49-d392-4c04-8e91-bd9601a0df6e", status=status)


def socket(bot, token=None):
    """The bot's audio socket through Parley's own ASGI router, as the vendor opens it: no browser
    Origin, no session; the token in the path is the credential."""
    from config.asgi import router

    return WebsocketCommunicator(router, f"/ws/bots/{token or bot.callback_token}/audio")


@database_sync_to_async
def callback(bot, payload):
    return lifecycle.apply(bot, MeetStream("k").parse(payload), payload)


@database_sync_to_async
def said(meeting):
    return list(Utterance.objects.filter(meeting=meeting).order_by("start_ms")
                .values_list("speaker__name", "text"))


def test_frames_round_trip_and_malformed_ones_are_refused():
    frame = audio_frame("spk_1", "Jane Smith", b"\x01\x00\x02\x00")
    decoded = bot_audio.decode(frame)
    assert (decoded.speaker_id, decoded.speaker_name, decoded.pcm) == ("spk_1", "Jane Smith", b"\x01\x00\x02\x00")
    assert bot_audio.encode("spk_1", "Jane Smith", b"\x01\x00\x02\x00") == frame
    for bad, why in ((b"\x02\x00\x00\x00\x00", "msg_type"), (frame[:6], "past the end"), (frame + b"\x00", "odd")):
        with pytest.raises(bot_audio.FrameError, match=why):
            bot_audio.decode(bad)


def test_48_khz_becomes_16_khz():
    resampler = bot_audio.Resampler()
    pcm = pcm48()[: 48000 * 2]  # one second
    out = resampler.feed(pcm) + resampler.flush()
    assert abs(len(out) - 16000 * 2) <= 2 * 64


async def test_an_unknown_token_is_refused_before_accept(alice, workspace):
    bot = await make_bot(alice, workspace)
    connected, code = await socket(bot, "nope").connect()
    assert not connected and code == 4404
    assert bot.pk


async def test_live_audio_feeds_parleys_engine_attributed_to_each_speaker(alice, workspace, settings):
    settings.BOT_POLL_SECONDS = 0.05
    bot = await make_bot(alice, workspace)
    assert await database_sync_to_async(claim)(bot.meeting_id, "test-runner")
    session = asyncio.create_task(run_session(bot.meeting_id, "test-runner"))
    await asyncio.sleep(0.5)  # the source has joined its group

    comm = socket(bot)
    connected, _ = await comm.connect()
    assert connected
    await comm.send_to(text_data=json.dumps({"type": "ready", "bot_id": bot.vendor_bot_id,
                                             "message": "Ready to receive messages"}))
    pcm = pcm48()
    turns = recording_turns()[:TURNS]
    chunk = 48000 * 2 // 10
    for start_ms, end_ms, speaker, _ in turns:
        a, b = start_ms * 96, min(len(pcm), (end_ms + 500) * 96)
        for at in range(a, b, chunk):
            await comm.send_to(bytes_data=audio_frame(f"id-{speaker}", speaker, pcm[at:min(b, at + chunk)]))
    await comm.send_to(bytes_data=b"\x07garbage")  # skipped, the stream goes on
    await comm.disconnect(timeout=30)  # every frame received before the close is forwarded

    for event, status in (("bot.leaving", "Leaving"), ("bot.stopped", "Stopped")):
        await callback(bot, {"event": event, "bot_id": bot.vendor_bot_id, "bot_status": status, "timestamp": event})
    await callback(bot, {"event": "audio.processed", "bot_id": bot.vendor_bot_id, "timestamp": "t"})
    await asyncio.wait_for(session, 120)

    meeting = await database_sync_to_async(Meeting.objects.get)(pk=bot.meeting_id)
    assert meeting.status == "completed", meeting.failure_reason
    lines = await said(meeting)
    by = {}
    for speaker, text in lines:
        by.setdefault(speaker, []).extend(re.findall(r"[a-z]+", text.lower()))
    assert set(by) == {"Nagg", "Nell"}, lines
    assert "hear" in by["Nagg"] and "yes" in by["Nell"], lines
    assert "yes" not in by["Nagg"] and "hear" not in by["Nell"], lines
