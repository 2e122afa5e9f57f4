"""Symbl.ai REST client: authentication, typed errors, retries, the Conversation, Speakers, Async and Job APIs.

Sources (digest in ``shared/api-contracts.md``): authentication
https://docs.symbl.ai/docs/developer-tools/authentication (§1), errors
https://docs.symbl.ai/docs/developer-tools/errors, Conversation API
https://docs.symbl.ai/docs/conversation-api/introduction (§6), Async API and Jobs
https://docs.symbl.ai/docs/async-api/introduction (§7).

* ``POST {SYMBL_API_URL}/oauth2/token:generate`` with ``{"type": "application", "appId", "appSecret"}``
  answers ``{"accessToken", "expiresIn": seconds}``. Tokens are cached per (URL, app id) for the
  whole process and renewed before ``expiresIn`` runs out; a request answered 401 renews the
  token and is retried once.
* Errors become :class:`SymblError` subclasses carrying Symbl's ``message``: 400
  :class:`BadRequest`, 401 :class:`Unauthorized`, 404 :class:`NotFound`, 429 :class:`RateLimited`,
  5xx :class:`ServerError`. 429, 5xx and transport errors are retried with exponential backoff
  (``Retry-After`` honoured), at most :attr:`SymblClient.attempts` times: nothing retries forever.
"""
import asyncio
import time
from urllib.parse import quote

import httpx

from streaming.tls import tls_context
from streaming.tokens import TokenCache, account_key
from streaming.vendor_http import TokenClient, send_with_backoff


class SymblError(Exception):
    """A Symbl API call failed. ``status``: the HTTP status (0: no answer); ``message``: Symbl's text."""

    status = 0

    def __init__(self, message, status=None):
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status

    def __str__(self):
        return f"{self.message} (HTTP {self.status})" if self.status else self.message


class BadRequest(SymblError):
    status = 400


class Unauthorized(SymblError):
    status = 401


class NotConfigured(Unauthorized):
    """No app id and secret to authenticate with."""


class NotFound(SymblError):
    status = 404


class RateLimited(SymblError):
    status = 429


class ServerError(SymblError):
    status = 500


_BY_STATUS = {400: BadRequest, 401: Unauthorized, 404: NotFound, 429: RateLimited}


def error_for(status, message):
    """The typed error for an HTTP status and Symbl's message."""
    if status >= 500:
        return ServerError(message, status)
    return _BY_STATUS.get(status, SymblError)(message, status)


def _message_of(response):
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:300] or response.reason_phrase
    if isinstance(body, dict):
        return str(body.get("message") or body.get("details") or body.get("error") or body)
    return str(body)


# Keyed by (api_url, app_id, sha256(secret)).
_TOKENS = TokenCache()


class SymblClient(TokenClient):
    """One account's REST client. ``api_url`` and ``ws_url`` without a trailing slash.

    Use as ``async with SymblClient(...) as client``, or call :meth:`aclose`.
    """

    tokens = _TOKENS
    attempts = 5
    backoff_s = 0.5
    max_backoff_s = 8.0
    job_poll_s = 5.0  # the SDKs poll jobs every 5 s

    def __init__(self, api_url, ws_url, app_id, app_secret, *, timeout=30.0):
        self.api_url = api_url.rstrip("/")
        self.ws_url = ws_url.rstrip("/")
        self.use_account(app_id, app_secret)
        self.http = httpx.AsyncClient(timeout=timeout, verify=tls_context())

    def use_account(self, app_id, app_secret):
        """Authenticate as this account from now on (tokens are cached per account)."""
        self.app_id, self._secret = app_id, app_secret
        self._key = account_key(self.api_url, app_id, secret=app_secret)

    # -- authentication ------------------------------------------------------------------------

    async def _issue_token(self):
        """``(accessToken, expiresIn)`` of a new token for this app (:meth:`token` asks for one when
        the cached one is near expiry). Raises :class:`Unauthorized` for a wrong app id or secret
        (never retried), :class:`RateLimited`/:class:`ServerError` when retries ran out."""
        if not self.app_id or not self._secret:
            raise NotConfigured("No Symbl app id and secret are set: an admin sets them under Workspace → "
                                "Provider accounts.", 401)
        body = await self._send("POST", "/oauth2/token:generate", auth=False,
                                json={"type": "application", "appId": self.app_id, "appSecret": self._secret})
        try:
            return body["accessToken"], float(body["expiresIn"])
        except (KeyError, TypeError, ValueError):
            raise SymblError(f"Symbl's token answer lacks accessToken/expiresIn: {body!r}"[:300]) from None

    # -- requests ------------------------------------------------------------------------------

    async def request(self, method, path, **kwargs):
        """Send an authenticated request and return the decoded JSON body.

        A 401 renews the token and retries once; 429/5xx/transport errors back off and retry.
        Raises the typed :class:`SymblError` subclass otherwise.
        """
        return await self.with_fresh_token(lambda token: self._send(method, path, token=token, **kwargs),
                                           Unauthorized)

    async def _send(self, method, path, *, token=None, auth=True, headers=None, **kwargs):
        headers = dict(headers or {})
        if auth:
            headers["Authorization"] = f"Bearer {token}"
        response = await send_with_backoff(
            self.http, method, self.api_url + path, headers=headers, attempts=self.attempts,
            backoff_s=self.backoff_s, max_backoff_s=self.max_backoff_s,
            error_for=lambda response: error_for(response.status_code, _message_of(response)),
            unreachable=lambda exc: ServerError(
                f"Symbl could not be reached at {self.api_url}: {exc.__class__.__name__}: {exc}", 0),
            retryable=(RateLimited, ServerError), label=f"Symbl {method} {path}", **kwargs)
        return response.json() if response.content else {}

    # -- Conversation API (§6) -----------------------------------------------------------------

    async def conversation(self, conversation_id):
        return await self.request("GET", f"/v1/conversations/{conversation_id}")

    async def messages(self, conversation_id, *, verbose=False, sentiment=False):
        params = {"verbose": str(verbose).lower(), "sentiment": str(sentiment).lower()}
        return (await self.request("GET", f"/v1/conversations/{conversation_id}/messages", params=params))["messages"]

    async def questions(self, conversation_id):
        return (await self.request("GET", f"/v1/conversations/{conversation_id}/questions"))["questions"]

    async def action_items(self, conversation_id):
        return (await self.request("GET", f"/v1/conversations/{conversation_id}/action-items"))["actionItems"]

    async def follow_ups(self, conversation_id):
        return (await self.request("GET", f"/v1/conversations/{conversation_id}/follow-ups"))["followUps"]

    async def topics(self, conversation_id):
        return (await self.request("GET", f"/v1/conversations/{conversation_id}/topics"))["topics"]

    async def members(self, conversation_id):
        return (await self.request("GET", f"/v1/conversations/{conversation_id}/members"))["members"]

    async def summary(self, conversation_id):
        """Summary sentences ``[{id, text, messageRefs}]``; :class:`NotFound` while still processing."""
        return (await self.request("GET", f"/v1/conversations/{conversation_id}/summary"))["summary"]

    async def analytics(self, conversation_id):
        return await self.request("GET", f"/v1/conversations/{conversation_id}/analytics")

    async def trackers_detected(self, conversation_id):
        """Tracker hits ``[{id, name, matches: [{type, value, messageRefs: [{id, text, offset}], insightRefs}]}]``."""
        return await self.request("GET", f"/v1/conversations/{conversation_id}/trackers-detected")

    async def delete_conversation(self, conversation_id):
        """``DELETE /v1/conversations/{id}``: Symbl deletes the conversation and all its data.
        Raises :class:`NotFound` when Symbl no longer has it."""
        return await self.request("DELETE", f"/v1/conversations/{quote(conversation_id, safe='')}")

    async def put_speakers(self, conversation_id, speaker_events):
        """Speakers API: attribute messages by ``[{type: started_speaking|stopped_speaking, user: {id, name,
        email}, offset: {seconds, nanos}}]`` (offsets from conversation start). Returns Symbl's message."""
        body = await self.request("PUT", f"/v1/conversations/{conversation_id}/speakers",
                                  json={"speakerEvents": list(speaker_events)})
        return body.get("message", "")

    # -- Async API and Jobs (§7) ---------------------------------------------------------------

    async def process_audio(self, wav, *, name, content_type="audio/wav", diarization_speakers=None):
        """Submit a whole recording (``wav``: bytes or a file path). Returns ``(conversation_id, job_id)``."""
        params = {"name": name}
        if diarization_speakers:
            params.update(enableSpeakerDiarization="true", diarizationSpeakerCount=str(diarization_speakers))
        content = wav if isinstance(wav, bytes) else open(wav, "rb").read()
        body = await self.request("POST", "/v1/process/audio", params=params, content=content,
                                  headers={"Content-Type": content_type})
        return str(body["conversationId"]), body["jobId"]

    async def job_status(self, job_id):
        """``scheduled``, ``in_progress``, ``completed`` or ``failed``."""
        return (await self.request("GET", f"/v1/job/{job_id}"))["status"]

    async def wait_for_job(self, job_id, *, timeout_s=3600):
        """Poll a job until ``completed``; raises :class:`SymblError` when it failed or timed out."""
        deadline = time.monotonic() + timeout_s
        while True:
            status = await self.job_status(job_id)
            if status == "completed":
                return
            if status == "failed":
                raise SymblError(f"Symbl could not process the recording (job {job_id} failed).")
            if time.monotonic() > deadline:
                raise SymblError(f"Symbl's job {job_id} did not finish within {timeout_s} s.")
            await asyncio.sleep(self.job_poll_s)
