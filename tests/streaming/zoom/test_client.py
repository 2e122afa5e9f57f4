"""The Zoom API client against the Zoom emulator: OAuth caching, live streams, recordings, errors in Zoom's words."""
import json
from pathlib import Path

import pytest

from streaming.zoom import client as zoom
from tests.fakes.zoom import ZoomFake

TIMELINE = Path(__file__).resolve().parents[2] / "data" / "zoom" / "timeline.json"
MEETING = "85746065432"


@pytest.fixture
async def fake():
    fake = await ZoomFake(meetings=[MEETING]).start()
    zoom._TOKENS.clear()
    yield fake
    await fake.stop()


def client_of(fake, **overrides):
    values = {"account_id": fake.account_id, "client_id": fake.client_id, "client_secret": fake.client_secret,
              **overrides}
    return zoom.ZoomClient.from_values(values, api_url=fake.api_url, oauth_url=fake.oauth_url)


def token_requests(fake):
    return [r for r in fake.requests if r[1] == "/oauth/token"]


async def test_a_token_is_issued_once_and_reused_until_it_expires(fake):
    async with client_of(fake) as api:
        await api.set_livestream(MEETING, stream_url="rtmp://parley.example/live", stream_key="k" * 40,
                                 page_url="https://parley.example/m/1")
        assert await api.get_livestream(MEETING) == {"stream_url": "rtmp://parley.example/live", "stream_key": "k" * 40,
                                                     "page_url": "https://parley.example/m/1"}
    async with client_of(fake) as again:
        await again.livestream_status(MEETING, "start")
    assert len(token_requests(fake)) == 1
    assert fake.meetings[MEETING]["streaming"] is True
    assert fake.meetings[MEETING]["status_calls"][0] == {
        "action": "start", "settings": {"active_speaker_name": False, "display_name": "Parley"}}


async def test_a_revoked_token_is_renewed_once(fake):
    async with client_of(fake) as api:
        await api.token()
        fake.tokens.clear()
        await api.set_livestream(MEETING, stream_url="rtmp://h/live", stream_key="key", page_url="https://h/")
    assert len(token_requests(fake)) == 2
    assert ("PATCH", f"/v2/meetings/{MEETING}/livestream", 401) in fake.requests


async def test_a_wrong_client_secret_is_said_in_zoom_words(fake):
    async with client_of(fake, client_secret="nope") as api:
        with pytest.raises(zoom.Unauthorized) as caught:
            await api.set_livestream(MEETING, stream_url="rtmp://h/live", stream_key="k", page_url="https://h/")
    assert caught.value.code == "invalid_client"
    assert str(caught.value) == "Zoom: Invalid client_id or client_secret (401, invalid_client)"


async def test_an_unknown_meeting_is_not_found(fake):
    async with client_of(fake) as api:
        with pytest.raises(zoom.NotFound) as caught:
            await api.livestream_status("111", "start")
    assert caught.value.code == 3001
    assert "Meeting does not exist: 111." in str(caught.value)


async def test_an_account_without_live_streaming_is_told_so(fake):
    fake.live_streaming = False
    async with client_of(fake) as api:
        with pytest.raises(zoom.LiveStreamNotEnabled) as caught:
            await api.set_livestream(MEETING, stream_url="rtmp://h/live", stream_key="k", page_url="https://h/")
    assert caught.value.code == 3000 and "not enabled" in caught.value.message


async def test_rate_limits_are_retried_then_reported(fake):
    limited = {"code": 429, "message": "You have reached the maximum per-second rate limit for this API. "
                                      "Try again later."}
    async with client_of(fake) as api:
        api.backoff_s = 0
        await api.token()
        fake.fail_next(429, limited, {"Retry-After": "0"})
        await api.set_livestream(MEETING, stream_url="rtmp://h/live", stream_key="k", page_url="https://h/")
        for _ in range(api.attempts):
            fake.fail_next(429, limited, {"Retry-After": "0"})
        with pytest.raises(zoom.RateLimited, match="maximum per-second rate limit"):
            await api.livestream_status(MEETING, "start")


async def test_validation_errors_name_the_field(fake):
    async with client_of(fake) as api:
        with pytest.raises(zoom.ZoomError, match="Validation Failed. stream_key: Invalid field."):
            await api.set_livestream(MEETING, stream_url="rtmp://h/live", stream_key="k" * 513, page_url="https://h/")


async def test_the_timeline_file_is_downloaded_with_the_download_access_token(fake):
    fake.add_recording(MEETING, json.loads(TIMELINE.read_text()), start_time="2026-11-21T10:00:00Z")
    async with client_of(fake) as api:
        data, recording_start = await api.timeline(MEETING)
    assert recording_start == "2026-11-21T10:00:00Z"
    assert len(data["timeline"]) == 380
    download = [r for r in fake.requests if r[1].startswith("/recording/download/")]
    assert download and download[0][2] == 200


async def test_a_meeting_without_a_recording_says_so(fake):
    async with client_of(fake) as api:
        with pytest.raises(zoom.NotFound, match="There is no recording for this meeting"):
            await api.timeline(MEETING)


def test_uuids_with_slashes_are_double_encoded():
    assert zoom.meeting_path("85746065432") == "85746065432"
    assert zoom.meeting_path("/ajXp112QmuoKj4854875==") == "%252FajXp112QmuoKj4854875%253D%253D"


def test_an_account_without_credentials_is_not_configured():
    with pytest.raises(zoom.NotConfigured, match="client_secret"):
        zoom.ZoomClient.from_values({"account_id": "a", "client_id": "c"})
