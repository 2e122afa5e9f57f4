"""A Zoom meeting on the local engine: Parley registers its RTMP ingest with Zoom, Zoom pushes a real
recording to it, the transcript appears; Stop stops Zoom's live stream. Two meetings stream to the
one port at once, each hearing its own recording; a stream that drops and comes back goes on."""
import asyncio
import re

import pytest
from channels.db import database_sync_to_async

from meetings.models import Meeting, Utterance
from meetings.sessions import request_stop
from streaming.models import ZoomStream
from streaming.runners import claim, run_session
from streaming.zoom.rtmp import ensure_ingest
from streaming.zoom.sessions import start_zoom
from tests.streaming.zoom.conftest import MEETING, publish, zoom_account_for

pytestmark = pytest.mark.django_db(transaction=True)


def words(text):
    return set(re.findall(r"[a-z']+", text.lower()))


async def wait_for(predicate, timeout=60):
    deadline = asyncio.get_running_loop().time() + timeout
    while not await predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.1)


@database_sync_to_async
def transcript(meeting):
    return " ".join(Utterance.objects.filter(meeting=meeting).order_by("start_ms")
                    .values_list("text", flat=True))


async def run_claimed(meeting):
    assert await database_sync_to_async(claim)(meeting.pk, "test-runner")
    await run_session(meeting.pk, "test-runner")


async def test_zoom_pushes_a_real_recording_to_parley_and_the_transcript_appears(alice, workspace, zoom, ingest,
                                                                                 data_dir):
    await database_sync_to_async(zoom_account_for)(workspace, zoom)
    zoom.media, zoom.media_realtime = data_dir / "audio" / "beckett.flac", False
    stream = await database_sync_to_async(start_zoom)(alice, workspace, zoom_meeting_id="857 4606 5432",
                                                      engine="local", page_url=lambda m: f"https://parley.test/m/{m.pk}")
    meeting = await database_sync_to_async(lambda: stream.meeting)()
    assert stream.registered_with_zoom and stream.state == "registered"
    assert zoom.meetings[MEETING]["livestream"] == {
        "stream_url": f"rtmp://127.0.0.1:{ingest}/live", "stream_key": stream.stream_key,
        "page_url": f"https://parley.test/m/{meeting.pk}"}
    assert len(stream.stream_key) >= 32

    session = asyncio.create_task(run_claimed(meeting))
    reference = words((data_dir / "references" / "beckett.txt").read_text())

    async def heard_enough():
        if session.done():  # it failed before the transcript came: say why, rather than time out
            ended = await database_sync_to_async(Meeting.objects.get)(pk=meeting.pk)
            pytest.fail(f"the session ended early ({ended.status}): {ended.failure_reason}")
        return len(words(await transcript(meeting)) & reference) >= 6

    await wait_for(heard_enough)
    assert zoom.meetings[MEETING]["streaming"] is True
    await database_sync_to_async(request_stop)(meeting)
    await asyncio.wait_for(session, 60)

    meeting = await database_sync_to_async(Meeting.objects.get)(pk=meeting.pk)
    assert meeting.status == "completed", meeting.failure_reason
    stream = await database_sync_to_async(ZoomStream.objects.get)(pk=stream.pk)
    assert stream.state == "stopped" and stream.live_at is not None
    assert [c["action"] for c in zoom.meetings[MEETING]["status_calls"]] == ["start", "stop"]
    assert zoom.meetings[MEETING]["streaming"] is False


async def test_zoom_refusing_to_start_the_live_stream_fails_the_meeting_with_its_words(alice, workspace, zoom, ingest):
    await database_sync_to_async(zoom_account_for)(workspace, zoom)
    stream = await database_sync_to_async(start_zoom)(alice, workspace, zoom_meeting_id=MEETING, engine="local",
                                                      page_url=lambda m: "https://parley.test/")
    meeting = await database_sync_to_async(lambda: stream.meeting)()
    zoom.live_streaming = False  # turned off by the account's admin after the registration
    await run_claimed(meeting)
    meeting = await database_sync_to_async(Meeting.objects.get)(pk=meeting.pk)
    assert meeting.status == "failed"
    assert meeting.failure_reason == ("Zoom stream: Zoom live stream start failed: Zoom: Live streaming is not "
                                      "enabled for this account. (400, 3000)")
    stream = await database_sync_to_async(ZoomStream.objects.get)(pk=stream.pk)
    assert stream.state == "failed" and stream.failure == meeting.failure_reason


async def test_an_auto_start_stream_waits_for_zooms_meeting_started(alice, workspace, zoom, ingest, data_dir, caplog):
    from streaming.zoom.webhooks import meeting_started

    await database_sync_to_async(zoom_account_for)(workspace, zoom)
    zoom.media, zoom.media_realtime = data_dir / "audio" / "beckett.flac", False
    stream = await database_sync_to_async(start_zoom)(alice, workspace, zoom_meeting_id=MEETING, engine="local",
                                                      auto_start=True, page_url=lambda m: "https://parley.test/")
    meeting = await database_sync_to_async(lambda: stream.meeting)()
    session = asyncio.create_task(run_claimed(meeting))

    async def waiting():
        return f"meeting {meeting.pk} waits for Zoom meeting {MEETING} to start" in caplog.text

    await wait_for(waiting)
    # Waiting: Zoom has not been asked to stream.
    assert zoom.meetings[MEETING]["status_calls"] == []
    assert await database_sync_to_async(meeting_started)(workspace, MEETING) == 1

    async def heard():
        return bool(await transcript(meeting))

    await wait_for(heard)
    assert [c["action"] for c in zoom.meetings[MEETING]["status_calls"]] == ["start"]
    await database_sync_to_async(request_stop)(meeting)
    await asyncio.wait_for(session, 60)
    assert (await database_sync_to_async(Meeting.objects.get)(pk=meeting.pk)).status == "completed"


async def started_without_zoom(alice, workspace, zoom_meeting_id):
    """A local-engine Zoom session with no Zoom account (the user enters the URL and key in Zoom),
    run until its runner listens for audio; returns (meeting, stream, session task)."""
    stream = await database_sync_to_async(start_zoom)(alice, workspace, zoom_meeting_id=zoom_meeting_id,
                                                      engine="local", page_url=lambda m: "https://parley.test/")
    meeting = await database_sync_to_async(lambda: stream.meeting)()
    session = asyncio.create_task(run_claimed(meeting))

    async def listening():
        status = await database_sync_to_async(lambda: Meeting.objects.get(pk=meeting.pk).status)()
        return status != Meeting.Status.SCHEDULED

    await wait_for(listening)
    return meeting, stream, session


async def stop(meeting, session):
    await database_sync_to_async(request_stop)(meeting)
    await asyncio.wait_for(session, 60)
    meeting = await database_sync_to_async(Meeting.objects.get)(pk=meeting.pk)
    assert meeting.status == "completed", meeting.failure_reason


async def test_two_meetings_stream_to_one_port_at_once_and_each_hears_its_own(alice, workspace, ingest, data_dir):
    await ensure_ingest()  # the one the sessions' runner (this process) serves
    beckett = await started_without_zoom(alice, workspace, "85746065432")
    cities = await started_without_zoom(alice, workspace, "91234567890")
    audio, refs = data_dir / "audio", data_dir / "references"
    beckett_words = words((refs / "beckett.txt").read_text())
    cities_words = words((refs / "two_cities.txt").read_text())
    published = await asyncio.gather(publish(audio / "beckett.flac", ingest, beckett[1].stream_key),
                                     publish(audio / "two_cities.flac", ingest, cities[1].stream_key, seconds=12))
    assert [code for code, _ in published] == [0, 0]

    async def both_heard():
        return (len(words(await transcript(beckett[0])) & beckett_words) >= 6
                and len(words(await transcript(cities[0])) & cities_words) >= 6)

    await wait_for(both_heard, timeout=120)
    await stop(beckett[0], beckett[2])
    await stop(cities[0], cities[2])
    # Neither meeting heard the other's recording.
    assert not words(await transcript(beckett[0])) & (cities_words - beckett_words)
    assert not words(await transcript(cities[0])) & (beckett_words - cities_words)


async def test_a_stream_that_drops_and_comes_back_goes_on(alice, workspace, ingest, data_dir):
    await ensure_ingest()
    meeting, stream, session = await started_without_zoom(alice, workspace, MEETING)
    beckett = data_dir / "audio" / "beckett.flac"
    # "Ever tried. Ever failed. No matter." — then Zoom's connection drops.
    assert (await publish(beckett, ingest, stream.stream_key, seconds=4.5))[0] == 0

    async def heard_first_half():
        return len(words(await transcript(meeting)) & {"ever", "tried", "failed", "matter"}) >= 2

    await wait_for(heard_first_half)
    assert not session.done()
    assert (await database_sync_to_async(Meeting.objects.get)(pk=meeting.pk)).status == "live"
    assert "better" not in words(await transcript(meeting))
    # Zoom reconnects with the same key: "Try again. Fail again. Fail better."
    assert (await publish(beckett, ingest, stream.stream_key, start=4.5))[0] == 0

    async def heard_second_half():
        return "better" in words(await transcript(meeting))

    await wait_for(heard_second_half)
    await stop(meeting, session)
