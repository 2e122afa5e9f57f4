"""Other sources on the deepgram engine: a meeting bot's live audio (MeetStream frames of the real
Endgame recording, each naming its speaker) goes through the bot source to Deepgram, and every
utterance is attributed to the participant who said it."""
import asyncio
import json
import re

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from meetings.bots import lifecycle
from meetings.bots.consumers import BotAudioConsumer
from meetings.bots.meetstream import MeetStream
from meetings.models import Bot, Meeting, Utterance
from streaming.runners import claim, run_session
from tests.fakes.meetstream import audio_frame, pcm48, recording_turns
from tests.meetings.bots.conftest import account
from tests.streaming.test_deepgram_engine import deepgram, deepgram_account  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db(transaction=True)

TURNS = 4  # "Do you hear me?" / "Yes." twice


@database_sync_to_async
def make_bot(alice, workspace, engine):
    account(workspace, secret="")
    meeting = Meeting.objects.create(title="Endgame", source="bot", engine=engine, owner=alice, workspace=workspace)
    return Bot.objects.create(meeting=meeting, meeting_url="https://meet.google.com/abc-defg-hij", platform="google_meet",
                              transcription="parley", live_audio=True, live_transcription=False,
                              audio_required=False, vendor_bot_id="8ceabf49-d392-4c04-8e91-bd9601a0df6e",
                              status=Bot.Status.IN_MEETING)


@database_sync_to_async
def callback(bot, payload):
    return lifecycle.apply(bot, MeetStream("k").parse(payload), payload)


async def bot_session(alice, workspace, settings, engine):
    """A bot in the call sends the recording's first turns, as it heard them, then leaves; returns
    the meeting and ``{speaker: [words]}`` of its final utterances."""
    settings.BOT_POLL_SECONDS = 0.05
    bot = await make_bot(alice, workspace, engine)
    assert await database_sync_to_async(claim)(bot.meeting_id, "test-runner")
    session = asyncio.create_task(run_session(bot.meeting_id, "test-runner"))
    await asyncio.sleep(0.5)  # the source has joined its group
    comm = WebsocketCommunicator(BotAudioConsumer.as_asgi(), f"/ws/bots/{bot.callback_token}/audio")
    comm.scope["url_route"] = {"kwargs": {"bot_token": bot.callback_token}}
    connected, _ = await comm.connect()
    assert connected
    await comm.send_to(text_data=json.dumps({"type": "ready", "bot_id": bot.vendor_bot_id,
                                             "message": "Ready to receive messages"}))
    pcm, turns = pcm48(), recording_turns()[: TURNS + 1]
    chunk = 48000 * 2 // 10  # 100 ms
    # The call's audio without a gap, each 100 ms credited to the participant whose turn it falls in.
    for at in range(0, turns[TURNS][0] * 96, chunk):
        speaker = [t[2] for t in turns if t[0] * 96 <= at + chunk // 2][-1] if at >= turns[0][0] * 96 else turns[0][2]
        await comm.send_to(bytes_data=audio_frame(f"id-{speaker}", speaker, pcm[at: at + chunk]))
        await asyncio.sleep(0.005)
    await comm.disconnect()
    for event, status in (("bot.leaving", "Leaving"), ("bot.stopped", "Stopped")):
        await callback(bot, {"event": event, "bot_id": bot.vendor_bot_id, "bot_status": status, "timestamp": event})
    await callback(bot, {"event": "audio.processed", "bot_id": bot.vendor_bot_id, "timestamp": "t"})
    await asyncio.wait_for(session, 60)
    meeting = await database_sync_to_async(Meeting.objects.get)(pk=bot.meeting_id)
    lines = await database_sync_to_async(lambda: list(Utterance.objects.filter(meeting=meeting, is_final=True)
                                                      .order_by("start_ms").values_list("speaker__name", "text")))()
    said = {}
    for speaker, text in lines:
        said.setdefault(speaker, []).extend(re.findall(r"[a-z]+", text.lower()))
    return meeting, said, lines


@pytest.mark.usefixtures("deepgram_account")
async def test_a_bots_live_audio_on_deepgram_is_attributed_to_each_speaker(deepgram, alice, workspace, settings):
    # Deepgram's results lag the audio: at each change of speaker the engine finishes the utterance
    # in progress (Finalize, and its results) before the next speaker's audio goes out.
    deepgram.latency_ms = 2000
    meeting, said, lines = await bot_session(alice, workspace, settings, "deepgram")
    assert meeting.status == "completed", meeting.failure_reason
    assert said == {"Nagg": ["do", "you", "hear", "me"] * 2, "Nell": ["yes", "yes"]}, lines
    # The bot names the speakers: Deepgram is not asked to guess them.
    [(_, query)] = deepgram.listen_requests
    assert query["diarize"] == "false"
