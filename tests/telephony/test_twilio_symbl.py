"""A Twilio call on the symbl engine: Twilio's mu-law goes to the Symbl emulator's Streaming API
untouched (``MULAW`` at 8,000 Hz), one connection per track, each with its party as speaker."""
import asyncio

import pytest
from channels.db import database_sync_to_async

from meetings.models import Workspace
from tests.streaming.symbl_fixtures import symbl, symbl_account  # noqa: F401 (fixtures)
from tests.telephony.test_twilio_call import finals, reload, run_when_created

pytestmark = pytest.mark.django_db(transaction=True)


async def test_a_call_on_the_symbl_engine_streams_mulaw_8khz_with_the_caller_as_speaker(
        twilio, parley, twilio_account, symbl, symbl_account, data_dir):
    await database_sync_to_async(Workspace.objects.filter(pk=twilio_account.workspace_id).update)(default_engine="symbl")
    sid = "CA" + "5" * 32
    runner = asyncio.create_task(run_when_created(sid))
    result = await twilio.place_call(f"{parley.url}/telephony/twilio/voice", call_sid=sid, from_="+14155550123",
                                     inbound=data_dir / "audio" / "beckett.flac", speed=0)
    assert result.stopped
    meeting = await reload(await asyncio.wait_for(runner, 60))
    assert meeting.engine == "symbl" and meeting.status == "completed", meeting.failure_reason
    [connection] = symbl.connections.values()
    recognition = connection.start["config"]["speechRecognition"]
    assert recognition == {"encoding": "MULAW", "sampleRateHertz": 8000}
    assert connection.start["speaker"] == {"userId": "caller", "name": "+14155550123"}
    # Every byte Twilio sent reached Symbl, as mu-law (one byte a sample).
    assert connection.received_bytes == result.frames["inbound"] * 160
    said = await finals(meeting)
    assert said, "Symbl's finals are in the transcript"


async def test_a_forked_call_on_the_symbl_engine_has_one_connection_per_track_each_with_its_party(
        twilio, parley, twilio_account, symbl, symbl_account, data_dir):
    await database_sync_to_async(Workspace.objects.filter(pk=twilio_account.workspace_id).update)(default_engine="symbl")
    sid = "CA" + "6" * 32
    runner = asyncio.create_task(run_when_created(sid))
    result = await twilio.place_call(f"{parley.url}/telephony/twilio/voice?forward=%2B14155550142", call_sid=sid,
                                     from_="+14155550123", inbound=data_dir / "audio" / "beckett.flac",
                                     outbound=data_dir / "audio" / "endgame_nagg_nell.flac", max_ms=10_000, speed=0)
    assert result.tracks == ["inbound", "outbound"]
    meeting = await reload(await asyncio.wait_for(runner, 60))
    assert meeting.status == "completed", meeting.failure_reason
    speakers = {c.start["speaker"]["name"]: c for c in symbl.connections.values()}
    assert set(speakers) == {"+14155550123", "+14155550142"}
    for connection in speakers.values():
        assert connection.start["config"]["speechRecognition"] == {"encoding": "MULAW", "sampleRateHertz": 8000}
        assert connection.received_bytes == 10_000 * 8  # each track's own audio, untouched
    said = await finals(meeting)
    assert {who for who, _, _ in said} == {"+14155550123", "+14155550142"}
    # One session: one completion, though two Symbl conversations ran.
    types = await database_sync_to_async(lambda: list(meeting.events.values_list("type", flat=True)))()
    assert types.count("conversation_completed") == 1
