"""Reconciliation's corrections go through the one persister: the event log records them once, the
utterances keep their ids, search follows, and a live page (watching, or reconnecting with ?after=)
sees them. The emulator streams the Endgame dialogue as a recognizer's raw text and its Conversation
API answers the punctuated lines (``live_raw_text``), as Symbl's post-processing revises what it streamed."""
import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from meetings.models import Insight, Meeting, MeetingEvent, SearchEntry, Utterance
from streaming import events, tasks
from streaming.audio import iter_pcm
from streaming.consumers import MeetingRelayConsumer
from streaming.engines.base import SessionInfo
from streaming.engines.symbl.engine import SymblEngine
from streaming.models import SymblSession
from streaming.persist import apersist_event
from streaming.tasks import reconcile_symbl_conversation
from tests.fakes.symbl import _raw_text, load_script
from tests.streaming.helpers import make_meeting
from tests.streaming.symbl_fixtures import client, symbl, symbl_account  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db(transaction=True)

ENDGAME = load_script()
RECORDING = "endgame_nagg_nell.flac"


@pytest.fixture(autouse=True)
def account(symbl_account):
    """Every test here runs with alice's workspace's Symbl account set to the emulator's app."""
    return symbl_account


@pytest.fixture
def later(monkeypatch):
    """Streamed sessions end without reconciling: each test runs the reconciliation task itself."""
    async def not_yet(meeting_id):
        return None

    monkeypatch.setattr(tasks, "reconcile_later", not_yet)


async def stream(meeting, data_dir):
    async def emit(event):
        await apersist_event(meeting.pk, event)

    engine = SymblEngine(SessionInfo(meeting_id=meeting.pk, title=meeting.title, speaker_key="alice@example.com",
                                     speaker_name="Alice"), emit)
    await engine.open()
    for chunk in iter_pcm(data_dir / "audio" / RECORDING, chunk_ms=100):
        await engine.send_audio(chunk)
    await engine.close()


@database_sync_to_async
def finals(meeting):
    return list(Utterance.objects.filter(meeting=meeting).order_by("start_ms")
                .values_list("pk", "message_id", "speaker__name", "text"))


@database_sync_to_async
def logged(meeting, kind):
    return list(MeetingEvent.objects.filter(meeting=meeting, type=kind).order_by("seq").values_list("seq", "payload"))


@database_sync_to_async
def last_seq(meeting):
    return Meeting.objects.get(pk=meeting.pk).last_seq


reconcile = database_sync_to_async(reconcile_symbl_conversation)


def relay(meeting, user, after):
    comm = WebsocketCommunicator(MeetingRelayConsumer.as_asgi(), f"/ws/meetings/{meeting.pk}/?after={after}")
    comm.scope["user"] = user
    comm.scope["url_route"] = {"kwargs": {"meeting_id": meeting.pk}}
    return comm


async def drain(comm):
    """Every event the relay sends until it falls quiet."""
    received = []
    while not await comm.receive_nothing(timeout=0.3):
        received.append(await comm.receive_json_from())
    return received


async def test_reconciling_corrects_the_live_text_once_through_the_event_log(symbl, alice, data_dir, later):
    symbl.live_raw_text = True
    meeting = await make_meeting(alice, source="microphone", engine="symbl", title="Endgame")
    await stream(meeting, data_dir)
    live = await finals(meeting)
    assert [text for *_, text in live] == [_raw_text(line.text) for line in ENDGAME]
    before = await last_seq(meeting)
    watching = relay(meeting, alice, before)
    assert (await watching.connect())[0]

    counts = await reconcile(meeting.pk)
    assert counts["corrected"] == len(ENDGAME)
    assert (await reconcile(meeting.pk))["corrected"] == 0  # nothing left to correct

    (correction,) = await logged(meeting, "message_correction")
    seq, payload = correction
    assert seq > before
    after = await finals(meeting)
    # Same rows, same message ids (links stay valid), the Conversation API's text.
    assert [(pk, message_id) for pk, message_id, *_ in after] == [(pk, message_id) for pk, message_id, *_ in live]
    assert [text for *_, text in after] == [line.text for line in ENDGAME]
    assert [m["id"] for m in payload["messages"]] == [message_id for _, message_id, *_ in live]
    assert [m["payload"]["content"] for m in payload["messages"]] == [line.text for line in ENDGAME]
    # The message_responses the Conversation API repeats were not stored again.
    assert len(await logged(meeting, "message_response")) == len(ENDGAME)
    indexed = await database_sync_to_async(lambda: dict(
        SearchEntry.objects.filter(meeting=meeting, kind="utterance").values_list("utterance_id", "text")))()
    assert indexed == {pk: text for pk, _, _, text in after}

    # A page watching live got the correction as it was stored...
    seen = [m for m in await drain(watching) if m["event"]["type"] == "message_correction"]
    assert [m["seq"] for m in seen] == [seq]
    await watching.disconnect()
    # ...and one reconnecting after the last event it had gets it replayed, exactly once.
    reconnecting = relay(meeting, alice, before)
    assert (await reconnecting.connect())[0]
    replayed = await drain(reconnecting)
    assert [m["seq"] for m in replayed] == sorted({m["seq"] for m in replayed})
    assert [m["event"] for m in replayed if m["event"]["type"] == "message_correction"] == [payload]
    await reconnecting.disconnect()


async def test_a_speakers_api_reattribution_moves_utterances_and_their_insights(symbl, alice, data_dir, client, later):
    meeting = await make_meeting(alice, source="microphone", engine="symbl", title="Endgame")
    await stream(meeting, data_dir)
    live = await finals(meeting)
    assert {name for _, _, name, _ in live} == {"Alice"}
    state = await database_sync_to_async(SymblSession.objects.get)(meeting=meeting)
    turns = []
    for line in ENDGAME:  # the dialogue's real turns
        user = {"id": line.speaker.lower(), "name": line.speaker, "email": f"{line.speaker.lower()}@example.com"}
        turns += [{"type": "started_speaking", "user": user, "offset": {"seconds": int(line.start),
                                                                        "nanos": int(round(line.start % 1 * 1e9))}},
                  {"type": "stopped_speaking", "user": user, "offset": {"seconds": int(line.end),
                                                                        "nanos": int(round(line.end % 1 * 1e9))}}]
    await client.put_speakers(state.conversation_id, turns)
    assert (await reconcile(meeting.pk))["corrected"] == len(ENDGAME)
    await reconcile(meeting.pk)

    (correction,) = await logged(meeting, "message_correction")
    assert [m["from"]["name"] for m in correction[1]["messages"]] == [line.speaker for line in ENDGAME]
    after = await finals(meeting)
    assert [pk for pk, *_ in after] == [pk for pk, *_ in live]
    assert [name for _, _, name, _ in after] == [line.speaker for line in ENDGAME]
    assert [text for *_, text in after] == [line.text for line in ENDGAME]  # only the speakers changed

    @database_sync_to_async
    def said_by():
        return {(entry.insight.text, entry.said_by.name) for entry in SearchEntry.objects.filter(
            meeting=meeting, kind="insight").select_related("insight", "said_by")}

    @database_sync_to_async
    def first_speakers():
        return {(i.text, i.utterances.order_by("start_ms").first().speaker.name)
                for i in Insight.objects.filter(meeting=meeting)}

    expected = await first_speakers()
    assert expected and {name for _, name in expected} <= {"Nagg", "Nell"}
    # Search shows who said each insight as corrected, not the live attribution.
    assert await said_by() == expected


# Trackers chosen for the session, over phrases the Endgame dialogue really says.
TRACKERS = [{"name": "Hearing", "vocabulary": ["hear me", "heartily"]}, {"name": "Pain", "vocabulary": ["pain"]}]
EXPECTED_HITS = sorted((t["name"], phrase, index) for t in TRACKERS for phrase in t["vocabulary"]
                       for index, line in enumerate(ENDGAME) if phrase in line.text.lower())


async def stream_with_trackers(meeting, data_dir):
    async def emit(event):
        await apersist_event(meeting.pk, event)

    engine = SymblEngine(SessionInfo(meeting_id=meeting.pk, title=meeting.title, trackers=TRACKERS), emit)
    await engine.open()
    for chunk in iter_pcm(data_dir / "audio" / RECORDING, chunk_ms=100):
        await engine.send_audio(chunk)
    await engine.close()


async def logged_hits(meeting):
    """Every tracker hit in the event log as (tracker, phrase, line index), duplicates kept."""
    ids = [message_id for _, message_id, *_ in await finals(meeting)]
    return sorted((name, value, ids.index(message_id)) for _, payload in await logged(meeting, "tracker_response")
                  for name, value, message_id in events.tracker_hits(payload))


async def test_a_sessions_trackers_go_into_the_start_request_and_their_hits_into_the_event_log(symbl, alice, data_dir,
                                                                                              later):
    assert len({index for *_, index in EXPECTED_HITS}) >= 4  # the data really has hits
    meeting = await make_meeting(alice, source="microphone", engine="symbl", title="Endgame")
    await stream_with_trackers(meeting, data_dir)
    start = next(frame for kind, frame in symbl.stream_frames if kind == "text" and frame["type"] == "start_request")
    assert start["trackers"] == TRACKERS
    assert await logged_hits(meeting) == EXPECTED_HITS
    # The Conversation API's trackers-detected holds the same hits: reconciling adds none.
    for _ in range(2):
        assert (await reconcile(meeting.pk))["tracker_hits"] == 0
    assert await logged_hits(meeting) == EXPECTED_HITS


async def test_tracker_hits_the_live_stream_lost_are_added_by_reconciliation_once(symbl, alice, data_dir, later,
                                                                                 monkeypatch):
    from streaming.engines.symbl import engine as symbl_engine

    mapped = symbl_engine.to_events

    def losing_tracker_frames(frame, **kwargs):  # as if the runner died before storing them
        return [] if frame.get("type") == "tracker_response" else mapped(frame, **kwargs)

    monkeypatch.setattr(symbl_engine, "to_events", losing_tracker_frames)
    meeting = await make_meeting(alice, source="microphone", engine="symbl", title="Endgame")
    await stream_with_trackers(meeting, data_dir)
    assert await logged_hits(meeting) == []
    assert (await reconcile(meeting.pk))["tracker_hits"] == len(EXPECTED_HITS)
    assert (await reconcile(meeting.pk))["tracker_hits"] == 0
    assert await logged_hits(meeting) == EXPECTED_HITS
