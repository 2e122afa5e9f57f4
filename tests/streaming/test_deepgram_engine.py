"""The deepgram engine end to end against the Deepgram emulator: pre-recorded uploads, live microphone
sessions and real-time uploads through the runner, diarized speakers, Parley's insights on Deepgram's
text, and Deepgram's refusals (wrong key, unsupported language, refused audio format, idle socket)."""
import asyncio

import pytest
from channels.db import database_sync_to_async

from meetings.models import Insight, Meeting, Provider, Utterance
from streaming import control
from streaming.audio import iter_pcm
from streaming.engines.transcript import UpstreamError
from streaming.engines.base import SessionInfo
from streaming.engines.deepgram.client import DeepgramClient, listen_params
from streaming.engines.deepgram.engine import DeepgramEngine
from streaming.persist import apersist_event
from streaming.runners import claim, run_session
from tests.accounts import provider_account
from tests.fakes.deepgram import DeepgramFake, load_timed_script
from tests.streaming.helpers import make_meeting

pytestmark = pytest.mark.django_db(transaction=True)

API_KEY = "acme-deepgram-key"
ENDGAME = load_timed_script()
QUESTIONS = {line.text for line in ENDGAME if line.text.endswith("?")}


@pytest.fixture
async def deepgram(settings):
    # 20 times Deepgram's own pace: the transcript is the same, the test is quicker.
    fake = DeepgramFake(api_key=API_KEY, speed=20)
    await fake.start()
    settings.DEEPGRAM_API_URL, settings.DEEPGRAM_WS_URL = fake.url, ""
    yield fake
    await fake.stop()


@pytest.fixture
def deepgram_account(workspace):
    return provider_account(workspace, Provider.DEEPGRAM, api_key=API_KEY)


@database_sync_to_async
def stored(meeting):
    meeting = Meeting.objects.get(pk=meeting.pk)
    finals = list(Utterance.objects.filter(meeting=meeting).order_by("start_ms")
                  .values_list("speaker__name", "text"))
    questions = set(Insight.objects.filter(meeting=meeting, type="question").values_list("text", flat=True))
    types = list(meeting.events.order_by("seq").values_list("type", flat=True))
    summary = getattr(meeting, "summary", None)
    return meeting, finals, questions, types, summary.text if summary else ""


async def run_claimed(meeting):
    assert await database_sync_to_async(claim)(meeting.pk, "test-runner")
    await run_session(meeting.pk, "test-runner")


async def wait_for(predicate, timeout=30):
    deadline = asyncio.get_running_loop().time() + timeout
    while not await predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def is_live(meeting):
    return (await database_sync_to_async(Meeting.objects.get)(pk=meeting.pk)).status == "live"


async def speak(meeting, data_dir, *, chunks=None, pause_after=None, pause_s=0.0):
    """Run a microphone session: the Endgame recording arrives from the browser, then Stop."""
    task = asyncio.create_task(run_claimed(meeting))
    await wait_for(lambda: is_live(meeting))
    pcm = list(iter_pcm(data_dir / "audio" / "endgame_nagg_nell.flac", chunk_ms=100))[:chunks]
    for n, chunk in enumerate(pcm):
        await control.send_audio(meeting.pk, chunk)
        if n == pause_after:
            await control.send_pause(meeting.pk)
            await asyncio.sleep(pause_s)
        elif n % 10 == 0:
            await asyncio.sleep(0.01)  # a browser's pace, sped up: the emulator's clock is the audio
    await database_sync_to_async(Meeting.objects.filter(pk=meeting.pk).update)(stop_requested=True)
    await control.send_stop(meeting.pk)
    await asyncio.wait_for(task, timeout=60)


@pytest.mark.usefixtures("deepgram_account")
async def test_an_upload_not_at_real_time_pace_is_transcribed_whole_with_speakers_and_insights(
        deepgram, alice, data_dir):
    meeting = await make_meeting(alice, recording=data_dir / "audio" / "endgame_nagg_nell.flac", engine="deepgram")
    await run_claimed(meeting)
    meeting, finals, questions, types, summary = await stored(meeting)
    assert meeting.status == "completed", meeting.failure_reason
    assert [text for _, text in finals] == [line.text for line in ENDGAME]
    # Deepgram's diarization: the dialogue's two voices alternate.
    assert [name for name, _ in finals][:4] == ["Speaker 1", "Speaker 2", "Speaker 1", "Speaker 2"]
    # Parley's own insight pipeline ran on Deepgram's text.
    assert questions == QUESTIONS
    assert summary and set(summary.split()) <= {w for line in ENDGAME for w in line.text.split()}
    assert types.index("message_response") < types.index("summary_response") < types.index("conversation_completed")
    [(kind, query)] = deepgram.listen_requests
    assert kind == "prerecorded"
    assert query["diarize"] == query["utterances"] == query["smart_format"] == "true"
    assert query["language"] == "en-US"


@pytest.mark.usefixtures("deepgram_account")
async def test_a_microphone_session_streams_live_with_interim_results_and_diarized_finals(
        deepgram, alice, data_dir):
    meeting = await make_meeting(alice, source="microphone", engine="deepgram")
    await speak(meeting, data_dir)
    meeting, finals, questions, types, summary = await stored(meeting)
    assert meeting.status == "completed", meeting.failure_reason
    assert [text for _, text in finals] == [line.text for line in ENDGAME]
    # Speaker 0 is the microphone's owner; the other voice Deepgram tells apart is "Speaker 2".
    assert [name for name, _ in finals][:2] == ["Alice", "Speaker 2"]
    assert questions == QUESTIONS and summary
    interims = await database_sync_to_async(lambda: meeting.events.filter(
        type="recognition_result", payload__message__isFinal=False).count())()
    assert interims > 0
    [(kind, query)] = deepgram.listen_requests
    assert kind == "live"
    assert {k: query[k] for k in ("encoding", "sample_rate", "channels", "interim_results", "punctuate",
                                  "smart_format", "diarize", "endpointing", "utterance_end_ms")} == {
        "encoding": "linear16", "sample_rate": "16000", "channels": "1", "interim_results": "true",
        "punctuate": "true", "smart_format": "true", "diarize": "true", "endpointing": "300",
        "utterance_end_ms": "1000"}
    assert deepgram.client_messages[-1] == {"type": "CloseStream"} and deepgram.closes == [(1000, "")]


@pytest.mark.usefixtures("deepgram_account")
async def test_an_upload_watched_live_streams_through_the_live_api(deepgram, alice, data_dir):
    meeting = await make_meeting(alice, recording=data_dir / "audio" / "endgame_nagg_nell.flac", engine="deepgram",
                                 realtime=True)

    async def emit(event):
        await apersist_event(meeting.pk, event)

    engine = DeepgramEngine(SessionInfo(meeting_id=meeting.pk, title=meeting.title), emit)
    await engine.open()
    for chunk in iter_pcm(data_dir / "audio" / "endgame_nagg_nell.flac", chunk_ms=100):
        await engine.send_audio(chunk)
    await engine.close()
    _, finals, questions, _, _ = await stored(meeting)
    assert [text for _, text in finals] == [line.text for line in ENDGAME]
    assert [name for name, _ in finals][:2] == ["Speaker 1", "Speaker 2"]
    assert [kind for kind, _ in deepgram.listen_requests] == ["live"]


@pytest.mark.usefixtures("deepgram_account")
async def test_a_paused_microphone_is_kept_open_with_keepalive(deepgram, alice, data_dir, monkeypatch):
    deepgram.idle_timeout_s = 0.5
    monkeypatch.setattr(DeepgramEngine, "keepalive_s", 0.1)
    meeting = await make_meeting(alice, source="microphone", engine="deepgram")
    await speak(meeting, data_dir, chunks=60, pause_after=30, pause_s=1.0)
    meeting, finals, *_ = await stored(meeting)
    assert meeting.status == "completed", meeting.failure_reason
    assert {"type": "KeepAlive"} in deepgram.client_messages and {"type": "Finalize"} in deepgram.client_messages
    assert [text for _, text in finals][:2] == [line.text for line in ENDGAME[:2]]


@pytest.mark.usefixtures("deepgram_account")
async def test_an_idle_socket_closed_by_deepgram_fails_the_session_with_its_reason(
        deepgram, alice, data_dir, monkeypatch):
    deepgram.idle_timeout_s = 0.3
    monkeypatch.setattr(DeepgramEngine, "keepalive_s", 60)
    meeting = await make_meeting(alice, source="microphone", engine="deepgram")
    await speak(meeting, data_dir, chunks=20, pause_after=10, pause_s=1.0)
    meeting = await database_sync_to_async(Meeting.objects.get)(pk=meeting.pk)
    assert meeting.status == "failed"
    assert "did not receive audio data or a text message within the timeout window" in meeting.failure_reason
    assert deepgram.closes[0][0] == 1011


async def test_a_wrong_api_key_fails_the_session_with_deepgrams_reason(deepgram, alice, workspace, data_dir):
    await database_sync_to_async(provider_account)(workspace, Provider.DEEPGRAM, api_key="not-the-key")
    for source in ("microphone", "upload"):
        recording = data_dir / "audio" / "beckett.flac" if source == "upload" else None
        meeting = await make_meeting(alice, source=source, recording=recording, engine="deepgram")
        await run_claimed(meeting)
        meeting = await database_sync_to_async(Meeting.objects.get)(pk=meeting.pk)
        assert meeting.status == "failed"
        assert meeting.failure_reason == "Deepgram rejected this workspace's API key: Invalid credentials."
    # One refused request per session: no retries.
    assert [status for _, path, status in deepgram.requests if path == "/v1/listen"] == [401, 401]


@pytest.mark.usefixtures("deepgram_account")
async def test_an_unsupported_language_fails_with_deepgrams_reason(deepgram, alice):
    meeting = await make_meeting(alice, source="microphone", engine="deepgram", language="tlh")
    await run_claimed(meeting)
    meeting = await database_sync_to_async(Meeting.objects.get)(pk=meeting.pk)
    assert meeting.status == "failed"
    assert meeting.failure_reason == "Deepgram: No such model/language/tier combination found."


@pytest.mark.usefixtures("deepgram_account")
async def test_an_audio_format_deepgram_refuses_fails_with_its_reason(deepgram, alice, monkeypatch):
    monkeypatch.setattr(DeepgramEngine, "encoding", "pcm_s16le")  # AssemblyAI's name, not Deepgram's
    meeting = await make_meeting(alice, source="microphone", engine="deepgram")
    await run_claimed(meeting)
    meeting = await database_sync_to_async(Meeting.objects.get)(pk=meeting.pk)
    assert meeting.status == "failed"
    assert meeting.failure_reason == "Deepgram: Bad Request: unknown encoding 'pcm_s16le'."


async def test_a_file_that_is_not_audio_is_refused_with_deepgrams_reason(deepgram, data_dir):
    text = data_dir / "references" / "beckett.txt"
    with pytest.raises(UpstreamError) as refused:
        await DeepgramClient(API_KEY).transcribe_file(text, listen_params(model="nova-3", language="en"))
    assert refused.value.status == 400
    assert refused.value.message == "Bad Request: failed to process audio: corrupt or unsupported data"


async def test_a_workspace_without_a_deepgram_key_fails_with_a_clear_reason(deepgram, alice):
    meeting = await make_meeting(alice, source="microphone", engine="deepgram")
    await run_claimed(meeting)
    meeting = await database_sync_to_async(Meeting.objects.get)(pk=meeting.pk)
    assert meeting.status == "failed"
    assert meeting.failure_reason.startswith("The deepgram engine is not set up: no Deepgram API key is set for "
                                             "workspace “Acme”")
    assert not deepgram.requests


@pytest.mark.usefixtures("deepgram_account")
async def test_without_endpointing_utterance_end_closes_utterances_split_by_speaker(
        deepgram, alice, data_dir, monkeypatch):
    monkeypatch.setattr(DeepgramEngine, "endpointing_ms", False)
    meeting = await make_meeting(alice, source="microphone", engine="deepgram")
    await speak(meeting, data_dir)
    meeting, finals, *_ = await stored(meeting)
    assert meeting.status == "completed", meeting.failure_reason
    # No speech_final ever: the results wait for UtteranceEnd (or the end of the stream), and the
    # diarized words are cut into one utterance per speaker turn.
    assert [text for _, text in finals] == [line.text for line in ENDGAME]
    [(_, query)] = deepgram.listen_requests
    assert query["endpointing"] == "false"
