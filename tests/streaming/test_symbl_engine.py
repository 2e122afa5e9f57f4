"""The symbl engine end to end against the emulator: Async API uploads, streaming sessions, resilience,
subscriptions, the Speakers API and Conversation API reconciliation, all persisted through the one persister."""
import asyncio

import pytest
from channels.db import database_sync_to_async

from meetings.models import Insight, Meeting, MeetingEvent, Utterance
from streaming.audio import iter_pcm
from streaming.engines.base import EngineError, SessionInfo
from streaming.engines.symbl.client import NotFound, SymblClient
from streaming.engines.symbl.engine import SymblEngine
from streaming.engines.symbl.subscribe import relay, subscribe, subscription_url
from streaming.models import SymblSession
from streaming.persist import apersist_event
from streaming.runners import claim, run_session
from streaming.tasks import reconcile_symbl_conversation
from tests.fakes.symbl import load_script
from tests.streaming.helpers import make_meeting as shared_make_meeting
from tests.streaming.symbl_fixtures import client, symbl, symbl_account  # noqa: F401 (fixtures)

# Every session here runs on alice's workspace's Symbl account (Workspace → Provider accounts).
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("symbl_account")]

ENDGAME = load_script()
QUESTIONS = {line.text for line in ENDGAME if line.text.endswith("?")}


def make_meeting(owner, data_dir, *, realtime, source="upload"):
    recording = data_dir / "audio" / "endgame_nagg_nell.flac" if source == "upload" else None
    return shared_make_meeting(owner, source=source, recording=recording, engine="symbl", title="Endgame",
                               realtime=realtime)


@database_sync_to_async
def stored(meeting):
    meeting = Meeting.objects.get(pk=meeting.pk)
    finals = list(Utterance.objects.filter(meeting=meeting).order_by("start_ms")
                  .values_list("message_id", "speaker__name", "text"))
    insights = list(Insight.objects.filter(meeting=meeting).values_list("type", "text"))
    types = list(meeting.events.order_by("seq").values_list("type", flat=True))
    summary = getattr(meeting, "summary", None)
    return meeting, finals, insights, types, summary.text if summary else ""


async def stream_meeting(meeting, data_dir):
    """Run the engine as a runner does, feeding the real recording as fast as it goes."""
    async def emit(event):
        await apersist_event(meeting.pk, event)

    engine = SymblEngine(SessionInfo(meeting_id=meeting.pk, title=meeting.title, speaker_key="alice@example.com",
                                     speaker_name="Alice"), emit)
    await engine.open()
    for chunk in iter_pcm(data_dir / "audio" / "endgame_nagg_nell.flac", chunk_ms=100):
        await engine.send_audio(chunk)
    await engine.close()
    return engine


async def test_an_upload_not_at_real_time_pace_goes_through_the_async_api(symbl, alice, data_dir):
    meeting = await make_meeting(alice, data_dir, realtime=False)
    assert await database_sync_to_async(claim)(meeting.pk, "test-runner")
    await run_session(meeting.pk, "test-runner")
    meeting, finals, insights, types, summary = await stored(meeting)
    assert meeting.status == "completed", meeting.failure_reason
    assert [text for *_, text in finals] == [line.text for line in ENDGAME]
    # Diarized by the Async API: the two voices of the dialogue.
    assert [name for _, name, _ in finals][:2] == ["Speaker 1", "Speaker 2"]
    assert {text for kind, text in insights if kind == "question"} == QUESTIONS
    longest = max((line.text for line in ENDGAME), key=len)
    assert longest in summary and set(summary.split()) <= {w for line in ENDGAME for w in line.text.split()}
    assert "conversation_created" in types and types[-1] == "session_status"
    state = await database_sync_to_async(SymblSession.objects.get)(meeting=meeting)
    assert state.job_id in symbl.jobs and symbl.jobs[state.job_id]["status"] == "completed"
    assert state.conversation_id in symbl.conversations and state.reconciled_at
    assert {m["name"] for m in state.members} == {"Speaker 1", "Speaker 2"}
    assert {m["type"] for m in state.analytics["metrics"]} == {"total_silence", "total_talk_time", "total_overlap"}
    assert not [r for r in symbl.requests if r[1].startswith("/v1/streaming/")]


@pytest.mark.parametrize("source", ["upload", "microphone"])
async def test_a_streamed_session_is_persisted_live_then_reconciled(symbl, alice, data_dir, source):
    # An upload at real-time pace and a microphone session both use the Streaming API.
    meeting = await make_meeting(alice, data_dir, realtime=True, source=source)
    await stream_meeting(meeting, data_dir)
    meeting, finals, insights, types, summary = await stored(meeting)
    assert [text for *_, text in finals] == [line.text for line in ENDGAME]
    assert {name for _, name, _ in finals} == {"Alice"}
    assert {text for kind, text in insights if kind == "question"} == QUESTIONS
    assert types.count("message_response") == len(ENDGAME)  # reconciliation added no duplicate
    assert "topic_response" in types and "summary_response" in types
    assert types.index("recognition_result") < types.index("message_response") < types.index("conversation_completed")
    state = await database_sync_to_async(SymblSession.objects.get)(meeting=meeting)
    assert state.reconciled_at and state.conversation_id in symbl.conversations
    conversation = symbl.conversations[state.conversation_id]
    assert [m["id"] for m in conversation.messages] == [message_id for message_id, *_ in finals]
    start = next(frame for kind, frame in symbl.stream_frames if kind == "text")
    assert start["speaker"] == {"userId": "alice@example.com", "name": "Alice"}
    assert start["insightTypes"] == ["question", "action_item", "follow_up"] and start["noConnectionTimeout"] > 0


async def test_a_dropped_socket_and_an_expired_token_lose_and_duplicate_nothing(symbl, alice, data_dir):
    symbl.drop_after_finals = 6
    meeting = await make_meeting(alice, data_dir, realtime=True)
    original = symbl._final

    async def final_then_expire(connection, line):
        await original(connection, line)
        if connection.finals == 4:
            symbl.expire_tokens()  # the token expires mid-session, before the drop

    symbl._final = final_then_expire
    engine = await stream_meeting(meeting, data_dir)
    assert engine.stream.reconnects == 1
    meeting, finals, _, types, _ = await stored(meeting)
    assert [text for *_, text in finals] == [line.text for line in ENDGAME]
    assert types.count("message_response") == len(ENDGAME)
    assert len({message_id for message_id, *_ in finals}) == len(ENDGAME)
    state = await database_sync_to_async(SymblSession.objects.get)(meeting=meeting)
    assert {path for _, path, _ in symbl.requests if "/v1/streaming/" in path} == {f"/v1/streaming/{state.connection_id}"}
    handshakes = [status for _, path, status in symbl.requests if "/v1/streaming/" in path]
    assert handshakes == [101, 401, 101]


async def test_a_wrong_app_secret_fails_the_session_with_a_clear_reason(symbl, symbl_account, alice, data_dir):
    symbl_account.set_secrets({"app_secret": "not-the-secret"})
    await database_sync_to_async(symbl_account.save)()
    meeting = await make_meeting(alice, data_dir, realtime=True)
    assert await database_sync_to_async(claim)(meeting.pk, "test-runner")
    await run_session(meeting.pk, "test-runner")
    meeting, finals, *_ = await stored(meeting)
    assert meeting.status == "failed" and not finals
    assert "app id or secret" in meeting.failure_reason and "Unauthorized" in meeting.failure_reason
    assert len([r for r in symbl.requests if r[1] == "/oauth2/token:generate"]) == 1


async def test_an_unknown_symbl_message_is_kept_in_the_event_log_and_not_fatal(symbl, alice, data_dir):
    symbl.unknown_after_finals = 2
    meeting = await make_meeting(alice, data_dir, realtime=True)
    await stream_meeting(meeting, data_dir)
    kept = await database_sync_to_async(lambda: list(
        MeetingEvent.objects.filter(meeting=meeting, type="provider_event").values_list("payload", flat=True)))()
    assert len(kept) == 1 and kept[0]["provider"] == "symbl"
    assert kept[0]["original"]["message"]["type"] == "speaker_change_detected"
    _, finals, *_ = await stored(meeting)
    assert len(finals) == len(ENDGAME)


async def test_the_speakers_api_reattributes_and_reconciliation_keeps_utterance_ids(symbl, alice, data_dir, client):
    meeting = await make_meeting(alice, data_dir, realtime=True)
    await stream_meeting(meeting, data_dir)
    _, before, *_ = await stored(meeting)
    state = await database_sync_to_async(SymblSession.objects.get)(meeting=meeting)
    speaker_events = []
    for line in ENDGAME:  # the dialogue's real turns, as a Zoom TIMELINE would give them
        user = {"id": line.speaker.lower(), "name": line.speaker, "email": f"{line.speaker.lower()}@example.com"}
        for kind, at in (("started_speaking", line.start), ("stopped_speaking", line.end)):
            speaker_events.append({"type": kind, "user": user,
                                   "offset": {"seconds": int(at), "nanos": int(round(at % 1 * 1e9))}})
    message = await client.put_speakers(state.conversation_id, speaker_events)
    assert message.startswith(f"Speaker events associated for conversationId: {state.conversation_id}")
    counts = await database_sync_to_async(reconcile_symbl_conversation)(meeting.pk)
    assert counts["messages"] == len(ENDGAME)
    _, after, *_ = await stored(meeting)
    assert [m for m, *_ in after] == [m for m, *_ in before]
    assert [name for _, name, _ in after] == [line.speaker for line in ENDGAME]


async def test_the_subscribe_api_relays_a_live_conversation(symbl, alice, data_dir, client):
    meeting = await make_meeting(alice, data_dir, realtime=True)
    heard = []

    async def on_frame(frame):
        heard.append(frame)

    async def emit(event):
        await apersist_event(meeting.pk, event)

    engine = SymblEngine(SessionInfo(meeting_id=meeting.pk, title="Endgame"), emit)
    await engine.open()
    listener = asyncio.create_task(subscribe(client, subscription_url(client, engine.state.connection_id), on_frame))
    while len(getattr(symbl.connections.get(engine.state.connection_id), "subscribers", ())) < 2:  # the streaming socket and the subscriber
        await asyncio.sleep(0.02)
    for chunk in iter_pcm(data_dir / "audio" / "endgame_nagg_nell.flac", chunk_ms=100):
        await engine.send_audio(chunk)
    await engine.close()
    assert await asyncio.wait_for(listener, 10) is True
    texts = [m["payload"]["content"] for f in heard if f["type"] == "message_response" for m in f["messages"]]
    assert texts == [line.text for line in ENDGAME]


async def test_subscribing_to_an_unknown_connection_is_the_documented_404(symbl, client, alice, data_dir):
    with pytest.raises(NotFound, match="does not exist for any on-going calls") as raised:
        await subscribe(client, subscription_url(client, "no-such-connection"), lambda frame: asyncio.sleep(0))
    assert raised.value.status == 404
    # Relayed into a meeting, it ends the session with that reason (what the runner shows the user).
    with pytest.raises(EngineError) as failed:
        await relay(client, subscription_url(client, "no-such-connection"), lambda event: asyncio.sleep(0))
    assert str(failed.value) == ("Symbl: Subscription for connectionId no-such-connection does not exist "
                                 "for any on-going calls (HTTP 404)")


async def test_a_relayed_subscription_persists_the_conversation_into_a_meeting(symbl, client, alice, data_dir):
    streamed = await make_meeting(alice, data_dir, realtime=True)
    listening = await make_meeting(alice, data_dir, realtime=True, source="microphone")

    async def emit_streamed(event):
        await apersist_event(streamed.pk, event)

    async def emit_listening(event):
        await apersist_event(listening.pk, event)

    engine = SymblEngine(SessionInfo(meeting_id=streamed.pk, title="Endgame"), emit_streamed)
    await engine.open()
    while engine.state.connection_id not in symbl.connections:
        await asyncio.sleep(0.02)
    listener = asyncio.create_task(relay(client, subscription_url(client, engine.state.connection_id), emit_listening))
    while len(symbl.connections[engine.state.connection_id].subscribers) < 2:
        await asyncio.sleep(0.02)
    for chunk in iter_pcm(data_dir / "audio" / "endgame_nagg_nell.flac", chunk_ms=100):
        await engine.send_audio(chunk)
    await engine.close()
    assert await asyncio.wait_for(listener, 10) is True
    _, finals, insights, *_ = await stored(listening)
    assert [text for *_, text in finals] == [line.text for line in ENDGAME]
    assert {text for kind, text in insights if kind == "question"} == QUESTIONS


async def test_a_failed_async_job_fails_the_session(symbl, alice, data_dir):
    meeting = await make_meeting(alice, data_dir, realtime=False)
    original = symbl._process

    async def failing(job_id, conversation, seconds, diarize):
        await original(job_id, conversation, 0, diarize)

    symbl._process = failing
    assert await database_sync_to_async(claim)(meeting.pk, "test-runner")
    await run_session(meeting.pk, "test-runner")
    meeting, finals, *_ = await stored(meeting)
    assert meeting.status == "failed" and "job" in meeting.failure_reason and "failed" in meeting.failure_reason
    assert not finals


def test_symbl_is_an_available_engine():
    from streaming.engines import available_engines, engine_class

    assert "symbl" in available_engines() and engine_class("symbl") is SymblEngine
    assert SymblClient.attempts < 10  # nothing retries forever


async def test_without_an_app_id_the_session_fails_saying_so(symbl, symbl_account, alice, data_dir):
    await database_sync_to_async(symbl_account.delete)()
    meeting = await make_meeting(alice, data_dir, realtime=False)
    assert await database_sync_to_async(claim)(meeting.pk, "test-runner")
    await run_session(meeting.pk, "test-runner")
    meeting, *_ = await stored(meeting)
    assert meeting.status == "failed"
    assert meeting.failure_reason == ("The Symbl engine is not set up: No Symbl app id and secret are set for "
                                      "workspace “Acme”: an admin sets them under Workspace → Provider accounts.")
    assert not symbl.requests


async def test_a_session_uses_its_own_workspaces_account_not_another(symbl, alice, bob, data_dir):
    # Acme (alice's) has the emulator's app; Globex (bob's) has none: bob's session may not borrow Acme's.
    meeting = await make_meeting(bob, data_dir, realtime=False)
    assert await database_sync_to_async(claim)(meeting.pk, "test-runner")
    await run_session(meeting.pk, "test-runner")
    meeting, *_ = await stored(meeting)
    assert meeting.status == "failed" and "workspace “Globex”" in meeting.failure_reason
    assert not symbl.requests
