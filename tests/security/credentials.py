"""The security tests' credentials: provider accounts with distinctive secrets, and signers that
follow each vendor's published scheme independently of the code under test. Plain values and functions,
so that ``conftest.py`` and ``world.py`` both import them from here."""
import base64
import hashlib
import hmac

from tests.accounts import provider_account

# Each secret is distinctive, so that a test can grep every page, response and log line for it.
SECRETS = {
    "symbl": {"app_secret": "symbl-SECRET-7f3a9c41e2"},
    "zoom": {"client_secret": "zoom-CLIENT-SECRET-c0ffee99", "webhook_secret_token": "zoom-WEBHOOK-TOKEN-5ab1e77d"},
    "twilio": {"auth_token": "twilio-AUTH-TOKEN-0badf00d42"},
    "meetstream": {"api_key": "meetstream-API-KEY-9d8c7b6a", "webhook_secret": "meetstream-SIGNING-3e4f5a6b"},
    "deepgram": {"api_key": "deepgram-API-KEY-1a2b3c4d5e"},
    "assemblyai": {"api_key": "assemblyai-API-KEY-f6e5d4c3"},
}
CONFIG = {
    "symbl": {"app_id": "symbl-app-id-public"},
    "zoom": {"account_id": "zoom-account-public", "client_id": "zoom-client-public"},
    "twilio": {"account_sid": "AC" + "0" * 32},
}


def configure(workspace, provider, secrets=None, **config):
    """Create or replace ``workspace``'s ``provider`` account with ``secrets`` ({name: value})."""
    return provider_account(workspace, provider, config or CONFIG.get(provider, {}),
                            **(SECRETS[provider] if secrets is None else secrets))


def all_secret_strings():
    """Every secret value, with the encodings a leak could take (base64, basic-auth pairs)."""
    found = set()
    for values in SECRETS.values():
        for value in values.values():
            found |= {value, base64.b64encode(value.encode()).decode(), base64.urlsafe_b64encode(value.encode()).decode()}
    zoom = CONFIG["zoom"]["client_id"] + ":" + SECRETS["zoom"]["client_secret"]
    twilio = CONFIG["twilio"]["account_sid"] + ":" + SECRETS["twilio"]["auth_token"]
    found |= {base64.b64encode(zoom.encode()).decode(), base64.b64encode(twilio.encode()).decode()}
    return found


def zoom_signature(secret, timestamp, body):
    """x-zm-signature per https://developers.zoom.us/docs/api/webhooks/#verify-webhook-events."""
    message = f"v0:{timestamp}:".encode() + body
    return "v0=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def twilio_signature(token, url, params):
    """X-Twilio-Signature per https://www.twilio.com/docs/usage/webhooks/webhooks-security:
    base64(HMAC-SHA1(token, url + each POST parameter, sorted by name, as name + value))."""
    data = url + "".join(name + params[name] for name in sorted(params))
    return base64.b64encode(hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()).decode()


def meetstream_signature(secret, body):
    """X-MeetStream-Signature per api-contracts §11.1: hex HMAC-SHA256(secret, raw body)."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
