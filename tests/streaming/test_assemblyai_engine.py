"""The assemblyai engine end to end against the AssemblyAI emulator: pre-recorded uploads with speaker
labels, Universal-Streaming microphone sessions and real-time uploads through the runner, Parley's
insights on AssemblyAI's text, and AssemblyAI's refusals (wrong key, unsupported language, refused
audio, a session it ends)."""
import asyncio

import pytest
from channels.db import database_sync_to_async

from meetings.models import Meeting, Provider
from streaming.audio import iter_pcm
from streaming.engines.assemblyai import engine as assemblyai_engine
from streaming.engines.assemblyai.client import AssemblyAIClient, language_code
from streaming.engines.assemblyai.engine import AssemblyAIEngine
from streaming.engines.base import SessionInfo
from streaming.persist import apersist_event
from tests.accounts import provider_account
from tests.fakes.assemblyai import AssemblyAIFake
from tests.streaming.helpers import make_meeting
from tests.streaming.test_deepgram_engine import ENDGAME, QUESTIONS, run_claimed, speak, stored

pytestmark = pytest.mark.django_db(transaction=True)

API_KEY = "acme-assemblyai-key"


@pytest.fixture
async def assemblyai(settings, monkeypatch):
    # 100 times AssemblyAI's own pace (and audio accepted 100 times faster than real time).
    fake = AssemblyAIFake(api_key=API_KEY, speed=100)
    await fake.start()
    settings.ASSEMBLYAI_API_URL = fake.url
    settings.ASSEMBLYAI_WS_URL = fake.url.replace("http://", "ws://")
    monkeypatch.setattr(AssemblyAIClient, "poll_s", 0.02)
    yield fake
    await fake.stop()


@pytest.fixture
def assemblyai_account(workspace):
    return provider_account(workspace, Provider.ASSEMBLYAI, api_key=API_KEY)


async def reload(meeting):
    return await database_sync_to_async(Meeting.objects.get)(pk=meeting.pk)


@pytest.mark.usefixtures("assemblyai_account")
async def test_an_upload_not_at_real_time_pace_is_transcribed_with_speaker_labels_and_insights(
        assemblyai, alice, data_dir):
    meeting = await make_meeting(alice, recording=data_dir / "audio" / "endgame_nagg_nell.flac",
                                 engine="assemblyai")
    await run_claimed(meeting)
    meeting, finals, questions, types, summary = await stored(meeting)
    assert meeting.status == "completed", meeting.failure_reason
    assert [text for _, text in finals] == [line.text for line in ENDGAME]
    # AssemblyAI's speakers "A" and "B": the dialogue's two voices alternate.
    assert [name for name, _ in finals][:4] == ["Speaker 1", "Speaker 2", "Speaker 1", "Speaker 2"]
    assert questions == QUESTIONS
    assert summary and types.index("summary_response") < types.index("conversation_completed")
    [transcript] = assemblyai.jobs.values()
    assert transcript["status"] == "completed" and transcript["speaker_labels"] is True
    assert transcript["language_code"] == "en_us"
    assert not assemblyai.sessions


@pytest.mark.usefixtures("assemblyai_account")
async def test_a_microphone_session_streams_turns_in_frames_of_50_to_1000_ms(assemblyai, alice, data_dir):
    meeting = await make_meeting(alice, source="microphone", engine="assemblyai")
    await speak(meeting, data_dir)
    meeting, finals, questions, _, summary = await stored(meeting)
    assert meeting.status == "completed", meeting.failure_reason
    # The formatted end of each turn is the utterance.
    assert [text for _, text in finals] == [line.text for line in ENDGAME]
    assert {name for name, _ in finals} == {"Alice"}
    assert questions == QUESTIONS and summary
    interims = await database_sync_to_async(lambda: meeting.events.filter(
        type="recognition_result", payload__message__isFinal=False).count())()
    assert interims > 0
    [session] = assemblyai.sessions
    assert session["query"] == {"sample_rate": "16000", "encoding": "pcm_s16le", "format_turns": "true",
                                "speech_model": "universal-streaming-english"}
    assert all(50 <= ms <= 1000 for ms in session["frames_ms"])
    assert session["messages"][-1] == {"type": "Terminate"} and session["close"] == (1000, "")


@pytest.mark.usefixtures("assemblyai_account")
async def test_an_upload_watched_live_streams_through_universal_streaming(assemblyai, alice, data_dir):
    meeting = await make_meeting(alice, recording=data_dir / "audio" / "endgame_nagg_nell.flac",
                                 engine="assemblyai", realtime=True)

    async def emit(event):
        await apersist_event(meeting.pk, event)

    engine = AssemblyAIEngine(SessionInfo(meeting_id=meeting.pk, title=meeting.title), emit)
    await engine.open()
    # Source chunks of 30 ms: below AssemblyAI's minimum, regrouped by the engine.
    for n, chunk in enumerate(iter_pcm(data_dir / "audio" / "endgame_nagg_nell.flac", chunk_ms=30)):
        await engine.send_audio(chunk)
        if n % 20 == 0:
            await asyncio.sleep(0.01)
    await engine.close()
    _, finals, *_ = await stored(meeting)
    assert [text for _, text in finals] == [line.text for line in ENDGAME]
    assert all(50 <= ms <= 1000 for ms in assemblyai.sessions[0]["frames_ms"])


@pytest.mark.usefixtures("assemblyai_account")
async def test_a_paused_microphone_ends_the_turn_and_keeps_the_session(assemblyai, alice, data_dir, monkeypatch):
    monkeypatch.setattr(AssemblyAIEngine, "keepalive_s", 0.1)
    meeting = await make_meeting(alice, source="microphone", engine="assemblyai")
    # 0.6 s in, mid-way through "Do you hear me?", the browser's socket drops for a moment.
    await speak(meeting, data_dir, chunks=60, pause_after=5, pause_s=0.5)
    meeting, finals, *_ = await stored(meeting)
    assert meeting.status == "completed", meeting.failure_reason
    messages = assemblyai.sessions[0]["messages"]
    assert {"type": "ForceEndpoint"} in messages and {"type": "KeepAlive"} in messages
    assert finals[0][1] != ENDGAME[0].text and ENDGAME[0].text.startswith(finals[0][1].rstrip("."))


async def test_a_wrong_api_key_fails_the_session_with_assemblyais_reason(assemblyai, alice, workspace, data_dir):
    await database_sync_to_async(provider_account)(workspace, Provider.ASSEMBLYAI, api_key="not-the-key")
    reasons = []
    for source in ("microphone", "upload"):
        recording = data_dir / "audio" / "beckett.flac" if source == "upload" else None
        meeting = await make_meeting(alice, source=source, recording=recording, engine="assemblyai")
        await run_claimed(meeting)
        meeting = await reload(meeting)
        assert meeting.status == "failed"
        reasons.append(meeting.failure_reason)
    assert reasons == ["AssemblyAI rejected this workspace's API key: Unauthorized Connection: Invalid API key",
                       "AssemblyAI rejected this workspace's API key: Authentication error, API token missing/invalid"]
    assert len(assemblyai.sessions) == 1 and [r for r in assemblyai.requests if r[1] == "/v2/upload"] == [
        ("POST", "/v2/upload", 401)]


@pytest.mark.usefixtures("assemblyai_account")
async def test_an_unsupported_language_fails_with_a_clear_reason_on_both_paths(assemblyai, alice, data_dir):
    live = await make_meeting(alice, source="microphone", engine="assemblyai", language="tlh")
    await run_claimed(live)
    live = await reload(live)
    assert live.status == "failed" and live.failure_reason.startswith(
        "AssemblyAI: Universal-Streaming does not transcribe “tlh”")
    upload = await make_meeting(alice, recording=data_dir / "audio" / "beckett.flac", engine="assemblyai",
                                language="tlh")
    await run_claimed(upload)
    upload = await reload(upload)
    assert upload.status == "failed"
    assert upload.failure_reason == "AssemblyAI: language_code 'tlh' is not supported."


@pytest.mark.usefixtures("assemblyai_account")
async def test_audio_frames_assemblyai_refuses_fail_the_session_with_its_reason(
        assemblyai, alice, data_dir, monkeypatch):
    monkeypatch.setattr(assemblyai_engine, "FRAME_MS", 20)  # what a browser's audio worklet would send
    meeting = await make_meeting(alice, source="microphone", engine="assemblyai")
    await speak(meeting, data_dir, chunks=5)
    meeting = await reload(meeting)
    assert meeting.status == "failed"
    assert meeting.failure_reason == ("AssemblyAI: Input Duration Error: Input Duration Violation: 20.0 ms. "
                                      "Expected between 50 and 1000 ms")
    assert assemblyai.sessions[0]["close"][0] == 3007


@pytest.mark.usefixtures("assemblyai_account")
async def test_audio_sent_faster_than_allowed_fails_with_assemblyais_reason(assemblyai, alice, data_dir):
    assemblyai.speed, assemblyai.burst_s = 1.0, 2.0
    meeting = await make_meeting(alice, source="microphone", engine="assemblyai")
    await speak(meeting, data_dir)
    meeting = await reload(meeting)
    assert meeting.status == "failed"
    assert meeting.failure_reason.startswith("AssemblyAI: Audio Transmission Rate Exceeded: Received")


async def test_a_recording_assemblyai_cannot_transcode_fails_the_transcript(assemblyai, data_dir):
    with pytest.raises(Exception) as failed:
        await AssemblyAIClient(API_KEY).transcribe_file(data_dir / "references" / "beckett.txt", language="en-US")
    assert failed.value.message == "Transcoding failed. File does not appear to contain audio."


def test_language_codes_follow_assemblyais_names():
    assert [language_code(tag) for tag in ("en-US", "en-GB", "en-AU", "fr-FR", "de")] == [
        "en_us", "en_uk", "en_au", "fr", "de"]
