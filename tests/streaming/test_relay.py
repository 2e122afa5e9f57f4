"""The browser relay: strangers are refused before accept; a reconnect resumes with no gap and no duplicate."""
import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import AnonymousUser

from config.asgi import router
from streaming import events
from streaming.consumers import MeetingRelayConsumer
from streaming.fanout import Fanout
from streaming.persist import LIVE_LAYER, apublish, persist_event

pytestmark = pytest.mark.django_db(transaction=True)

ANN = events.user_ref("ann", "Ann")
persist = database_sync_to_async(persist_event)


def communicator(meeting, user, query=""):
    """A communicator with ``user`` already authenticated, as AuthMiddlewareStack would give."""
    comm = WebsocketCommunicator(MeetingRelayConsumer.as_asgi(), f"/ws/meetings/{meeting.pk}/{query}")
    comm.scope["user"] = user
    comm.scope["url_route"] = {"kwargs": {"meeting_id": meeting.pk}}
    return comm


def said(n):
    return events.message_response(f"m-{n}", f"Sentence number {n}.", user=ANN, start_ms=n * 1000, end_ms=n * 1000 + 900)


async def test_anonymous_users_are_refused_before_accept(meeting):
    comm = communicator(meeting, AnonymousUser())
    connected, code = await comm.connect()
    assert not connected and code == 4403


async def test_a_user_who_may_not_see_the_meeting_is_refused(meeting, bob):
    connected, code = await communicator(meeting, bob).connect()
    assert not connected and code == 4403


async def test_the_whole_stack_refuses_a_socket_without_a_session(meeting):
    comm = WebsocketCommunicator(router, f"/ws/meetings/{meeting.pk}/", headers=[(b"origin", b"http://127.0.0.1")])
    connected, _ = await comm.connect()
    assert not connected


async def test_a_malformed_after_is_refused(meeting, alice):
    connected, code = await communicator(meeting, alice, "?after=soon").connect()
    assert not connected and code == 4400


async def test_an_admin_of_the_workspace_may_watch_a_members_meeting(meeting, charlie):
    comm = communicator(meeting, charlie)
    connected, _ = await comm.connect()
    assert connected
    assert (await comm.receive_json_from())["type"] == "snapshot"
    await comm.disconnect()


async def test_connect_sends_a_snapshot_at_its_sequence_then_live_events(meeting, alice):
    for n in (1, 2):
        await persist(meeting.pk, said(n))
    comm = communicator(meeting, alice)
    assert (await comm.connect())[0]
    snapshot = await comm.receive_json_from()
    assert snapshot["type"] == "snapshot" and snapshot["seq"] == 2
    assert [u["text"] for u in snapshot["meeting"]["utterances"]] == ["Sentence number 1.", "Sentence number 2."]
    assert await comm.receive_nothing(timeout=0.2)

    await persist(meeting.pk, said(3))
    live = await comm.receive_json_from()
    assert (live["type"], live["seq"]) == ("event", 3)
    assert live["event"]["messages"][0]["id"] == "m-3"
    await comm.disconnect()


async def test_reconnecting_after_a_sequence_replays_what_was_missed_exactly_once(meeting, alice):
    comm = communicator(meeting, alice)
    await comm.connect()
    await comm.receive_json_from()  # snapshot at 0
    for n in range(1, 4):
        await persist(meeting.pk, said(n))
    seen = [(await comm.receive_json_from())["seq"] for _ in range(3)]
    assert seen == [1, 2, 3]
    await comm.disconnect()

    # Events happen while the browser is away.
    for n in range(4, 9):
        await persist(meeting.pk, said(n))

    comm = communicator(meeting, alice, f"?after={seen[-1]}")
    await comm.connect()
    replayed = [await comm.receive_json_from() for _ in range(5)]
    assert [m["seq"] for m in replayed] == [4, 5, 6, 7, 8]
    assert [m["event"]["messages"][0]["id"] for m in replayed] == [f"m-{n}" for n in range(4, 9)]
    # Then live again, continuing the same numbering.
    await persist(meeting.pk, said(9))
    assert (await comm.receive_json_from())["seq"] == 9
    assert await comm.receive_nothing(timeout=0.2)
    await comm.disconnect()


async def test_a_live_event_raced_with_the_replay_is_not_sent_twice(meeting, alice):
    for n in range(1, 4):
        await persist(meeting.pk, said(n))
    comm = communicator(meeting, alice, "?after=0")
    await comm.connect()
    replayed = [(await comm.receive_json_from())["seq"] for _ in range(3)]
    # The group delivers copies of events the replay already sent, as happens when an event
    # commits between joining the group and reading the log.
    for seq in (2, 3):
        await apublish(meeting.pk, seq, said(seq))
    assert await comm.receive_nothing(timeout=0.2)
    assert replayed == [1, 2, 3]
    # ...and the next one does arrive, once.
    await persist(meeting.pk, said(4))
    assert (await comm.receive_json_from())["seq"] == 4
    assert await comm.receive_nothing(timeout=0.2)
    await comm.disconnect()


def members(layer, group):
    """The channels of this process in ``group`` (the in-process layer, or Redis pub/sub's)."""
    if hasattr(layer, "_get_group_channel_name"):
        return layer.groups.get(layer._get_group_channel_name(group), set())
    return layer.groups.get(group, {})


async def test_the_process_joins_a_meetings_group_once_for_all_its_sockets(meeting, alice, charlie):
    layer = get_channel_layer(LIVE_LAYER)
    comms = [communicator(meeting, user) for user in (alice, alice, charlie)]
    for comm in comms:
        assert (await comm.connect())[0]
        assert (await comm.receive_json_from())["type"] == "snapshot"
    fanout = Fanout.get(LIVE_LAYER)
    assert fanout.watching(meeting.group_name) == 3
    assert len(members(layer, meeting.group_name)) == 1  # one member: the process's fanout
    for n in (1, 2):
        await persist(meeting.pk, said(n))
    for comm in comms:
        assert [(await comm.receive_json_from())["seq"] for _ in range(2)] == [1, 2]
        assert await comm.receive_nothing(timeout=0.1)
    await comms[0].disconnect()
    await persist(meeting.pk, said(3))
    for comm in comms[1:]:
        assert (await comm.receive_json_from())["seq"] == 3
    for comm in comms[1:]:
        await comm.disconnect()
    # The last socket gone, the process left the group.
    assert fanout.watching(meeting.group_name) == 0 and not members(layer, meeting.group_name)


async def test_a_socket_that_fails_while_connecting_stops_watching(meeting, alice, monkeypatch):
    def broken(meeting_id):
        raise RuntimeError("the database went away")

    monkeypatch.setattr("streaming.consumers.snapshot", broken)
    comm = communicator(meeting, alice)
    with pytest.raises(RuntimeError):
        await comm.connect()
        await comm.receive_output()
    assert Fanout.get(LIVE_LAYER).watching(meeting.group_name) == 0


async def test_a_gap_in_live_delivery_is_filled_from_the_log(meeting, alice, monkeypatch):
    comm = communicator(meeting, alice)
    await comm.connect()
    await comm.receive_json_from()
    # Two events whose live messages are lost (the channel layer dropped them)...
    with monkeypatch.context() as patch:
        patch.setattr("streaming.persist.publish", lambda *args: None)
        await persist(meeting.pk, said(1))
        await persist(meeting.pk, said(2))
    assert await comm.receive_nothing(timeout=0.2)
    # ...then event 3 arrives live: 1 and 2 come from the log first, in order.
    await persist(meeting.pk, said(3))
    assert [(await comm.receive_json_from())["seq"] for _ in range(3)] == [1, 2, 3]
    await comm.disconnect()


async def test_snapshot_plus_events_equals_a_later_snapshot(meeting, alice):
    """Zulip's verify_action pattern: applying the events to a snapshot gives the next snapshot."""
    await persist(meeting.pk, events.session_status("live"))
    comm = communicator(meeting, alice)
    await comm.connect()
    state = (await comm.receive_json_from())["meeting"]
    utterances = {u["message_id"]: u["text"] for u in state["utterances"]}
    await persist(meeting.pk, events.recognition_result("sentence", is_final=False, user=ANN, time_offset_ms=1000))
    await persist(meeting.pk, said(1))
    await persist(meeting.pk, events.insight_response([events.insight("q1", "question", "Sentence number 1?", message_ids=["m-1"])]))
    status = state["status"]
    insights = {}
    for _ in range(3):
        event = (await comm.receive_json_from())["event"]
        kind = events.event_type(event)
        if kind == "message_response":
            for m in event["messages"]:
                utterances[m["id"]] = m["payload"]["content"]
        elif kind == "insight_response":
            insights.update({i["id"]: i["payload"]["content"] for i in event["insights"]})
    await comm.disconnect()

    again = communicator(meeting, alice)
    await again.connect()
    later = (await again.receive_json_from())["meeting"]
    await again.disconnect()
    assert {u["message_id"]: u["text"] for u in later["utterances"] if u["is_final"]} == utterances
    assert {i["id"]: i["text"] for i in later["insights"]} == insights
    assert later["status"] == status == "live"
