"""A phone call through Twilio Media Streams, placed by the Twilio emulator the way Twilio places
one, into a session run by a real runner on the local engine."""
import asyncio
import re

import pytest
from channels.db import database_sync_to_async

from meetings.models import Utterance
from streaming.runners import claim, run_session
from telephony.models import TwilioCall

pytestmark = pytest.mark.django_db(transaction=True)


def words(text):
    return re.findall(r"[a-z']+", text.lower())


@database_sync_to_async
def meeting_of(call_sid):
    call = TwilioCall.objects.select_related("meeting").filter(call_sid=call_sid).first()
    return call.meeting if call else None


@database_sync_to_async
def finals(meeting):
    return list(Utterance.objects.filter(meeting=meeting).select_related("speaker")
                .order_by("start_ms").values_list("speaker__name", "start_ms", "text"))


@database_sync_to_async
def reload(model):
    return type(model).objects.get(pk=model.pk)


async def run_when_created(call_sid, runner="test-runner"):
    """A runner taking the call's meeting as soon as the webhook created it."""
    while (meeting := await meeting_of(call_sid)) is None:
        await asyncio.sleep(0.02)
    assert await database_sync_to_async(claim)(meeting.pk, runner)
    await run_session(meeting.pk, runner)
    return meeting


async def test_a_forked_call_is_transcribed_with_the_caller_and_the_other_party_as_two_speakers(
        twilio, parley, twilio_account, data_dir):
    sid = "CA" + "1" * 32
    runner = asyncio.create_task(run_when_created(sid))
    result = await twilio.place_call(
        f"{parley.url}/telephony/twilio/voice?forward=%2B14155550142", call_sid=sid, from_="+14155550123",
        to="+14155550100", inbound=data_dir / "audio" / "beckett.flac",
        outbound=(data_dir / "audio" / "two_cities.flac", 10_500), max_ms=9_000, speed=8)
    assert result.status == 200, result.twiml
    assert "<Start>" in result.twiml and 'track="both_tracks"' in result.twiml and "<Dial>+14155550142</Dial>" in result.twiml
    assert result.tracks == ["inbound", "outbound"] and result.stopped
    meeting = await asyncio.wait_for(runner, 120)
    meeting = await reload(meeting)
    assert meeting.status == "completed", meeting.failure_reason
    assert meeting.source == "twilio" and meeting.title == "Call from +14155550123"

    said = await finals(meeting)
    caller = " ".join(t for who, _, t in said if who == "+14155550123")
    other = " ".join(t for who, _, t in said if who == "+14155550142")
    assert {who for who, _, _ in said} == {"+14155550123", "+14155550142"}
    beckett = set(words((data_dir / "references" / "beckett.txt").read_text()))
    dickens = set(words((data_dir / "references" / "two_cities.txt").read_text()))
    assert len(set(words(caller)) & beckett) >= 6
    assert len(set(words(other)) & dickens) >= 6
    # The caller spoke first, then the other party: the two tracks share one clock.
    assert max(ms for who, ms, _ in said if who == "+14155550123") < min(ms for who, ms, _ in said if who == "+14155550142")
    # One session, one summary, one completion, though two recognizers ran.
    types = await database_sync_to_async(lambda: list(meeting.events.values_list("type", flat=True)))()
    assert types.count("summary_response") == 1
    call = await database_sync_to_async(TwilioCall.objects.get)(call_sid=sid)
    assert call.media_frames == sum(result.frames.values()) and call.bad_frames == 0
    assert call.stream_sid == result.stream_sid and call.tracks == ["inbound", "outbound"]


async def test_a_call_connected_to_parley_streams_the_caller_with_the_session_parameters(
        twilio, parley, twilio_account, data_dir):
    sid = "CA" + "2" * 32
    runner = asyncio.create_task(run_when_created(sid))
    result = await twilio.place_call(f"{parley.url}/telephony/twilio/voice", call_sid=sid, from_="+14155550123",
                                     inbound=data_dir / "audio" / "beckett.flac", speed=8, dtmf="42#",
                                     bad_payloads=(3, 40, 41))
    meeting = await asyncio.wait_for(runner, 120)
    assert "<Connect><Stream" in result.twiml
    assert result.stream_url == f"wss://127.0.0.1:{parley.port}/telephony/twilio/media?call={meeting.pk}"
    assert result.parameters == {"meeting": str(meeting.pk), "from": "+14155550123", "to": "+14155550199"}
    assert result.tracks == ["inbound"]
    meeting = await reload(meeting)
    assert meeting.status == "completed", meeting.failure_reason
    said = await finals(meeting)
    assert {who for who, _, _ in said} == {"+14155550123"}
    assert "try again" in " ".join(t for *_, t in said).lower()
    # Three frames could not be read: counted and skipped, the call went on to its end.
    call = await reload(await database_sync_to_async(TwilioCall.objects.get)(call_sid=sid))
    assert call.bad_frames == 3 and call.media_frames == result.frames["inbound"] - 3
    assert call.dtmf == "42#" and call.ended_at is not None
    digits = await database_sync_to_async(lambda: [e.payload["original"]["digit"] for e in meeting.events.filter(
        type="provider_event")])()
    assert digits == ["4", "2", "#"]


async def test_stopping_the_session_in_parley_hangs_up_and_keeps_the_last_words(
        twilio, parley, twilio_account, data_dir):
    from meetings.sessions import request_stop
    from tests.fakes.twilio import CallResult

    sid = "CA" + "3" * 32
    runner = asyncio.create_task(run_when_created(sid))
    # The caller says "Ever tried. Ever failed. No matter. Try again." and stays on the line.
    result = CallResult(call_sid=sid)
    call = asyncio.create_task(twilio.place_call(f"{parley.url}/telephony/twilio/voice", result=result,
                                                 inbound=data_dir / "audio" / "beckett.flac", max_ms=5_500,
                                                 speed=4, hold=True))
    await asyncio.wait_for(result.audio_sent.wait(), 60)
    # Stopped the moment the last words arrived, with no pause after them to end the utterance.
    meeting = await meeting_of(sid)
    await database_sync_to_async(request_stop)(meeting)
    await asyncio.wait_for(call, 60)
    meeting = await reload(await asyncio.wait_for(runner, 60))
    assert meeting.status == "completed", meeting.failure_reason
    assert not result.stopped and result.close_code == 1000  # Parley hung up: the <Connect> call ends
    text = " ".join(t for *_, t in await finals(meeting)).lower()
    assert "try again" in text


async def test_the_emulators_calls_api_places_a_call_to_the_url_it_is_given(twilio, parley, twilio_account, data_dir):
    import aiohttp

    twilio.speed = 8
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{twilio.url}/2010-04-01/Accounts/{twilio_account.config['account_sid']}/Calls.json",
                             headers={"Authorization": aiohttp.encode_basic_auth(
                                 twilio_account.config["account_sid"], "acme-twilio-auth-token")},
                             data={"To": "+14155550100", "From": "+14155550123",
                                   "Url": f"{parley.url}/telephony/twilio/voice"}) as response:
            assert response.status == 201
            created = await response.json()
    assert created["status"] == "queued" and created["sid"].startswith("CA")
    meeting = await asyncio.wait_for(run_when_created(created["sid"]), 60)
    [result] = await asyncio.gather(*twilio.calls)
    assert result.status == 200 and result.stopped
    meeting = await reload(meeting)
    assert meeting.status == "completed", meeting.failure_reason
    assert "try again" in " ".join(t for *_, t in await finals(meeting)).lower()
