"""Provider callbacks refuse a missing, wrong, tampered, stale or rotated-out signature, and a request
signed for one workspace is never taken by another; no secret or signature reaches the logs.

The endpoints: ``POST /streaming/zoom/webhook`` (workspace from ``payload.account_id``),
``POST /telephony/twilio/voice`` (workspace from ``AccountSid``) and ``POST /bots/<token>/…`` (the
bot's callback token). Each endpoint's own behaviour (events, lifecycle, TwiML) and the cases they
test already (Zoom: another secret, a stale timestamp, a changed body, an unknown account; Twilio: an
unknown AccountSid, no auth token; MeetStream: an unknown token, not JSON, another bot) are in
tests/streaming/zoom/test_webhooks.py, tests/telephony/ and tests/meetings/bots/test_callbacks.py.
"""
import hashlib
import hmac
import json
import logging
import time
from urllib.parse import urlencode

import pytest
from django.urls import reverse

from meetings import bot_hooks
from meetings.models import Bot, BotEvent, Meeting, Membership
from streaming.zoom import webhooks as zoom
from telephony import twilio_hooks
from telephony.models import TwilioCall
from tests.conftest import new_meeting

from .credentials import CONFIG, SECRETS, configure, meetstream_signature, twilio_signature, zoom_signature

pytestmark = pytest.mark.django_db

ZOOM_SECRET = SECRETS["zoom"]["webhook_secret_token"]
TWILIO_TOKEN = SECRETS["twilio"]["auth_token"]
MEETSTREAM_SECRET = SECRETS["meetstream"]["webhook_secret"]
GLOBEX = {"zoom": "globex-ZOOM-TOKEN-77aa", "twilio": "globex-AUTH-TOKEN-88bb", "meetstream": "globex-SIGNING-99cc"}

# Twilio's documented example (api-contracts §10, https://www.twilio.com/docs/usage/webhooks/webhooks-security).
TWILIO_VECTOR_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
TWILIO_VECTOR_PARAMS = {"CallSid": "CA1234567890ABCDE", "Caller": "+12349013030", "Digits": "1234",
                        "From": "+12349013030", "To": "+18005551212"}
TWILIO_VECTOR_SIGNATURE = "0/KCTR6DLpKmkAf8muzZqo1nDgQ="


@pytest.fixture
def zoom_account(workspace):
    return configure(workspace, "zoom")


@pytest.fixture
def twilio_account(workspace, charlie):  # charlie, Acme's admin, owns the calls
    return configure(workspace, "twilio")


@pytest.fixture
def meetstream_account(workspace):
    return configure(workspace, "meetstream")


@pytest.fixture
def globex(other_workspace, bob):
    """Globex's accounts: their own Zoom account id, Twilio AccountSid and secrets; bob is its admin."""
    Membership.objects.filter(user=bob, workspace=other_workspace).update(role=Membership.Role.ADMIN)
    configure(other_workspace, "zoom", {"webhook_secret_token": GLOBEX["zoom"]}, account_id="globex-zoom-account")
    configure(other_workspace, "twilio", {"auth_token": GLOBEX["twilio"]}, account_sid="AC" + "9" * 32)
    configure(other_workspace, "meetstream", {"api_key": "k", "webhook_secret": GLOBEX["meetstream"]})
    return other_workspace


def assert_no_secret_in(caplog, *values):
    for value in values:
        assert value not in caplog.text


# --- Zoom: POST /streaming/zoom/webhook --------------------------------------------------------

ZOOM_URL = reverse("streaming:zoom_webhook")
STARTED = {"event": "meeting.started", "event_ts": 1635885799302,
           "payload": {"account_id": CONFIG["zoom"]["account_id"],
                       "object": {"id": "85746065432", "uuid": "4444AAAiAAAAAiAiAiiAii==", "topic": "Standup", "type": 2}}}


def post_zoom(client, payload=STARTED, *, secret=ZOOM_SECRET, timestamp=None, offset=0, signature=None, body=None):
    """POST ``payload`` signed with ``secret`` at ``timestamp`` (now + ``offset`` seconds by default)."""
    body = json.dumps(payload).encode() if body is None else body
    timestamp = int(time.time()) + offset if timestamp is None else timestamp
    headers = {"x-zm-request-timestamp": str(timestamp),
               "x-zm-signature": zoom_signature(secret, timestamp, body) if signature is None else signature}
    headers = {k: v for k, v in headers.items() if v != ""}
    return client.post(ZOOM_URL, body, content_type="application/json", headers=headers)


def test_a_signed_zoom_event_is_taken_and_logged_without_its_secret_or_signature(client, zoom_account, caplog):
    caplog.set_level(logging.DEBUG)
    timestamp = int(time.time())
    response = post_zoom(client, timestamp=timestamp)
    assert response.status_code == 200 and response.json() == {"sessions": 0}
    assert "meeting.started" in caplog.text
    signature = zoom_signature(ZOOM_SECRET, timestamp, json.dumps(STARTED).encode())
    assert_no_secret_in(caplog, ZOOM_SECRET, signature, signature[3:])


@pytest.mark.parametrize("tamper", [
    {"signature": ""}, {"signature": "v0=" + "0" * 64}, {"signature": "v0=garbage"},
    {"timestamp": ""}, {"offset": zoom.MAX_AGE_SECONDS + 5}, {"timestamp": "soon"},
], ids=["missing", "zeros", "garbage", "no-timestamp", "future", "not-a-number"])
def test_zoom_refuses_a_missing_wrong_or_untimely_signature(client, zoom_account, tamper, caplog):
    response = post_zoom(client, **tamper)
    assert response.status_code == 401 and "Invalid signature" in response.json()["error"]
    assert_no_secret_in(caplog, ZOOM_SECRET)


def test_zoom_refuses_a_signature_made_with_a_rotated_out_secret(client, workspace, zoom_account):
    configure(workspace, "zoom", {"webhook_secret_token": "the-new-webhook-token"}, **CONFIG["zoom"])
    assert post_zoom(client, secret=ZOOM_SECRET).status_code == 401
    assert post_zoom(client, secret="the-new-webhook-token").status_code == 200


def test_zoom_verifier_accepts_within_the_window_and_refuses_outside():
    body, sent = b'{"event":"x"}', 1_700_000_000
    headers = {"x-zm-request-timestamp": str(sent), "x-zm-signature": zoom_signature("s", sent, body)}
    zoom.verify("s", headers, body, now=sent + zoom.MAX_AGE_SECONDS)
    with pytest.raises(zoom.SignatureError, match="stale"):
        zoom.verify("s", headers, body, now=sent + zoom.MAX_AGE_SECONDS + 1)


def test_zoom_url_validation_is_answered_with_the_secret_that_signed_it(client, zoom_account, globex):
    # The challenge names no account: every workspace's secret is tried, and the one that verifies answers.
    payload = {"event": "endpoint.url_validation", "payload": {"plainToken": "plain"}, "event_ts": 1654503849680}
    response = post_zoom(client, payload, secret=GLOBEX["zoom"])
    assert response.status_code == 200
    assert response.json()["encryptedToken"] == hmac.new(GLOBEX["zoom"].encode(), b"plain", hashlib.sha256).hexdigest()
    assert post_zoom(client, payload, secret="nobody's-token").status_code == 401


@pytest.mark.parametrize("body", [b"not json", json.dumps(["endpoint.url_validation"]).encode(),
                                  json.dumps({"payload": {"plainToken": "plain"}}).encode(),
                                  json.dumps({"event": "endpoint.url_validation", "payload": ["plain"]}).encode(),
                                  json.dumps({"event": "endpoint.url_validation", "payload": {}}).encode()],
                         ids=["not-json", "not-an-object", "no-event", "list", "no-token"])
def test_a_signed_but_malformed_zoom_request_is_a_bad_request(client, zoom_account, body):
    response = post_zoom(client, None, body=body)
    assert response.status_code == 400 and "error" in response.json()


def test_zoom_callbacks_accept_only_post(client, zoom_account):
    assert client.get(ZOOM_URL).status_code == 405


# --- Twilio: POST /telephony/twilio/voice ------------------------------------------------------

VOICE_PATH = reverse("telephony:twilio-voice")
CALL = {"CallSid": "CA" + "1" * 32, "AccountSid": CONFIG["twilio"]["account_sid"], "From": "+14155550100",
        "To": "+14155550199", "CallStatus": "ringing", "Direction": "inbound"}


def post_twilio(client, params=CALL, *, path=VOICE_PATH, token=TWILIO_TOKEN, signed_url=None, signature=None, **extra):
    url = signed_url or "http://testserver" + path
    headers = {} if signature == "" else {"X-Twilio-Signature": signature or twilio_signature(token, url, params)}
    return client.post(path, urlencode(params), content_type="application/x-www-form-urlencoded", headers=headers, **extra)


def taken(response):
    """Whether the voice webhook took the call: TwiML streaming it, and its session created."""
    return response.status_code == 200 and b"<Stream" in response.content and TwilioCall.objects.exists()


def test_the_twilio_signer_follows_the_documented_vector():
    assert twilio_signature("12345", TWILIO_VECTOR_URL, TWILIO_VECTOR_PARAMS) == TWILIO_VECTOR_SIGNATURE
    assert not twilio_hooks.verify("54321", TWILIO_VECTOR_URL, TWILIO_VECTOR_PARAMS, TWILIO_VECTOR_SIGNATURE)


def test_a_signed_call_is_taken_and_logged_without_its_secret_or_signature(client, twilio_account, caplog):
    caplog.set_level(logging.DEBUG)
    assert taken(post_twilio(client))
    assert CALL["CallSid"] in caplog.text
    assert_no_secret_in(caplog, TWILIO_TOKEN, twilio_signature(TWILIO_TOKEN, "http://testserver" + VOICE_PATH, CALL))


@pytest.mark.parametrize("signature", ["", "AAAAAAAAAAAAAAAAAAAAAAAAAAA=", TWILIO_VECTOR_SIGNATURE],
                         ids=["missing", "wrong", "vector"])
def test_twilio_refuses_a_missing_or_wrong_signature(client, twilio_account, signature, caplog):
    response = post_twilio(client, signature=signature)
    assert response.status_code == 403 and not Meeting.objects.exists()
    assert_no_secret_in(caplog, TWILIO_TOKEN)
    if signature:
        assert signature not in caplog.text


def test_twilio_refuses_a_signature_made_with_a_rotated_out_auth_token(client, workspace, twilio_account):
    # Twilio signs no timestamp: a signature becomes stale when the auth token is rotated.
    configure(workspace, "twilio", {"auth_token": "the-new-auth-token"})
    assert post_twilio(client, token=TWILIO_TOKEN).status_code == 403
    assert taken(post_twilio(client, token="the-new-auth-token"))


def test_twilio_refuses_a_signature_replayed_to_another_url(client, twilio_account):
    # The webhook's query string is configuration (?forward=…, ?engine=…): it is signed too.
    forwarding = "http://testserver" + VOICE_PATH + "?forward=%2B14155550123"
    assert post_twilio(client, signed_url=forwarding).status_code == 403
    assert post_twilio(client, path=VOICE_PATH + "?forward=%2B14155550123",
                       signed_url="http://testserver" + VOICE_PATH).status_code == 403
    assert not Meeting.objects.exists()


def test_twilio_refuses_parameters_that_are_not_the_ones_signed(client, twilio_account):
    signature = twilio_signature(TWILIO_TOKEN, "http://testserver" + VOICE_PATH, CALL)
    assert post_twilio(client, {**CALL, "From": "+19005550000"}, signature=signature).status_code == 403


def test_behind_a_tls_proxy_twilio_is_checked_against_the_https_url(client, settings, twilio_account):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    proxied = {"HTTP_X_FORWARDED_PROTO": "https"}
    assert post_twilio(client, **proxied).status_code == 403
    assert taken(post_twilio(client, signed_url="https://testserver" + VOICE_PATH, **proxied))


def test_twilio_callbacks_accept_only_post(client, twilio_account):
    assert client.get(VOICE_PATH, CALL).status_code == 405


# --- MeetStream: POST /bots/<token>/callback|live|participants ---------------------------------

BOT_ID = "5b0ff6e7-1c2d-4e5f-8a9b-0c1d2e3f4a5b"
IN_MEETING = {"event": "bot.inmeeting", "bot_id": BOT_ID, "bot_status": "InMeeting",
              "message": "Successfully joined the meeting", "status_code": 200,
              "timestamp": "2026-02-27T07:11:51.863543+00:00", "custom_attributes": {}}


@pytest.fixture
def bot(alice, meetstream_account):
    meeting = new_meeting(alice, source=Meeting.Source.BOT, status=Meeting.Status.LIVE)
    return Bot.objects.create(meeting=meeting, meeting_url="https://meet.google.com/abc-defg-hij",
                              platform="google_meet", status=Bot.Status.JOINING, vendor_bot_id=BOT_ID)


def post_meetstream(client, bot, payload=IN_MEETING, *, kind="callback", secret=MEETSTREAM_SECRET, signature=None,
                    body=None):
    body = json.dumps(payload).encode() if body is None else body
    signature = meetstream_signature(secret, body) if signature is None else signature
    headers = {"X-MeetStream-Signature": signature} if signature else {}
    return client.post(reverse(f"bots:{kind}", args=[bot.callback_token]), body, content_type="application/json",
                       headers=headers)


@pytest.mark.parametrize("prefix", ["", "sha256="], ids=["bare", "prefixed"])
def test_a_signed_bot_callback_is_taken_and_logged_without_its_secret_or_signature(client, bot, prefix, caplog):
    caplog.set_level(logging.DEBUG)
    body = json.dumps(IN_MEETING).encode()
    response = post_meetstream(client, bot, body=body, signature=prefix + meetstream_signature(MEETSTREAM_SECRET, body))
    assert response.status_code == 200 and response.json()["received"] is True
    assert BotEvent.objects.filter(bot=bot).exists()
    assert_no_secret_in(caplog, MEETSTREAM_SECRET, meetstream_signature(MEETSTREAM_SECRET, body))


@pytest.mark.parametrize("kind", ["callback", "live", "participants"])
@pytest.mark.parametrize("signature", ["", "0" * 64, "sha256=" + "f" * 64, "sha256="],
                         ids=["missing", "zeros", "prefixed", "empty"])
def test_meetstream_refuses_a_missing_or_wrong_signature_on_every_url(client, bot, kind, signature, caplog):
    response = post_meetstream(client, bot, kind=kind, signature=signature or "")
    assert response.status_code == 401 and not BotEvent.objects.exists()
    assert_no_secret_in(caplog, MEETSTREAM_SECRET)


def test_meetstream_refuses_a_signature_made_with_a_rotated_out_secret(client, workspace, bot):
    configure(workspace, "meetstream", {"api_key": "k", "webhook_secret": "the-new-signing-secret"})
    assert post_meetstream(client, bot, secret=MEETSTREAM_SECRET).status_code == 401
    assert post_meetstream(client, bot, secret="the-new-signing-secret").status_code == 200


def test_meetstream_refuses_a_body_that_is_not_the_one_signed(client, bot):
    signature = meetstream_signature(MEETSTREAM_SECRET, json.dumps(IN_MEETING).encode())
    tampered = json.dumps({**IN_MEETING, "bot_status": "Stopped"}).encode()
    assert post_meetstream(client, bot, body=tampered, signature=signature).status_code == 401


def test_a_signed_bot_callback_that_is_not_a_json_object_is_a_bad_request(client, bot):
    assert post_meetstream(client, bot, body=b"[1, 2]").status_code == 400


def test_bot_callbacks_accept_only_post(client, bot):
    assert client.get(reverse("bots:callback", args=[bot.callback_token])).status_code == 405


def test_the_meetstream_verifier():
    body = b'{"event":"bot.done"}'
    good = meetstream_signature("s", body)
    assert bot_hooks.verify("s", body, good)
    assert bot_hooks.verify("s", body, "sha256=" + good)
    assert bot_hooks.verify("s", body, good.upper())
    assert not bot_hooks.verify("s", body + b" ", good)
    assert not bot_hooks.verify("t", body, good)
    assert not bot_hooks.verify("s", body, None)


# --- Across workspaces -------------------------------------------------------------------------

def test_a_request_signed_with_one_workspaces_secret_is_refused_for_another(
        client, zoom_account, twilio_account, bot, globex, bob):
    # Each names Globex (its Zoom account, its AccountSid, a Globex bot) but is signed with Acme's secret.
    globex_payload = {**STARTED, "payload": {**STARTED["payload"], "account_id": "globex-zoom-account"}}
    assert post_zoom(client, globex_payload).status_code == 401
    assert post_twilio(client, {**CALL, "AccountSid": "AC" + "9" * 32}).status_code == 403
    globex_bot = Bot.objects.create(meeting=new_meeting(bob, source=Meeting.Source.BOT, status=Meeting.Status.LIVE),
                                    meeting_url="https://meet.google.com/xyz-wvut-srq", platform="google_meet",
                                    status=Bot.Status.JOINING, vendor_bot_id=BOT_ID)
    assert post_meetstream(client, globex_bot).status_code == 401
    assert not TwilioCall.objects.exists() and not BotEvent.objects.exists()
    # Signed with Globex's own secrets, the same requests are taken.
    assert post_zoom(client, globex_payload, secret=GLOBEX["zoom"]).status_code == 200
    assert taken(post_twilio(client, {**CALL, "AccountSid": "AC" + "9" * 32}, token=GLOBEX["twilio"]))
    assert post_meetstream(client, globex_bot, secret=GLOBEX["meetstream"]).status_code == 200


def test_a_workspace_without_a_signing_secret_accepts_no_signed_zoom_request(client, workspace, zoom_account):
    # Zoom's account id alone is public: without a webhook secret token nothing is taken.
    configure(workspace, "zoom", {"client_secret": "x"}, **CONFIG["zoom"])
    response = post_zoom(client)
    assert response.status_code == 401 and "No workspace's Zoom account" in response.json()["error"]
