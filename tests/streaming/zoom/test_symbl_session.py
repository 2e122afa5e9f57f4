"""A Zoom meeting on the symbl engine: Symbl's managed stream registered with Zoom, started, subscribed,
Zoom's live stream started; both stopped at the end; a failing step undoes what had started; a runner
taking the session over resumes the managed stream Zoom pushes to, or makes a new one if Symbl lost it."""
import asyncio
import json
from datetime import timedelta
from pathlib import Path

import pytest
from channels.db import database_sync_to_async

from meetings.models import Meeting, Utterance
from meetings.sessions import request_stop
from streaming.models import SymblSession, ZoomStream
from streaming.runners import claim, release, run_session
from streaming.zoom.sessions import start_zoom
from streaming.zoom.speakers import apply_timeline
from tests.streaming.zoom.conftest import MEETING, zoom_account_for

pytestmark = pytest.mark.django_db(transaction=True)
TIMELINE = json.loads((Path(__file__).resolve().parents[2] / "data" / "zoom" / "timeline.json").read_text())


async def begin(alice, workspace, zoom):
    await database_sync_to_async(zoom_account_for)(workspace, zoom)
    stream = await database_sync_to_async(start_zoom)(alice, workspace, zoom_meeting_id=MEETING, engine="symbl",
                                                      page_url=lambda m: f"https://parley.test/m/{m.pk}")
    meeting = await database_sync_to_async(lambda: stream.meeting)()
    assert await database_sync_to_async(claim)(meeting.pk, "test-runner")
    return meeting, asyncio.create_task(run_session(meeting.pk, "test-runner"))


@database_sync_to_async
def finals(meeting):
    return list(Utterance.objects.filter(meeting=meeting).values_list("text", flat=True))


def symbl_calls(symbl):
    return [(m, p) for m, p, _ in symbl.requests if p.startswith("/v1/managed-stream") or p == "/v1/stream"
            or p.startswith("/v1/subscribe/")]


async def test_the_seed_sequence_runs_and_stop_stops_both_streams(alice, workspace, zoom, symbl, symbl_account):
    meeting, session = await begin(alice, workspace, zoom)
    deadline = asyncio.get_running_loop().time() + 30
    while not await finals(meeting):
        assert asyncio.get_running_loop().time() < deadline and not session.done(), "no transcript arrived"
        await asyncio.sleep(0.1)
    stream = await database_sync_to_async(ZoomStream.objects.get)(meeting=meeting)
    assert stream.state == "live" and stream.registered_with_zoom
    # Zoom was given Symbl's streamUrl split into the server URL and the streamId as key.
    assert zoom.meetings[MEETING]["livestream"] == {
        "stream_url": f"rtmps://127.0.0.1:{symbl.port}/live", "stream_key": stream.symbl_stream_id,
        "page_url": f"https://parley.test/m/{meeting.pk}"}
    assert stream.stream_key == stream.symbl_stream_id and zoom.meetings[MEETING]["streaming"] is True

    await database_sync_to_async(request_stop)(meeting)
    await asyncio.wait_for(session, 60)
    meeting = await database_sync_to_async(Meeting.objects.get)(pk=meeting.pk)
    assert meeting.status == "completed", meeting.failure_reason
    assert [c["action"] for c in zoom.meetings[MEETING]["status_calls"]] == ["start", "stop"]
    assert symbl.streams[stream.symbl_stream_id].stopped
    calls = symbl_calls(symbl)
    assert calls[0] == ("POST", "/v1/managed-stream") and calls[1] == ("POST", "/v1/stream")
    assert calls[2][1].startswith("/v1/subscribe/") and calls[3] == ("POST", "/v1/stream")
    state = await database_sync_to_async(SymblSession.objects.get)(meeting=meeting)
    assert state.conversation_id == symbl.streams[stream.symbl_stream_id].conversation.id
    stream = await database_sync_to_async(ZoomStream.objects.get)(meeting=meeting)
    assert stream.state == "stopped"

    # After the meeting, Zoom's recording TIMELINE goes to Symbl's Speakers API; the reconciled
    # conversation corrects who said what.
    # The recording began 2 s before the stream: Taylor's first turn (2.0 s) starts at the stream's 0.
    recorded = (stream.live_at - timedelta(seconds=2)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    zoom.add_recording(MEETING, TIMELINE, start_time=recorded)
    result = await database_sync_to_async(apply_timeline)(meeting.pk)
    assert result["speaker_events"] == 78 and result["corrected"] >= 1
    assert ("PUT", f"/v1/conversations/{state.conversation_id}/speakers", 200) in symbl.requests
    speakers = set(await database_sync_to_async(lambda: list(
        Utterance.objects.filter(meeting=meeting).values_list("speaker__name", flat=True)))())
    # The stream's first seconds: Taylor until 6.5 s, then Avery (the golden events, 2 s earlier).
    assert speakers <= {"Taylor Jennings", "Avery Chandler"} and "Taylor Jennings" in speakers


async def test_zoom_refusing_the_start_undoes_symbls_stream_and_says_where(alice, workspace, zoom, symbl,
                                                                           symbl_account):
    zoom.fail_next(400, {"code": 3000, "message": "Cannot start live streaming: the meeting has not started."},
                   path_suffix="/livestream/status")
    meeting, session = await begin(alice, workspace, zoom)
    await asyncio.wait_for(session, 30)
    meeting = await database_sync_to_async(Meeting.objects.get)(pk=meeting.pk)
    assert meeting.status == "failed"
    assert meeting.failure_reason == ("Zoom stream: Zoom live stream start failed: Zoom: Cannot start live "
                                      "streaming: the meeting has not started. (400, 3000)")
    stream = await database_sync_to_async(ZoomStream.objects.get)(meeting=meeting)
    assert stream.state == "failed" and stream.failure == meeting.failure_reason
    assert symbl.streams[stream.symbl_stream_id].stopped  # undone
    assert [m for m, p in symbl_calls(symbl) if p == "/v1/stream"] == ["POST", "POST"]


async def test_an_unknown_zoom_meeting_fails_at_the_registration_before_symbl_starts(alice, workspace, zoom, symbl,
                                                                                     symbl_account):
    del zoom.meetings[MEETING]
    meeting, session = await begin(alice, workspace, zoom)
    await asyncio.wait_for(session, 30)
    meeting = await database_sync_to_async(Meeting.objects.get)(pk=meeting.pk)
    assert meeting.failure_reason == ("Zoom stream: Zoom live stream registration failed: Zoom: Meeting does not "
                                      f"exist: {MEETING}. (404, 3001)")
    assert [p for m, p in symbl_calls(symbl)] == ["/v1/managed-stream"]


async def test_symbl_refusing_the_managed_stream_names_that_step(alice, workspace, zoom, symbl, symbl_account):
    symbl.app_secret = "rotated"
    symbl.tokens.clear()
    meeting, session = await begin(alice, workspace, zoom)
    await asyncio.wait_for(session, 30)
    meeting = await database_sync_to_async(Meeting.objects.get)(pk=meeting.pk)
    assert meeting.status == "failed"
    assert meeting.failure_reason.startswith("Zoom stream: Symbl managed stream creation failed: ")
    assert zoom.meetings[MEETING]["livestream"] is None


async def taken_over(meeting, session):
    """The first runner loses the session (its lease; cancelled mid-stream, Zoom still pushing to
    Symbl); a second runner claims and runs it."""
    session.cancel()
    await asyncio.gather(session, return_exceptions=True)
    await database_sync_to_async(release)(meeting.pk, "test-runner")
    assert await database_sync_to_async(claim)(meeting.pk, "second-runner")
    return asyncio.create_task(run_session(meeting.pk, "second-runner"))


async def transcript_grows(meeting, session, beyond=0):
    deadline = asyncio.get_running_loop().time() + 30
    while len(await finals(meeting)) <= beyond:
        assert asyncio.get_running_loop().time() < deadline and not session.done(), "no transcript arrived"
        await asyncio.sleep(0.1)
    return len(await finals(meeting))


async def stop_and_complete(meeting, session):
    await database_sync_to_async(request_stop)(meeting)
    await asyncio.wait_for(session, 60)
    meeting = await database_sync_to_async(Meeting.objects.get)(pk=meeting.pk)
    assert meeting.status == "completed", meeting.failure_reason


async def test_a_runner_taking_over_resumes_the_managed_stream_zoom_pushes_to(alice, workspace, zoom, symbl,
                                                                              symbl_account):
    meeting, session = await begin(alice, workspace, zoom)
    heard = await transcript_grows(meeting, session)
    first = await database_sync_to_async(ZoomStream.objects.get)(meeting=meeting)
    session = await taken_over(meeting, session)
    await transcript_grows(meeting, session, beyond=heard)
    await stop_and_complete(meeting, session)
    stream = await database_sync_to_async(ZoomStream.objects.get)(meeting=meeting)
    # One managed stream for the whole meeting, registered with Zoom once; started by both runners.
    assert [p for m, p in symbl_calls(symbl) if p == "/v1/managed-stream"] == ["/v1/managed-stream"]
    assert (stream.symbl_stream_id, stream.stream_key, stream.live_at) == (
        first.symbl_stream_id, first.stream_key, first.live_at)
    assert zoom.meetings[MEETING]["livestream"]["stream_key"] == first.symbl_stream_id
    assert list(symbl.streams) == [first.symbl_stream_id] and symbl.streams[first.symbl_stream_id].stopped
    state = await database_sync_to_async(SymblSession.objects.get)(meeting=meeting)
    assert state.conversation_id == symbl.streams[first.symbl_stream_id].conversation.id


async def test_a_runner_taking_over_makes_a_new_managed_stream_when_symbl_lost_it(alice, workspace, zoom, symbl,
                                                                                  symbl_account):
    meeting, session = await begin(alice, workspace, zoom)
    heard = await transcript_grows(meeting, session)
    first = await database_sync_to_async(ZoomStream.objects.get)(meeting=meeting)
    del symbl.streams[first.symbl_stream_id]  # Symbl expired it while no runner held the session
    session = await taken_over(meeting, session)
    await transcript_grows(meeting, session, beyond=heard)
    await stop_and_complete(meeting, session)
    stream = await database_sync_to_async(ZoomStream.objects.get)(meeting=meeting)
    assert [p for m, p in symbl_calls(symbl) if p == "/v1/managed-stream"] == ["/v1/managed-stream"] * 2
    assert stream.symbl_stream_id != first.symbl_stream_id and list(symbl.streams) == [stream.symbl_stream_id]
    # Zoom now pushes to the new stream.
    assert zoom.meetings[MEETING]["livestream"]["stream_key"] == stream.symbl_stream_id == stream.stream_key
