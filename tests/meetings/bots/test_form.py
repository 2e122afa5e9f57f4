"""The bot form: meeting links recognised, the vendor's limits enforced, bad input sends nothing."""
from datetime import timedelta

import pytest
from django.utils import timezone

from meetings.bots.forms import BotForm, recognise
from meetings.models import Bot, Meeting

pytestmark = pytest.mark.django_db

VALID = {"meeting_url": "https://meet.google.com/abc-defg-hij", "bot_name": "Notetaker",
         "transcription": "deepgram_streaming", "live_transcription": "on", "audio_required": "on"}


@pytest.mark.parametrize("url, platform", [
    ("https://zoom.us/j/85122334455?pwd=aGVsbG8", Bot.Platform.ZOOM),
    ("https://acme.zoom.us/j/85122334455", Bot.Platform.ZOOM),
    ("https://meet.google.com/abc-defg-hij", Bot.Platform.GOOGLE_MEET),
    ("https://teams.microsoft.com/l/meetup-join/19%3ameeting_NzQ5%40thread.v2/0?context=%7b%7d", Bot.Platform.TEAMS),
    ("https://teams.live.com/meet/9316829876813", Bot.Platform.TEAMS),
])
def test_it_recognises_meeting_links(url, platform):
    assert recognise(url) == platform


@pytest.mark.parametrize("url", [
    "https://example.com/j/123", "http://zoom.us/j/85122334455", "https://meet.google.com/landing",
    "https://evilzoom.us.example.com/j/1", "https://teams.microsoft.com/", "not a url",
])
def test_it_refuses_what_is_not_a_meeting_link(url):
    form = BotForm({**VALID, "meeting_url": url})
    assert not form.is_valid()
    assert "not a meeting link" in form.errors["meeting_url"][0]


def test_a_join_time_in_the_past_is_refused():
    past = timezone.now() - timedelta(minutes=5)
    form = BotForm({**VALID, "join_at": past.strftime("%Y-%m-%dT%H:%M")})
    assert not form.is_valid()
    assert form.errors["join_at"] == ["The join time is in the past."]


@pytest.mark.parametrize("field, value, message", [
    ("recording_permission_denied_timeout", 30, "greater than or equal to 60"),
    ("recording_permission_denied_timeout", 301, "less than or equal to 300"),
    ("in_call_recording_timeout", 599, "greater than or equal to 600"),
    ("waiting_room_timeout", 0, "greater than or equal to 1"),
])
def test_timeouts_outside_the_vendors_limits_are_refused(field, value, message):
    form = BotForm({**VALID, field: value})
    assert not form.is_valid()
    assert message in form.errors[field][0]


def test_empty_timeouts_take_the_vendors_defaults_which_the_form_shows():
    form = BotForm(VALID)
    assert form.is_valid(), form.errors
    assert {k: form.cleaned_data[k] for k in Bot.TIMEOUT_DEFAULTS} == Bot.TIMEOUT_DEFAULTS
    assert "Default 14400." in form.fields["in_call_recording_timeout"].help_text
    assert form.fields["waiting_room_timeout"].initial == 600


def test_live_transcription_needs_a_streaming_provider():
    form = BotForm({**VALID, "transcription": "deepgram"})
    assert not form.is_valid()
    assert "streaming provider" in form.errors["transcription"][0]
    assert BotForm({**VALID, "transcription": "deepgram", "live_transcription": ""}).is_valid()


def test_parleys_engine_takes_the_bots_live_audio():
    form = BotForm({**VALID, "transcription": "parley"})
    assert form.is_valid(), form.errors
    assert form.cleaned_data["live_audio"] is True and form.cleaned_data["live_transcription"] is False


def test_the_bot_image_must_be_an_https_image():
    form = BotForm({**VALID, "image_url": "https://cdn.example.com/bot.svg"})
    assert not form.is_valid() and "jpg" in form.errors["image_url"][0]
    assert BotForm({**VALID, "image_url": "https://cdn.example.com/bot.png"}).is_valid()


def test_bad_input_on_the_page_sends_nothing_to_the_vendor(client, alice, meetstream_account, meetstream):
    client.force_login(alice)
    response = client.post("/bots/new/", {**VALID, "meeting_url": "https://example.com/meeting/42",
                                          "in_call_recording_timeout": "100"})
    assert response.status_code == 400
    assert b"not a meeting link" in response.content
    assert b"greater than or equal to 600" in response.content
    assert meetstream.requests == []
    assert not Meeting.objects.filter(source="bot").exists()


def test_a_reviewer_cannot_send_a_bot(client, dana, meetstream_account, meetstream):
    client.force_login(dana)
    assert client.post("/bots/new/", VALID).status_code == 403
    assert meetstream.requests == []
