"""What Parley refuses of a Twilio call: an account no workspace has, a bad signature on the
webhook or on the media socket's upgrade, a misconfigured forwarding number."""
import asyncio
import logging

import pytest
from channels.db import database_sync_to_async

from meetings.models import Meeting
from telephony.models import TwilioCall
from telephony.twilio_hooks import verify
from tests.fakes.twilio import TwilioFake

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_signature_check_is_twilios_own_scheme():
    # The vector of shared/api-contracts.md §10, computed with Twilio's published algorithm.
    params = {"CallSid": "CA1234567890ABCDE", "Caller": "+12349013030", "Digits": "1234", "From": "+12349013030",
              "To": "+18005551212"}
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    assert verify("12345", url, params, "0/KCTR6DLpKmkAf8muzZqo1nDgQ=")
    assert not verify("12345", url, {**params, "Digits": "1235"}, "0/KCTR6DLpKmkAf8muzZqo1nDgQ=")
    assert not verify("12345", url, params, "")


async def test_a_call_for_an_account_no_workspace_has_hears_why_and_is_hung_up(parley, twilio_account, data_dir):
    stranger = TwilioFake(account_sid="AC" + "f" * 32, auth_token="someone-elses-token")
    await stranger.start()
    try:
        result = await stranger.place_call(f"{parley.url}/telephony/twilio/voice")
    finally:
        await stranger.stop()
    assert result.status == 200
    assert result.said == ["This Twilio account is not connected to any Parley workspace. Goodbye."]
    assert "<Hangup />" in result.twiml and not result.stream_url
    assert not await database_sync_to_async(Meeting.objects.exists)()


async def test_a_workspace_whose_account_has_no_auth_token_refuses_the_call(parley, twilio_account, twilio):
    await database_sync_to_async(lambda: (twilio_account.set_secrets({}), twilio_account.save()))()
    result = await twilio.place_call(f"{parley.url}/telephony/twilio/voice")
    assert result.said == ["The Parley workspace for this Twilio account has no auth token set. Goodbye."]


async def test_a_webhook_with_a_bad_signature_is_refused_and_logged(parley, twilio_account, twilio, caplog):
    with caplog.at_level(logging.WARNING, logger="telephony.twilio.views"):
        result = await twilio.place_call(f"{parley.url}/telephony/twilio/voice", signature="bm90IHRoZSBzaWduYXR1cmU=")
    assert result.status == 403
    assert "X-Twilio-Signature does not match" in caplog.text
    assert not await database_sync_to_async(Meeting.objects.exists)()


async def test_a_media_socket_with_a_bad_signature_is_refused_and_logged(parley, twilio_account, twilio, caplog):
    with caplog.at_level(logging.WARNING, logger="telephony.twilio.consumers"):
        result = await twilio.place_call(f"{parley.url}/telephony/twilio/voice", stream_signature="Zm9yZ2Vk")
    assert result.status == 200 and result.stream_url
    assert result.handshake_status == 403
    assert "Refused a Twilio media stream" in caplog.text and "does not match" in caplog.text
    call = await database_sync_to_async(TwilioCall.objects.get)()
    assert call.connected_at is None and call.media_frames == 0


async def test_a_media_socket_for_no_call_is_refused(parley, twilio_account, twilio):
    import aiohttp

    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(f"ws://127.0.0.1:{parley.port}/telephony/twilio/media?call=999")
    assert refused.value.status == 403


async def test_a_misconfigured_forwarding_number_is_said_not_dialed(parley, twilio_account, twilio):
    result = await twilio.place_call(f"{parley.url}/telephony/twilio/voice?forward=not-a-number")
    assert result.said == ["This number is misconfigured in Parley: its forwarding number is not valid. Goodbye."]
    assert "<Dial>" not in result.twiml


def test_a_post_that_is_no_call_at_all_is_refused(client, twilio_account):
    response = client.post("/telephony/twilio/voice", {"CallSid": "CA" + "9" * 32})
    assert response.status_code == 403 and response.content == b"Not a Twilio call: AccountSid is missing."
    assert not Meeting.objects.exists()


async def test_a_call_whose_media_stream_never_comes_fails_with_the_reason(parley, twilio_account, twilio, monkeypatch):
    from telephony.twilio.source import TwilioSource
    from tests.telephony.test_twilio_call import reload, run_when_created

    monkeypatch.setattr(TwilioSource, "connect_timeout_s", 0.5)
    sid = "CA" + "7" * 32
    runner = asyncio.create_task(run_when_created(sid))
    result = await twilio.place_call(f"{parley.url}/telephony/twilio/voice", call_sid=sid, stream_signature="Zm9yZ2Vk")
    assert result.handshake_status == 403
    meeting = await reload(await asyncio.wait_for(runner, 30))
    assert meeting.status == "failed"
    assert meeting.failure_reason == "Twilio did not open the call's media stream within 0.5 s."
