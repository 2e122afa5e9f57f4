"""Provider callbacks refuse a missing, wrong or stale signature and accept a correct one."""
import json
import logging
import time
from urllib.parse import urlencode
from xml.etree import ElementTree

import pytest
from django.urls import reverse

from meetings import bot_hooks
from streaming.zoom import webhooks as zoom
from telephony import twilio_hooks

from .conftest import SECRETS, configure, meetstream_signature, twilio_signature, zoom_signature

pytestmark = pytest.mark.django_db

ZOOM_SECRET = SECRETS["zoom"]["webhook_secret_token"]
TWILIO_TOKEN = SECRETS["twilio"]["auth_token"]
MEETSTREAM_SECRET = SECRETS["meetstream"]["webhook_secret"]

# Twilio's documented example (api-contracts §10, https://www.twilio.com/docs/usage/webhooks/webhooks-security).
TWILIO_VECTOR_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
TWILIO_VECTOR_PARAMS = {"CallSid": "CA1234567890ABCDE", "Caller": "+12349013030", "Digits": "1234",
                        "From": "+12349013030", "To": "+18005551212"}
TWILIO_VECTOR_SIGNATURE = "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
CALL = {"CallSid": "CA" + "1" * 32, "AccountSid": "AC" + "0" * 32, "From": "+14155550100", "To": "+14155550199",
        "CallStatus": "ringing", "Direction": "inbound"}


@pytest.fixture
def zoom_account(workspace):
    return configure(workspace, "zoom")


@pytest.fixture
def twilio_account(workspace):
    return configure(workspace, "twilio")


@pytest.fixture
def meetstream_account(workspace):
    return configure(workspace, "meetstream")


def assert_no_secret_in(caplog, *values):
    for value in values:
        assert value not in caplog.text


# --- Zoom -------------------------------------------------------------------------------------

def post_zoom(client, workspace, payload, *, secret=ZOOM_SECRET, timestamp=None, signature=None, body=None):
    body = json.dumps(payload).encode() if body is None else body
    timestamp = int(time.time()) if timestamp is None else timestamp
    headers = {"x-zm-request-timestamp": str(timestamp),
               "x-zm-signature": zoom_signature(secret, timestamp, body) if signature is None else signature}
    headers = {k: v for k, v in headers.items() if v != ""}
    return client.post(reverse("hooks:zoom", args=[workspace.hook_key]), body, content_type="application/json",
                       headers=headers)


STARTED = {"event": "meeting.started", "event_ts": 1635885799302,
           "payload": {"account_id": "abc", "object": {"id": "85746065432", "uuid": "4444AAAiAAAAAiAiAiiAii==",
                                                        "topic": "Standup", "type": 2}}}


def test_the_zoom_validation_vector():
    assert zoom.encrypted_token("secret", "plain") == "a237566e044b73e6a1e54bd59974547487fa5f8143025ce0d04d82e7ee4c5e34"


def test_zoom_url_validation_is_answered_with_the_encrypted_token(client, workspace):
    configure(workspace, "zoom", {"webhook_secret_token": "secret"})
    payload = {"event": "endpoint.url_validation", "payload": {"plainToken": "plain"}, "event_ts": 1654503849680}
    response = post_zoom(client, workspace, payload, secret="secret")
    assert response.status_code == 200
    assert response.json() == {"plainToken": "plain",
                               "encryptedToken": "a237566e044b73e6a1e54bd59974547487fa5f8143025ce0d04d82e7ee4c5e34"}


def test_a_signed_zoom_event_is_acknowledged_and_logged_by_name(client, workspace, zoom_account, caplog):
    caplog.set_level(logging.DEBUG)
    timestamp = int(time.time())
    response = post_zoom(client, workspace, STARTED, timestamp=timestamp)
    assert response.status_code == 200
    assert "meeting.started" in caplog.text
    signature = zoom_signature(ZOOM_SECRET, timestamp, json.dumps(STARTED).encode())
    assert_no_secret_in(caplog, ZOOM_SECRET, signature, signature[3:])


@pytest.mark.parametrize("signature", ["", "v0=" + "0" * 64, "v0=garbage"], ids=["missing", "zeros", "garbage"])
def test_zoom_refuses_a_missing_or_wrong_signature(client, workspace, zoom_account, signature, caplog):
    response = post_zoom(client, workspace, STARTED, signature=signature)
    assert response.status_code == 401
    assert "meeting.started" not in caplog.text
    assert_no_secret_in(caplog, ZOOM_SECRET)


def test_zoom_refuses_a_signature_made_with_another_secret(client, workspace, zoom_account):
    assert post_zoom(client, workspace, STARTED, secret="someone-elses-token").status_code == 401


def test_zoom_refuses_a_body_that_is_not_the_one_signed(client, workspace, zoom_account):
    timestamp = int(time.time())
    signature = zoom_signature(ZOOM_SECRET, timestamp, json.dumps(STARTED).encode())
    tampered = json.dumps({**STARTED, "event": "meeting.ended"}).encode()
    assert post_zoom(client, workspace, None, body=tampered, timestamp=timestamp, signature=signature).status_code == 401


@pytest.mark.parametrize("offset", [-zoom.MAX_AGE_SECONDS - 5, zoom.MAX_AGE_SECONDS + 5], ids=["stale", "future"])
def test_zoom_refuses_a_correctly_signed_replay_outside_five_minutes(client, workspace, zoom_account, offset):
    response = post_zoom(client, workspace, STARTED, timestamp=int(time.time()) + offset)
    assert response.status_code == 401


def test_zoom_refuses_a_timestamp_that_is_not_a_number(client, workspace, zoom_account):
    body = json.dumps(STARTED).encode()
    assert post_zoom(client, workspace, None, body=body, timestamp="soon",
                     signature=zoom_signature(ZOOM_SECRET, "soon", body)).status_code == 401


def test_zoom_verifier_accepts_within_the_window_and_refuses_outside():
    body, sent = b'{"event":"x"}', 1_700_000_000
    headers = {"x-zm-request-timestamp": str(sent), "x-zm-signature": zoom_signature("s", sent, body)}
    zoom.verify("s", headers, body, now=sent + zoom.MAX_AGE_SECONDS)
    with pytest.raises(zoom.SignatureError, match="stale"):
        zoom.verify("s", headers, body, now=sent + zoom.MAX_AGE_SECONDS + 1)


def test_a_signed_zoom_request_that_is_not_json_is_a_bad_request(client, workspace, zoom_account):
    assert post_zoom(client, workspace, None, body=b"not json").status_code == 400


def test_zoom_callbacks_for_an_unknown_key_are_not_found(client, workspace, zoom_account):
    url = reverse("hooks:zoom", args=["0" * 32])
    assert client.post(url, b"{}", content_type="application/json").status_code == 404


def test_a_workspace_without_a_zoom_secret_accepts_nothing(client, workspace, other_workspace, zoom_account):
    # A request signed with Acme's secret, sent to Globex (no Zoom account), and to Acme with the secret removed.
    timestamp, body = int(time.time()), json.dumps(STARTED).encode()
    headers = {"x-zm-request-timestamp": str(timestamp), "x-zm-signature": zoom_signature(ZOOM_SECRET, timestamp, body)}
    url = reverse("hooks:zoom", args=[other_workspace.hook_key])
    assert client.post(url, body, content_type="application/json", headers=headers).status_code == 404
    configure(workspace, "zoom", {"client_secret": "x"})
    assert post_zoom(client, workspace, STARTED).status_code == 404


def test_zoom_callbacks_accept_only_post(client, workspace, zoom_account):
    assert client.get(reverse("hooks:zoom", args=[workspace.hook_key])).status_code == 405


# --- Twilio -----------------------------------------------------------------------------------

def test_the_twilio_vector_signs_as_documented():
    assert twilio_signature("12345", TWILIO_VECTOR_URL, TWILIO_VECTOR_PARAMS) == TWILIO_VECTOR_SIGNATURE
    assert twilio_hooks.verify("12345", TWILIO_VECTOR_URL, TWILIO_VECTOR_PARAMS, TWILIO_VECTOR_SIGNATURE)
    assert not twilio_hooks.verify("54321", TWILIO_VECTOR_URL, TWILIO_VECTOR_PARAMS, TWILIO_VECTOR_SIGNATURE)
    assert not twilio_hooks.verify("12345", TWILIO_VECTOR_URL, {**TWILIO_VECTOR_PARAMS, "Digits": "1235"},
                                   TWILIO_VECTOR_SIGNATURE)
    assert not twilio_hooks.verify("12345", TWILIO_VECTOR_URL, TWILIO_VECTOR_PARAMS, "")


def post_twilio(client, workspace, name, params=CALL, *, token=TWILIO_TOKEN, signed_url=None, signature=None, **extra):
    path = reverse(f"hooks:{name}", args=[workspace.hook_key])
    url = signed_url or "http://testserver" + path
    headers = {} if signature == "" else {"X-Twilio-Signature": signature or twilio_signature(token, url, params)}
    return client.post(path, urlencode(params), content_type="application/x-www-form-urlencoded", headers=headers, **extra)


def test_a_signed_incoming_call_is_answered_with_twiml(client, workspace, twilio_account, caplog):
    caplog.set_level(logging.DEBUG)
    response = post_twilio(client, workspace, "twilio-voice")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/xml")
    twiml = ElementTree.fromstring(response.content)
    assert twiml.tag == "Response"
    assert [child.tag for child in twiml] == ["Say", "Hangup"]
    assert "not connected" in twiml.find("Say").text
    assert CALL["CallSid"] in caplog.text
    assert_no_secret_in(caplog, TWILIO_TOKEN, twilio_signature(TWILIO_TOKEN, "http://testserver" + reverse(
        "hooks:twilio-voice", args=[workspace.hook_key]), CALL))


def test_a_signed_status_callback_is_acknowledged(client, workspace, twilio_account):
    response = post_twilio(client, workspace, "twilio-status", {**CALL, "CallStatus": "completed"})
    assert response.status_code == 204


@pytest.mark.parametrize("name", ["twilio-voice", "twilio-status"])
@pytest.mark.parametrize("signature", ["", "AAAAAAAAAAAAAAAAAAAAAAAAAAA=", TWILIO_VECTOR_SIGNATURE],
                         ids=["missing", "wrong", "vector"])
def test_twilio_refuses_a_missing_or_wrong_signature(client, workspace, twilio_account, name, signature, caplog):
    response = post_twilio(client, workspace, name, signature=signature)
    assert response.status_code == 403
    assert_no_secret_in(caplog, TWILIO_TOKEN)
    if signature:
        assert signature not in caplog.text


def test_twilio_refuses_a_signature_made_with_a_rotated_out_auth_token(client, workspace, twilio_account):
    # Twilio signs no timestamp: a signature becomes stale when the auth token is rotated.
    configure(workspace, "twilio", {"auth_token": "the-new-auth-token"})
    assert post_twilio(client, workspace, "twilio-voice", token=TWILIO_TOKEN).status_code == 403
    assert post_twilio(client, workspace, "twilio-voice", token="the-new-auth-token").status_code == 200


def test_twilio_refuses_a_signature_replayed_to_another_url(client, workspace, other_workspace, twilio_account):
    configure(other_workspace, "twilio")  # the same auth token, another workspace
    acme_url = "http://testserver" + reverse("hooks:twilio-voice", args=[workspace.hook_key])
    assert post_twilio(client, other_workspace, "twilio-voice", signed_url=acme_url).status_code == 403
    assert post_twilio(client, other_workspace, "twilio-voice").status_code == 200


def test_twilio_refuses_parameters_that_are_not_the_ones_signed(client, workspace, twilio_account):
    url = "http://testserver" + reverse("hooks:twilio-voice", args=[workspace.hook_key])
    signature = twilio_signature(TWILIO_TOKEN, url, CALL)
    forged = {**CALL, "From": "+19005550000"}
    assert post_twilio(client, workspace, "twilio-voice", forged, signature=signature).status_code == 403


def test_behind_a_tls_proxy_twilio_is_checked_against_the_https_url(client, settings, workspace, twilio_account):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    https_url = "https://testserver" + reverse("hooks:twilio-voice", args=[workspace.hook_key])
    proxied = {"HTTP_X_FORWARDED_PROTO": "https"}
    assert post_twilio(client, workspace, "twilio-voice", signed_url=https_url, **proxied).status_code == 200
    assert post_twilio(client, workspace, "twilio-voice", **proxied).status_code == 403


def test_a_workspace_without_a_twilio_auth_token_accepts_nothing(client, workspace, other_workspace, twilio_account):
    assert post_twilio(client, other_workspace, "twilio-voice").status_code == 404
    assert client.post(reverse("hooks:twilio-status", args=["f" * 32])).status_code == 404


# --- MeetStream -------------------------------------------------------------------------------

IN_MEETING = {"event": "bot.inmeeting", "bot_id": "5b0ff6e7-1c2d-4e5f-8a9b-0c1d2e3f4a5b", "bot_status": "InMeeting",
              "message": "Successfully joined the meeting", "status_code": 200,
              "timestamp": "2026-02-27T07:11:51.863543+00:00", "custom_attributes": {}}


def post_meetstream(client, workspace, payload=IN_MEETING, *, secret=MEETSTREAM_SECRET, signature=None, body=None):
    body = json.dumps(payload).encode() if body is None else body
    signature = meetstream_signature(secret, body) if signature is None else signature
    headers = {"X-MeetStream-Signature": signature} if signature else {}
    return client.post(reverse("hooks:meetstream", args=[workspace.hook_key]), body,
                       content_type="application/json", headers=headers)


@pytest.mark.parametrize("prefix", ["", "sha256="], ids=["bare", "prefixed"])
def test_a_signed_bot_callback_is_acknowledged_and_logged(client, workspace, meetstream_account, prefix, caplog):
    caplog.set_level(logging.DEBUG)
    body = json.dumps(IN_MEETING).encode()
    signature = prefix + meetstream_signature(MEETSTREAM_SECRET, body)
    response = post_meetstream(client, workspace, body=body, signature=signature)
    assert response.status_code == 200
    assert "bot.inmeeting" in caplog.text and IN_MEETING["bot_id"] in caplog.text
    assert_no_secret_in(caplog, MEETSTREAM_SECRET, meetstream_signature(MEETSTREAM_SECRET, body))


def test_a_legacy_bot_callback_is_logged_by_its_status(client, workspace, meetstream_account, caplog):
    caplog.set_level(logging.INFO)
    legacy = {"bot_id": "abc", "bot_status": "joining", "message": "Bot is joining the meeting", "status_code": 102}
    assert post_meetstream(client, workspace, legacy).status_code == 200
    assert "bot_status=joining" in caplog.text


@pytest.mark.parametrize("signature", ["", "0" * 64, "sha256=" + "f" * 64, "sha256="],
                         ids=["missing", "zeros", "prefixed", "empty"])
def test_meetstream_refuses_a_missing_or_wrong_signature(client, workspace, meetstream_account, signature, caplog):
    caplog.set_level(logging.DEBUG)
    response = post_meetstream(client, workspace, signature=signature or "")
    assert response.status_code == 401
    assert "bot.inmeeting" not in caplog.text
    assert_no_secret_in(caplog, MEETSTREAM_SECRET)


def test_meetstream_refuses_a_signature_made_with_a_rotated_out_secret(client, workspace, meetstream_account):
    configure(workspace, "meetstream", {"webhook_secret": "the-new-signing-secret"})
    assert post_meetstream(client, workspace, secret=MEETSTREAM_SECRET).status_code == 401
    assert post_meetstream(client, workspace, secret="the-new-signing-secret").status_code == 200


def test_meetstream_refuses_a_body_that_is_not_the_one_signed(client, workspace, meetstream_account):
    signature = meetstream_signature(MEETSTREAM_SECRET, json.dumps(IN_MEETING).encode())
    tampered = json.dumps({**IN_MEETING, "bot_id": "someone-else"}).encode()
    assert post_meetstream(client, workspace, body=tampered, signature=signature).status_code == 401


def test_a_signed_bot_callback_that_is_not_a_json_object_is_a_bad_request(client, workspace, meetstream_account):
    assert post_meetstream(client, workspace, body=b"[1, 2]").status_code == 400
    assert post_meetstream(client, workspace, body=b"\xff not json").status_code == 400


def test_a_workspace_without_a_bot_signing_secret_accepts_nothing(client, workspace, other_workspace, meetstream_account):
    assert post_meetstream(client, other_workspace).status_code == 404
    configure(workspace, "meetstream", {"api_key": "k"})
    assert post_meetstream(client, workspace).status_code == 404


def test_the_meetstream_verifier():
    body = b'{"event":"bot.done"}'
    good = meetstream_signature("s", body)
    assert bot_hooks.verify("s", body, good)
    assert bot_hooks.verify("s", body, "sha256=" + good)
    assert bot_hooks.verify("s", body, good.upper())
    assert not bot_hooks.verify("s", body + b" ", good)
    assert not bot_hooks.verify("t", body, good)
    assert not bot_hooks.verify("s", body, None)


@pytest.mark.parametrize("payload", [{"event": "endpoint.url_validation", "payload": ["plain"]},
                                     {"event": "endpoint.url_validation", "payload": {}},
                                     {"payload": {"plainToken": "plain"}}, ["endpoint.url_validation"]],
                         ids=["list", "no-token", "no-event", "not-an-object"])
def test_a_signed_but_malformed_zoom_event_is_a_bad_request(client, workspace, zoom_account, payload):
    response = post_zoom(client, workspace, payload)
    assert response.status_code == 400
    assert "error" in response.json()
