"""Every live source on both cloud speech engines, against their emulators, with the real Endgame
recording (tests/data/audio/endgame_nagg_nell.flac, whose turns the emulators' recognition is
scripted from): a meeting bot's live audio, a Twilio call's two tracks, a Zoom meeting pushed to
the RTMP ingest; and a provider socket that drops mid-session."""
import asyncio
import re
import wave

import numpy as np
import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from meetings.bots import lifecycle
from meetings.bots.consumers import BotAudioConsumer
from meetings.bots.meetstream import MeetStream
from meetings.models import Bot, Meeting, Utterance
from meetings.sessions import request_stop
from streaming.audio import iter_pcm
from streaming.engines.livesocket import LiveSocket
from streaming.runners import claim, run_session
from streaming.zoom.sessions import start_zoom
from tests.fakes.meetstream import audio_frame, pcm48, recording_turns
from tests.meetings.bots.conftest import account
from tests.streaming.test_assemblyai_engine import assemblyai, assemblyai_account  # noqa: F401 (fixtures)
from tests.streaming.test_deepgram_engine import (ENDGAME, deepgram, deepgram_account,  # noqa: F401 (fixtures)
                                                  run_claimed, speak, wait_for)
from tests.streaming.helpers import make_meeting
from tests.streaming.zoom import conftest as zoom_fixtures
from tests.streaming.zoom.conftest import MEETING, rtmp, zoom, zoom_account_for  # noqa: F401 (fixtures)
from tests.telephony.conftest import parley, twilio, twilio_account  # noqa: F401 (fixtures)
from tests.telephony.test_twilio_call import run_when_created

pytestmark = pytest.mark.django_db(transaction=True)

RECORDING = "audio/endgame_nagg_nell.flac"
TURNS = 4  # of the bot's call: "Do you hear me?" / "Yes." twice


# The RTMP ingest's port; where the Zoom fixtures have ``ingest``, it also stops the process-wide
# ingest the session started, after the test.
ingest = getattr(zoom_fixtures, "ingest", rtmp)


@pytest.fixture(params=["deepgram", "assemblyai"])
def cloud(request):
    """``(engine name, its emulator)``, with Acme's key for it set."""
    request.getfixturevalue(f"{request.param}_account")
    return request.param, request.getfixturevalue(request.param)


def connections(name, fake):
    """The live sockets the emulator was asked to open, as their query parameters."""
    if name == "deepgram":
        return [query for kind, query in fake.listen_requests if kind == "live"]
    return [session["query"] for session in fake.sessions]


@database_sync_to_async
def finals(meeting):
    """``(speaker, start_ms, text, message id)`` of the meeting's final utterances, as persisted."""
    return list(Utterance.objects.filter(meeting=meeting).order_by("id")
                .values_list("speaker__name", "start_ms", "text", "message_id"))


@database_sync_to_async
def reload(meeting):
    return Meeting.objects.get(pk=meeting.pk)


# -- a meeting bot's live audio -----------------------------------------------------------------


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
    await comm.send_json_to({"type": "ready", "bot_id": bot.vendor_bot_id, "message": "Ready to receive messages"})
    pcm, turns = pcm48(), recording_turns()[: TURNS + 1]
    chunk = 48000 * 2 // 10  # 100 ms
    # The call's audio without a gap, each 100 ms credited to the participant whose turn it falls in.
    for at in range(0, turns[TURNS][0] * 96, chunk):
        speaker = [t[2] for t in turns if t[0] * 96 <= at + chunk // 2][-1] if at >= turns[0][0] * 96 else turns[0][2]
        await comm.send_to(bytes_data=audio_frame(f"id-{speaker}", speaker, pcm[at: at + chunk]))
        await asyncio.sleep(0.005)
    # The consumer forwards every frame received before the close; a loaded machine may take more
    # than the communicator's default second to get through them.
    await comm.disconnect(timeout=30)
    for event, status in (("bot.leaving", "Leaving"), ("bot.stopped", "Stopped")):
        await callback(bot, {"event": event, "bot_id": bot.vendor_bot_id, "bot_status": status, "timestamp": event})
    await callback(bot, {"event": "audio.processed", "bot_id": bot.vendor_bot_id, "timestamp": "t"})
    await asyncio.wait_for(session, 60)
    meeting = await reload(Meeting(pk=bot.meeting_id))
    said = {}
    for speaker, _, text, _ in await finals(meeting):
        said.setdefault(speaker, []).extend(re.findall(r"[a-z]+", text.lower()))
    return meeting, said


async def test_a_bots_live_audio_is_attributed_to_each_speaker(cloud, alice, workspace, settings):
    name, fake = cloud
    # The providers' results lag the audio: at each change of speaker the engine ends the utterance
    # in progress (Deepgram's Finalize, AssemblyAI's ForceEndpoint) before the next speaker's audio
    # goes out.
    fake.latency_ms = 2000 if name == "deepgram" else 10_000
    meeting, said = await bot_session(alice, workspace, settings, name)
    assert meeting.status == "completed", meeting.failure_reason
    assert said == {"Nagg": ["do", "you", "hear", "me"] * 2, "Nell": ["yes", "yes"]}
    if name == "deepgram":
        # The bot names the speakers: Deepgram is not asked to guess them.
        [query] = connections(name, fake)
        assert query["diarize"] == "false"
    else:
        assert {"type": "ForceEndpoint"} in fake.sessions[0]["messages"]


# -- a Twilio call ------------------------------------------------------------------------------


def party_track(data_dir, path, speaker):
    """The recording with every turn but ``speaker``'s silenced, as a WAV file at ``path``: what one
    side of the call carries."""
    pcm = np.frombuffer(b"".join(iter_pcm(data_dir / RECORDING)), dtype=np.int16).copy()
    for line in ENDGAME:
        if line.speaker != speaker:
            pcm[int(line.start * 16000): int(line.end * 16000)] = 0
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes(pcm.tobytes())
    return path


async def test_a_forked_call_gives_the_caller_and_the_other_party_as_two_speakers(
        cloud, twilio, parley, twilio_account, data_dir, tmp_path):
    name, fake = cloud
    sid = "CA" + "4" * 32
    runner = asyncio.create_task(run_when_created(sid))
    # Nagg calls; the call is forked to Nell, who answers.
    result = await twilio.place_call(
        f"{parley.url}/telephony/twilio/voice?engine={name}&forward=%2B14155550142", call_sid=sid,
        from_="+14155550123", to="+14155550100", inbound=party_track(data_dir, tmp_path / "nagg.wav", "Nagg"),
        outbound=party_track(data_dir, tmp_path / "nell.wav", "Nell"), speed=8)
    assert result.status == 200 and result.tracks == ["inbound", "outbound"] and result.stopped
    meeting = await reload(await asyncio.wait_for(runner, 120))
    assert meeting.status == "completed", meeting.failure_reason
    assert meeting.engine == name

    said = sorted(await finals(meeting), key=lambda u: u[1])
    parties = {"Nagg": "+14155550123", "Nell": "+14155550142"}
    # Each track's words are its party's, and the two tracks share the call's clock.
    assert [(who, text) for who, _, text, _ in said] == [(parties[line.speaker], line.text) for line in ENDGAME]
    # One provider socket per track, each given PCM 16 kHz (Twilio's mu-law 8 kHz decoded and
    # resampled) and, the track naming its speaker, no diarization.
    queries = connections(name, fake)
    assert len(queries) == 2
    for query in queries:
        if name == "deepgram":
            assert (query["encoding"], query["sample_rate"], query["channels"], query["diarize"]) == (
                "linear16", "16000", "1", "false")
        else:
            assert (query["encoding"], query["sample_rate"]) == ("pcm_s16le", "16000")
            assert query.get("speaker_labels", "false") == "false"
    # One session, one summary, one completion, though two sockets ran.
    types = await database_sync_to_async(lambda: list(meeting.events.values_list("type", flat=True)))()
    assert types.count("summary_response") == 1 and types.count("conversation_completed") == 1


# -- a Zoom meeting through the RTMP ingest ------------------------------------------------------


async def test_zoom_pushes_the_recording_to_the_ingest_and_the_transcript_appears(
        cloud, alice, workspace, zoom, ingest, data_dir):
    name, fake = cloud
    if name == "assemblyai":
        fake.burst_s = 60  # the emulated Zoom pushes the recording faster than real time
    await database_sync_to_async(zoom_account_for)(workspace, zoom)
    zoom.media, zoom.media_realtime = data_dir / RECORDING, False
    stream = await database_sync_to_async(start_zoom)(alice, workspace, zoom_meeting_id="857 4606 5432", engine=name,
                                                      page_url=lambda m: f"https://parley.test/m/{m.pk}")
    meeting = await database_sync_to_async(lambda: stream.meeting)()
    session = asyncio.create_task(run_claimed(meeting))

    async def heard_all_but_the_last_line():
        # The last line ends with the recording: only the end of the stream finalises it.
        return len(await finals(meeting)) >= len(ENDGAME) - 1

    await wait_for(heard_all_but_the_last_line, 60)
    await database_sync_to_async(request_stop)(meeting)
    await asyncio.wait_for(session, 60)
    meeting = await reload(meeting)
    assert meeting.status == "completed", meeting.failure_reason
    said = sorted(await finals(meeting), key=lambda u: u[1])
    assert [text for _, _, text, _ in said] == [line.text for line in ENDGAME]
    speakers = [who for who, *_ in said]
    if name == "deepgram":
        # One mixed stream: Deepgram's diarization tells the two voices apart.
        assert speakers[:4] == ["Speaker 1", "Speaker 2", "Speaker 1", "Speaker 2"]
        [query] = connections(name, fake)
        assert query["diarize"] == "true"
    else:
        assert set(speakers) == {"Speaker 1"}  # Universal-Streaming does not diarize
    assert [c["action"] for c in zoom.meetings[MEETING]["status_calls"]] == ["start", "stop"]


# -- a provider socket that drops ----------------------------------------------------------------


@pytest.fixture
def quick_retries(monkeypatch):
    monkeypatch.setattr(LiveSocket, "retry_delays_s", (0.05, 0.1, 0.2))


@pytest.mark.usefixtures("quick_retries")
@pytest.mark.parametrize("code", [1011, 1006])
async def test_a_socket_dropped_mid_recording_is_reconnected_and_loses_no_word(cloud, alice, data_dir, code):
    name, fake = cloud
    fake.drop_after_s, fake.drops, fake.drop_code = 10.0, 1, code
    if name == "assemblyai":
        # This microphone sends far faster than real time, so all it sent while the socket was
        # being reconnected (how much depends on the machine's load) is replayed at once.
        fake.burst_s = 60
    meeting = await make_meeting(alice, source="microphone", engine=name)
    await speak(meeting, data_dir)
    meeting = await reload(meeting)
    assert meeting.status == "completed", meeting.failure_reason
    said = await finals(meeting)
    # The whole script, each line once, in order, on the meeting's clock.
    assert [text for _, _, text, _ in said] == [line.text for line in ENDGAME]
    assert len({message_id for *_, message_id in said}) == len(said)
    starts = [start for _, start, _, _ in said]
    assert starts == sorted(starts)
    for (_, start, _, _), line in zip(said, ENDGAME):
        assert abs(start - line.start * 1000) < 150, (start, line)
    # Dropped once, reconnected once; the second socket was given the audio from the end of a final
    # result of the first (a line's end, or the end of a long line's first segment), and no more.
    assert fake.dropped == 1 and len(connections(name, fake)) == 2
    first, second = fake.heard
    assert first.received_s >= 10.0
    assert any(end - 0.15 <= second.offset_s <= end for end in first.final_ends_s), (
        second.offset_s, first.final_ends_s)


@pytest.mark.usefixtures("quick_retries")
async def test_a_socket_that_keeps_dropping_fails_the_session_after_a_few_attempts(cloud, alice, data_dir):
    name, fake = cloud
    fake.drop_after_s, fake.drops = 0.5, None
    meeting = await make_meeting(alice, source="microphone", engine=name)
    await speak(meeting, data_dir)
    meeting = await reload(meeting)
    assert meeting.status == "failed"
    vendor = {"deepgram": "Deepgram", "assemblyai": "AssemblyAI"}[name]
    assert meeting.failure_reason == (f"{vendor}: the live connection dropped and 3 attempts in a row to reconnect "
                                      "failed (the last: close code 1011)")
    # The first connection and three attempts: no retry storm.
    assert len(connections(name, fake)) == 4 and fake.dropped == 4


async def test_a_key_revoked_while_reconnecting_fails_at_once(cloud, alice, data_dir, monkeypatch):
    monkeypatch.setattr(LiveSocket, "retry_delays_s", (0.5, 1.0))  # time to revoke the key
    name, fake = cloud
    fake.drop_after_s, fake.drops = 10.0, 1
    meeting = await make_meeting(alice, source="microphone", engine=name)
    task = asyncio.create_task(speak(meeting, data_dir))
    await wait_for(lambda: dropped(fake))
    fake.api_key = "revoked"
    await task
    meeting = await reload(meeting)
    assert meeting.status == "failed"
    assert meeting.failure_reason in ("Deepgram rejected this workspace's API key: Invalid credentials.",
                                      "AssemblyAI rejected this workspace's API key: Unauthorized Connection: "
                                      "Invalid API key")
    # The refused reconnection was the last: a refusal is not retried.
    attempts = [status for _, path, status in fake.requests if path == "/v1/listen"] if name == "deepgram" \
        else [session["close"] for session in fake.sessions]
    assert len(attempts) == 2


async def dropped(fake):
    return fake.dropped > 0


async def test_a_wrong_key_fails_at_once_after_one_connection_attempt(cloud, alice, workspace, data_dir):
    name, fake = cloud
    fake.api_key = "not-acme-s-key"
    meeting = await make_meeting(alice, source="microphone", engine=name)
    await run_claimed(meeting)
    meeting = await reload(meeting)
    assert meeting.status == "failed"
    assert "rejected this workspace's API key" in meeting.failure_reason
    if name == "deepgram":
        assert [status for _, path, status in fake.requests if path == "/v1/listen"] == [401]
    else:
        assert [session["close"][0] for session in fake.sessions] == [1008]
