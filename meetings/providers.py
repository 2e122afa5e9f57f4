"""The provider registry: what each provider account holds, which fields are secret, which
environment variable seeds each, and how Parley checks the account ("Test connection").

Each provider (:class:`meetings.models.Provider`) has one :class:`ProviderInfo` in :data:`PROVIDERS`.
Its check calls the provider's cheapest authenticated endpoint on the base URL from settings, with
``settings.PROVIDER_TIMEOUT_SECONDS``, and answers in words which credential failed and how:

* Symbl: ``POST {SYMBL_API_URL}/oauth2/token:generate`` through :class:`SymblClient.token`
  (https://docs.symbl.ai/docs/developer-tools/authentication; ``shared/api-contracts.md`` §1);
* Zoom Server-to-Server OAuth: ``POST {ZOOM_OAUTH_URL}/oauth/token?grant_type=account_credentials&account_id=…``
  with HTTP Basic client id and secret (https://developers.zoom.us/docs/internal-apps/s2s-oauth/; §8);
* Twilio: ``GET {TWILIO_API_URL}/2010-04-01/Accounts/{AccountSid}.json`` with HTTP Basic SID and
  auth token (https://www.twilio.com/docs/iam/api/account);
* MeetStream: ``GET {MEETSTREAM_API_URL}/bots`` with ``Authorization: Token <key>`` (§11.1);
* Deepgram: ``GET {DEEPGRAM_API_URL}/v1/projects`` with ``Authorization: Token <key>``
  (https://developers.deepgram.com/reference/management-api/projects/list);
* AssemblyAI: ``GET {ASSEMBLYAI_API_URL}/v2/transcript?limit=1`` with ``Authorization: <key>``
  (https://www.assemblyai.com/docs/api-reference/transcripts/list).

No secret ever appears in a result, a log line or an exception: results are scrubbed of the
account's secret values before they are kept.
"""
import logging
import os
import re
from dataclasses import dataclass

import httpx
from asgiref.sync import async_to_sync
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from streaming.tls import tls_context

from . import audit
from .crypto import SecretError
from .models import AuditEntry, Provider, ProviderAccount

log = logging.getLogger(__name__)

TWILIO_SID = re.compile(r"AC[0-9a-fA-F]{32}")


@dataclass(frozen=True)
class Field:
    """One value of an account: ``name`` its key in ``config`` or the secrets, ``env`` the variable
    that seeds the first workspace's account."""

    name: str
    label: str
    env: str
    secret: bool = False
    required: bool = True
    help: str = ""


@dataclass(frozen=True)
class ProviderInfo:
    provider: str
    fields: tuple
    check: object  # callable(values: dict) -> success message; raises CheckFailed
    docs: str = ""

    @property
    def label(self):
        return Provider(self.provider).label

    @property
    def slug(self):
        return str(self.provider)

    def field(self, name):
        return next(f for f in self.fields if f.name == name)


class CheckFailed(Exception):
    """A connection test failed; the message says which credential and how (never a secret)."""


@dataclass(frozen=True)
class TestResult:
    __test__ = False  # not a pytest class

    ok: bool
    message: str


# -- HTTP -------------------------------------------------------------------------------------


def _timeout():
    return settings.PROVIDER_TIMEOUT_SECONDS


def _call(method, url, **kwargs):
    """One request with the provider timeout; transport failures become :class:`CheckFailed`
    naming the URL (without its query) and the reason."""
    shown = str(httpx.URL(url).copy_with(query=None))
    try:
        with httpx.Client(timeout=_timeout(), verify=tls_context()) as client:
            return client.request(method, url, **kwargs)
    except httpx.TimeoutException:
        raise CheckFailed(f"could not reach {shown} : no answer within {_timeout():g} s") from None
    except httpx.TransportError as exc:
        raise CheckFailed(f"could not reach {shown} : {_transport_reason(exc)}") from None


def _transport_reason(exc):
    reason = re.sub(r"^\[Errno -?\d+\]\s*", "", str(exc)).strip() or exc.__class__.__name__
    return reason[:1].lower() + reason[1:]


def _said(response):
    """What the provider said in an error answer: its message field, else the start of the body."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:200] or response.reason_phrase
    if isinstance(body, dict):
        for key in ("message", "err_msg", "reason", "detail", "error_description", "error"):
            if isinstance(body.get(key), str) and body[key]:
                return body[key]
    return str(body)[:200]


def _failed(vendor, response, what=None):
    """A :class:`CheckFailed` for an error answer; ``what`` names the refused credential(s) on 401/403."""
    said = _said(response)
    if what and response.status_code in (401, 403):
        return CheckFailed(f"{vendor} refused the {what}: {said} ({response.status_code})")
    return CheckFailed(f"{vendor}: {said} ({response.status_code})")


def _token(key):
    return {"Authorization": f"Token {key}"}


# -- checks -----------------------------------------------------------------------------------


def check_symbl(values):
    from streaming.engines.symbl.client import SymblClient, SymblError, Unauthorized

    async def generate():
        client = SymblClient(settings.SYMBL_API_URL, settings.SYMBL_WS_URL, values["app_id"], values["app_secret"],
                             timeout=_timeout())
        client.attempts = 1  # a test answers now; the engine is the one that retries
        async with client:
            await client.token(force=True)

    try:
        async_to_sync(generate)()
    except Unauthorized as exc:
        raise CheckFailed(f"Symbl refused the app id or app secret: {exc.message} ({exc.status})") from None
    except SymblError as exc:
        raise CheckFailed(str(exc) if exc.status else exc.message) from None
    return "Symbl issued an access token for this app id and secret."


def check_zoom(values):
    response = _call("POST", f"{settings.ZOOM_OAUTH_URL}/oauth/token",
                     params={"grant_type": "account_credentials", "account_id": values["account_id"]},
                     auth=(values["client_id"], values["client_secret"]))
    if response.status_code != 200:
        said = _said(response)
        if response.status_code == 401 or "client" in said.lower():
            raise CheckFailed(f"Zoom refused the client id or client secret: {said} ({response.status_code})")
        if "account" in said.lower():
            raise CheckFailed(f"Zoom refused the account id: {said} ({response.status_code})")
        raise _failed("Zoom", response)
    expires = response.json().get("expires_in")
    webhook = ("set; Zoom checks it when it calls us" if values.get("webhook_secret_token")
               else "not set, so Zoom's event notifications cannot be verified")
    return f"Zoom issued an access token (valid {expires} s). Webhook secret token: {webhook}."


def check_twilio(values):
    sid = values["account_sid"]
    if not TWILIO_SID.fullmatch(sid):
        raise CheckFailed(f"Twilio: account SID {sid} is not AC followed by 32 hexadecimal digits")
    response = _call("GET", f"{settings.TWILIO_API_URL}/2010-04-01/Accounts/{sid}.json",
                     auth=(sid, values["auth_token"]))
    if response.status_code == 404:
        raise CheckFailed(f"Twilio: account SID {sid} not found (404)")
    if response.status_code != 200:
        raise _failed("Twilio", response, "account SID or auth token")
    account = response.json()  # it holds the auth token too: only named fields leave this function
    return f"Twilio account “{account.get('friendly_name', sid)}” is {account.get('status', 'reachable')}."


def check_meetstream(values):
    response = _call("GET", f"{settings.MEETSTREAM_API_URL}/bots", headers=_token(values["api_key"]))
    if response.status_code != 200:
        raise _failed("MeetStream", response, "API key")
    webhook = ("set; MeetStream signs its callbacks with it" if values.get("webhook_secret")
               else "not set, so bot callbacks cannot be verified")
    return f"MeetStream accepted the API key. Webhook secret: {webhook}."


def check_deepgram(values):
    response = _call("GET", f"{settings.DEEPGRAM_API_URL}/v1/projects", headers=_token(values["api_key"]))
    if response.status_code != 200:
        raise _failed("Deepgram", response, "API key")
    names = [p.get("name", "") for p in response.json().get("projects", [])]
    return f"Deepgram accepted the API key (projects: {', '.join(names) or 'none'})."


def check_assemblyai(values):
    response = _call("GET", f"{settings.ASSEMBLYAI_API_URL}/v2/transcript", params={"limit": 1},
                     headers={"Authorization": values["api_key"]})
    if response.status_code != 200:
        raise _failed("AssemblyAI", response, "API key")
    return "AssemblyAI accepted the API key."


PROVIDERS = {info.provider: info for info in (
    ProviderInfo(Provider.SYMBL, (
        Field("app_id", "App ID", "SYMBL_APP_ID", help="From the Symbl platform's API keys page."),
        Field("app_secret", "App secret", "SYMBL_APP_SECRET", secret=True),
    ), check_symbl, "https://docs.symbl.ai/docs/developer-tools/authentication"),
    ProviderInfo(Provider.ZOOM, (
        Field("account_id", "Account ID", "ZOOM_ACCOUNT_ID", help="Of the Server-to-Server OAuth app."),
        Field("client_id", "Client ID", "ZOOM_CLIENT_ID"),
        Field("client_secret", "Client secret", "ZOOM_CLIENT_SECRET", secret=True),
        Field("webhook_secret_token", "Webhook secret token", "ZOOM_WEBHOOK_SECRET_TOKEN", secret=True,
              required=False, help="From the app's Feature page; verifies Zoom's event notifications."),
    ), check_zoom, "https://developers.zoom.us/docs/internal-apps/s2s-oauth/"),
    ProviderInfo(Provider.TWILIO, (
        Field("account_sid", "Account SID", "TWILIO_ACCOUNT_SID", help="AC followed by 32 hexadecimal digits."),
        Field("auth_token", "Auth token", "TWILIO_AUTH_TOKEN", secret=True,
              help="Also validates the signatures of Twilio's webhooks."),
    ), check_twilio, "https://www.twilio.com/docs/iam/api/account"),
    ProviderInfo(Provider.MEETSTREAM, (
        Field("api_key", "API key", "MEETSTREAM_API_KEY", secret=True),
        Field("webhook_secret", "Webhook secret", "MEETSTREAM_WEBHOOK_SECRET", secret=True, required=False,
              help="Verifies the X-MeetStream-Signature of bot callbacks."),
    ), check_meetstream, "https://docs.meetstream.ai/api-reference"),
    ProviderInfo(Provider.DEEPGRAM, (
        Field("api_key", "API key", "DEEPGRAM_API_KEY", secret=True),
    ), check_deepgram, "https://developers.deepgram.com/reference/management-api/projects/list"),
    ProviderInfo(Provider.ASSEMBLYAI, (
        Field("api_key", "API key", "ASSEMBLYAI_API_KEY", secret=True),
    ), check_assemblyai, "https://www.assemblyai.com/docs/api-reference/transcripts/list"),
)}


def info(provider):
    """The :class:`ProviderInfo` of ``provider`` (a :class:`Provider` value); KeyError when unknown."""
    return PROVIDERS[Provider(provider)]


# -- accounts ---------------------------------------------------------------------------------


def values_of(account):
    """``{field name: value}`` of ``account``, secrets decrypted; raises :class:`SecretError`."""
    return {**{k: v for k, v in account.config.items() if v}, **{k: v for k, v in account.secrets().items() if v}}


def missing_fields(account):
    """Labels of the required fields ``account`` lacks (secrets are decrypted to tell)."""
    values = values_of(account)
    return [f.label for f in info(account.provider).fields if f.required and not values.get(f.name)]


def test_connection(account):
    """Check ``account`` against its provider, keep the result on it (``last_test_*``) and return a
    :class:`TestResult`. Never raises for a provider's answer: a failure is a result in words."""
    try:
        values = values_of(account)
    except SecretError as exc:
        values, result = {}, TestResult(False, str(exc))
    else:
        missing = [f.label.lower() for f in info(account.provider).fields if f.required and not values.get(f.name)]
        if missing:
            result = TestResult(False, f"a required field is not set: {', '.join(missing)}")
        else:
            try:
                result = TestResult(True, info(account.provider).check(values))
            except CheckFailed as exc:
                result = TestResult(False, str(exc))
    message = scrub(result.message, [values[f.name] for f in info(account.provider).fields
                                     if f.secret and values.get(f.name)])
    result = TestResult(result.ok, message)
    account.last_test_at, account.last_test_ok, account.last_test_message = timezone.now(), result.ok, message
    account.save(update_fields=["last_test_at", "last_test_ok", "last_test_message"])
    log.info("provider account %s tested: %s", account.pk, "ok" if result.ok else "failed")
    return result


test_connection.__test__ = False  # a function named test_*, not a test: pytest must not collect it


def scrub(text, secrets):
    """``text`` with every secret value replaced (a provider might echo one back)."""
    for secret in secrets:
        if len(secret) >= 4:
            text = text.replace(secret, "•••")
    return text


def apply_changes(account, config, secrets, user=None):
    """Set ``config`` (all non-secret values) and ``secrets`` (``{name: value or None}``: None
    clears, absent keeps) on ``account`` and save it. Returns the sorted names of the fields whose
    value changed (never the values)."""
    fields = info(account.provider).fields
    before = values_of(account) if account.pk else {}
    new_config = {f.name: config.get(f.name, "") for f in fields if not f.secret and config.get(f.name, "")}
    new_secrets = {k: v for k, v in (account.secrets() if account.pk else {}).items()}
    for name, value in secrets.items():
        if value is None:
            new_secrets.pop(name, None)
        elif value:
            new_secrets[name] = value
    after = {**new_config, **new_secrets}
    changed = sorted(f.name for f in fields if before.get(f.name, "") != after.get(f.name, ""))
    account.config = new_config
    account.set_secrets(new_secrets)
    account.updated_by = user
    if changed:
        # A result about other credentials no longer says anything.
        account.last_test_at = account.last_test_ok = None
        account.last_test_message = ""
    account.save()
    return changed


@transaction.atomic
def seed_from_environment(workspace, environ=None):
    """Create ``workspace``'s accounts from the environment variables of :data:`PROVIDERS`
    (``SYMBL_APP_ID``, ``ZOOM_CLIENT_SECRET``, …) for each provider that has at least one of them set
    and no account in ``workspace`` yet, unless an admin removed that account: the environment
    seeds, it does not override an admin's choice. Each creation is audited (field names only).
    Returns the created accounts."""
    environ = os.environ if environ is None else environ
    existing = set(workspace.accounts.values_list("provider", flat=True))
    removed = workspace.audit_entries.filter(action=AuditEntry.Action.ACCOUNT_REMOVED).values_list("details", flat=True)
    existing |= {details.get("provider") for details in removed}
    created = []
    for provider, spec in PROVIDERS.items():
        if provider in existing:
            continue
        found = {f.name: environ.get(f.env, "").strip() for f in spec.fields if environ.get(f.env, "").strip()}
        if not found:
            continue
        account = ProviderAccount(workspace=workspace, provider=provider)
        changed = apply_changes(account, {k: v for k, v in found.items() if not spec.field(k).secret},
                                {k: v for k, v in found.items() if spec.field(k).secret})
        audit.record(None, workspace, AuditEntry.Action.ACCOUNT_CHANGED, account, provider=provider,
                     fields=changed, source="environment")
        created.append(account)
    return created
