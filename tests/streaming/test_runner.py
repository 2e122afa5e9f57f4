"""Session runners on real recordings: uploads, the microphone, stop, failure and takeover."""
import asyncio
import re
import shutil

import pytest
from channels.db import database_sync_to_async

from meetings.models import Meeting, Utterance
from streaming import control
from streaming.audio import iter_pcm
from streaming.runners import RunnerPool, claim, renew, run_session

from tests.streaming.helpers import make_meeting

pytestmark = pytest.mark.django_db(transaction=True)


def words(text):
    return re.findall(r"[a-z']+", text.lower())


@database_sync_to_async
def reload(meeting):
    return Meeting.objects.get(pk=meeting.pk)


@database_sync_to_async
def finals(meeting):
    return list(Utterance.objects.filter(meeting=meeting).order_by("start_ms").values_list(
        "message_id", "start_ms", "end_ms", "text"))


@database_sync_to_async
def event_types(meeting):
    return list(meeting.events.order_by("seq").values_list("type", flat=True))


async def wait_for(predicate, timeout=60):
    deadline = asyncio.get_running_loop().time() + timeout
    while not await predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def run_claimed(meeting, runner="test-runner"):
    assert await database_sync_to_async(claim)(meeting.pk, runner)
    await run_session(meeting.pk, runner)


async def test_an_upload_runs_to_completed_with_transcript_insights_and_summary(alice, data_dir):
    meeting = await make_meeting(alice, recording=data_dir / "audio" / "beckett.flac")
    await run_claimed(meeting)
    meeting = await reload(meeting)
    assert meeting.status == "completed", meeting.failure_reason
    assert meeting.progress == 100
    text = " ".join(t for *_, t in await finals(meeting))
    reference = (data_dir / "references" / "beckett.txt").read_text()
    assert len(set(words(text)) & set(words(reference))) >= 6
    types = await event_types(meeting)
    assert types[:3] == ["session_status", "conversation_created", "recognition_started"]
    assert types.index("message_response") < types.index("summary_response") < types.index("conversation_completed")
    statuses = [e["status"] for e in await database_sync_to_async(
        lambda: list(meeting.events.filter(type="session_status").values_list("payload", flat=True)))()]
    assert statuses == ["connecting", "live", "processing", "completed"]
    summary = await database_sync_to_async(lambda: meeting.summary.text)()
    assert summary and set(words(summary)) <= set(words(text))


async def test_a_missing_recording_fails_the_session_with_the_reason(alice, data_dir, tmp_path):
    copy = tmp_path / "gone.flac"
    shutil.copy(data_dir / "audio" / "beckett.flac", copy)
    meeting = await make_meeting(alice, recording=copy)
    await database_sync_to_async(lambda: __import__("os").remove(meeting.recording.path))()
    await run_claimed(meeting)
    meeting = await reload(meeting)
    assert meeting.status == "failed"
    assert meeting.failure_reason.startswith("The recording could not be read")
    assert "does not exist" in meeting.failure_reason


async def test_an_engine_not_built_yet_fails_with_a_clear_reason(alice):
    # A meeting made by a newer Parley with an engine this one lacks.
    meeting = await make_meeting(alice, source="microphone", engine="whisperx")
    await run_claimed(meeting)
    meeting = await reload(meeting)
    assert meeting.status == "failed" and "'whisperx' engine is not part of this Parley" in meeting.failure_reason


async def test_stop_during_a_realtime_upload_flushes_and_completes(alice, data_dir):
    meeting = await make_meeting(alice, recording=data_dir / "audio" / "two_cities.flac", realtime=True)
    task = asyncio.create_task(run_claimed(meeting))
    await wait_for(lambda: finals_exist(meeting), timeout=30)
    await database_sync_to_async(Meeting.objects.filter(pk=meeting.pk).update)(stop_requested=True)
    await control.send_stop(meeting.pk)
    await asyncio.wait_for(task, timeout=30)
    meeting = await reload(meeting)
    assert meeting.status == "completed"
    assert 0 < meeting.progress < 100
    types = await event_types(meeting)
    assert "summary_response" in types


async def finals_exist(meeting):
    return bool(await finals(meeting))


async def test_the_microphone_keeps_what_was_said_when_its_socket_drops(alice, data_dir):
    meeting = await make_meeting(alice, source="microphone")
    task = asyncio.create_task(run_claimed(meeting))
    await wait_for(lambda: is_status(meeting, "live"))
    pcm = list(iter_pcm(data_dir / "audio" / "two_cities.flac", chunk_ms=100))
    # 3.5 s into the reading, mid-sentence, the browser's socket drops.
    for chunk in pcm[:35]:
        await control.send_audio(meeting.pk, chunk)
    await control.send_pause(meeting.pk)
    await wait_for(lambda: finals_exist(meeting), timeout=20)
    first = (await finals(meeting))[0][3]
    assert "it was the best of times" in " ".join(words(first))
    # The browser reconnects and the session goes on, then Stop.
    for chunk in pcm[35:80]:
        await control.send_audio(meeting.pk, chunk)
    await database_sync_to_async(Meeting.objects.filter(pk=meeting.pk).update)(stop_requested=True)
    await control.send_stop(meeting.pk)
    await asyncio.wait_for(task, timeout=30)
    meeting = await reload(meeting)
    assert meeting.status == "completed"
    utterances = await finals(meeting)
    assert len(utterances) >= 2
    speaker = await database_sync_to_async(lambda: Utterance.objects.filter(meeting=meeting).first().speaker.name)()
    assert speaker == "Alice"


async def is_status(meeting, status):
    return (await reload(meeting)).status == status


async def test_a_restarted_server_takes_over_a_live_upload_without_duplicates_or_gaps(alice, data_dir):
    meeting = await make_meeting(alice, recording=data_dir / "audio" / "two_cities.flac")
    # The first server's runner dies abruptly after its first utterances.
    crashed = asyncio.create_task(run_claimed(meeting, runner="embedded:old-host:1:dead"))
    await wait_for(lambda: count_finals(meeting, 2), timeout=30)
    crashed.cancel()
    await asyncio.gather(crashed, return_exceptions=True)
    before = await finals(meeting)
    assert (await reload(meeting)).status == "live"

    pool = RunnerPool(embedded=True, poll_seconds=0.1)
    serving = asyncio.create_task(pool.serve())
    try:
        await wait_for(lambda: is_status(meeting, "completed"), timeout=60)
    finally:
        serving.cancel()
        await asyncio.gather(serving, return_exceptions=True)

    after = await finals(meeting)
    assert after[: len(before)] == before
    ids = [u[0] for u in after]
    assert len(ids) == len(set(ids))
    for previous, current in zip(after, after[1:]):
        assert current[1] >= previous[2] - 50, f"utterances overlap: audio was transcribed twice: {before} {after}"
    reference = words((data_dir / "references" / "two_cities.txt").read_text())
    said = words(" ".join(u[3] for u in after))
    # Nothing lost at the takeover: the clip's last words are there, and roughly all of it.
    assert said[-3:] == reference[-3:]
    assert abs(len(said) - len(reference)) <= 0.1 * len(reference)


async def count_finals(meeting, n):
    return len(await finals(meeting)) >= n


async def test_a_cancelled_runner_stops_emitting_at_once(alice, data_dir):
    meeting = await make_meeting(alice, recording=data_dir / "audio" / "two_cities.flac")
    task = asyncio.create_task(run_claimed(meeting))
    await wait_for(lambda: count_finals(meeting, 1), timeout=30)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    last = (await reload(meeting)).last_seq
    await asyncio.sleep(2)  # decodes already queued would have landed by now
    assert (await reload(meeting)).last_seq == last


async def test_the_meetings_trackers_reach_the_engine(alice):
    from streaming.runners import _session_info

    trackers = [{"name": "Pricing", "vocabulary": ["price", "discount"]}]
    meeting = await make_meeting(alice, source="microphone", trackers=trackers)
    _, info = await database_sync_to_async(_session_info)(meeting.pk)
    assert info.trackers == trackers


async def test_one_heartbeat_renews_every_lease_a_runner_holds_and_reports_the_lost_ones(alice):
    kept, stopping, taken, ended = [await make_meeting(alice, source="microphone") for _ in range(4)]
    for meeting in (kept, stopping, taken, ended):
        assert await database_sync_to_async(claim)(meeting.pk, "runner-a")

    def change():
        Meeting.objects.filter(pk=stopping.pk).update(stop_requested=True)
        Meeting.objects.filter(pk=taken.pk).update(runner_id="runner-b")  # taken over meanwhile
        Meeting.objects.filter(pk=ended.pk).update(status="completed")
        Meeting.objects.filter(pk__in=[kept.pk, stopping.pk]).update(lease_expires_at=None)

    await database_sync_to_async(change)()
    held = await database_sync_to_async(renew)([m.pk for m in (kept, stopping, taken, ended)], "runner-a")
    assert held == {kept.pk: False, stopping.pk: True}
    leases = await database_sync_to_async(lambda: dict(Meeting.objects.filter(
        pk__in=[kept.pk, stopping.pk, taken.pk]).values_list("pk", "lease_expires_at")))()
    assert leases[kept.pk] and leases[stopping.pk]  # renewed
    assert (await reload(taken)).runner_id == "runner-b"
