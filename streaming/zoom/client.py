"""Zoom REST client: Server-to-Server OAuth, a meeting's custom live stream, its recordings and
the TIMELINE file.

Sources (digest in ``shared/api-contracts.md`` §8):

* OAuth: ``POST {ZOOM_OAUTH_URL}/oauth/token?grant_type=account_credentials&account_id={id}`` with
  ``Authorization: Basic base64(client_id:client_secret)`` → ``{"access_token", "expires_in": s, …}``
  (https://developers.zoom.us/docs/internal-apps/s2s-oauth/). There is no refresh token and Zoom
  advises against issuing a token per call, so tokens are cached per (OAuth URL, account, client)
  for the whole process until shortly before ``expires_in`` runs out; a call answered 401 renews
  the token once.
* ``PATCH {ZOOM_API_URL}/meetings/{meetingId}/livestream`` ``{stream_url, stream_key, page_url}`` → 204
  and ``PATCH …/livestream/status`` ``{"action": "start"|"stop", "settings": {…}}`` → 204
  (https://developers.zoom.us/docs/api/meetings/#tag/meetings/PATCH/meetings/{meetingId}/livestream/status).
* ``GET {ZOOM_API_URL}/meetings/{meetingId}/recordings?include_fields=download_access_token`` and the
  TIMELINE file's ``download_url`` with that token
  (https://developers.zoom.us/docs/api/meetings/#tag/cloud-recording/GET/meetings/{meetingId}/recordings).

``ZOOM_API_URL`` includes the ``/v2`` prefix. Zoom answers errors as ``{"code", "message"}``
(https://developers.zoom.us/docs/api/errors/) and OAuth errors as ``{"reason", "error"}``; both
become :class:`ZoomError` subclasses carrying Zoom's code and message, so the user reads what
Zoom said.
"""
from urllib.parse import quote

import httpx
from django.conf import settings

from streaming.tls import tls_context
from streaming.tokens import TokenCache, account_key
from streaming.vendor_http import TokenClient, send_with_backoff

# Keyed by (oauth url, account id, client id, sha256(secret)).
_TOKENS = TokenCache()


class ZoomError(Exception):
    """Zoom refused or failed a request. ``status`` is the HTTP status (0: Zoom unreachable),
    ``code`` Zoom's error code (int, or the OAuth ``error`` string), ``message`` Zoom's words."""

    def __init__(self, message, status=0, code=None):
        super().__init__(message)
        self.message, self.status, self.code = message, status, code

    def __str__(self):
        detail = ", ".join(str(x) for x in (self.status or None, self.code) if x not in (None, ""))
        return f"Zoom: {self.message}" + (f" ({detail})" if detail else "")


class Unauthorized(ZoomError):
    """Wrong client id or secret (OAuth ``invalid_client``), a wrong account id, or a refused token."""


class NotConfigured(Unauthorized):
    """The workspace has no Zoom account (or it lacks a value)."""


class NotFound(ZoomError):
    """The meeting (or its recording) does not exist for this account (404; code 3001 or 1001)."""


class LiveStreamNotEnabled(ZoomError):
    """The account or meeting does not allow custom live streaming (400; code 3000 or 1010)."""


class RateLimited(ZoomError):
    """429: Zoom asks to wait (``retry_after`` s when it said)."""


class ServerError(ZoomError):
    """5xx, or Zoom could not be reached."""


def _said(response):
    """``(message, code)`` of a Zoom error answer."""
    try:
        body = response.json()
    except ValueError:
        return (response.text.strip()[:200] or response.reason_phrase), None
    if not isinstance(body, dict):
        return str(body)[:200], None
    message = body.get("message") or body.get("reason") or body.get("error_description") or str(body)[:200]
    errors = body.get("errors")
    if isinstance(errors, list) and errors:
        message += " " + "; ".join(f"{e.get('field', '')}: {e.get('message', '')}" for e in errors if isinstance(e, dict))
    return message, body.get("code", body.get("error"))


def error_for(response):
    """The typed :class:`ZoomError` for an error answer."""
    message, code = _said(response)
    status = response.status_code
    if status == 401 or code == "invalid_client":
        return Unauthorized(message, status, code)
    if status == 404 or code in (1001, 3001):
        return NotFound(message, status, code)
    if status == 429:
        error = RateLimited(message, status, code)
        retry = response.headers.get("Retry-After", "")
        error.retry_after = float(retry) if retry.isdigit() else None
        return error
    if status >= 500:
        return ServerError(message, status, code)
    if code in (3000, 1010) or "live stream" in message.lower():
        return LiveStreamNotEnabled(message, status, code)
    if code == "invalid_request" and "account" in message.lower():
        return Unauthorized(message, status, code)
    return ZoomError(message, status, code)


def meeting_path(meeting_id):
    """A meeting id or UUID as a path segment: UUIDs starting with ``/`` or holding ``//`` are
    double-encoded, as Zoom requires."""
    meeting_id = str(meeting_id)
    once = quote(meeting_id, safe="")
    return quote(once, safe="") if meeting_id.startswith("/") or "//" in meeting_id else once


class ZoomClient(TokenClient):
    """One Zoom account's client (a Server-to-Server OAuth app). Use ``async with``.

    ``api_url`` defaults to ``settings.ZOOM_API_URL`` (with ``/v2``), ``oauth_url`` to
    ``settings.ZOOM_OAUTH_URL``. Transport errors, 5xx and 429 are retried at most
    :attr:`attempts` times with backoff (``Retry-After`` honoured, capped at :attr:`max_backoff_s`).
    """

    tokens = _TOKENS
    attempts = 3
    backoff_s = 0.5
    max_backoff_s = 8.0

    def __init__(self, account_id, client_id, client_secret, *, api_url=None, oauth_url=None, timeout=30.0):
        self.account_id, self.client_id, self._secret = account_id, client_id, client_secret
        self.api_url = (api_url or settings.ZOOM_API_URL).rstrip("/")
        self.oauth_url = (oauth_url or settings.ZOOM_OAUTH_URL).rstrip("/")
        self._key = account_key(self.oauth_url, account_id, client_id, secret=client_secret)
        self.http = httpx.AsyncClient(timeout=timeout, verify=tls_context())

    @classmethod
    def from_values(cls, values, **kwargs):
        """A client from a provider account's values (``meetings.providers.values_of``)."""
        missing = [n for n in ("account_id", "client_id", "client_secret") if not values.get(n)]
        if missing:
            raise NotConfigured(f"The Zoom account lacks {', '.join(missing)}: an admin sets them under "
                                "Workspace → Provider accounts.")
        return cls(values["account_id"], values["client_id"], values["client_secret"], **kwargs)

    # -- OAuth ---------------------------------------------------------------------------------

    async def _issue_token(self):
        """``(access_token, expires_in)`` of a new token for this account and app. Raises
        :class:`Unauthorized` for a wrong client id, client secret or account id,
        :class:`ServerError`/:class:`RateLimited` when retries ran out."""
        response = await self._send("POST", f"{self.oauth_url}/oauth/token",
                                    params={"grant_type": "account_credentials", "account_id": self.account_id},
                                    auth=(self.client_id, self._secret))
        body = response.json()
        try:
            return body["access_token"], float(body["expires_in"])
        except (KeyError, TypeError, ValueError):
            raise ZoomError(f"Zoom's token answer lacks access_token/expires_in: {body!r}"[:300]) from None

    # -- requests ------------------------------------------------------------------------------

    async def request(self, method, path_or_url, **kwargs):
        """An authenticated request (``path`` under ``api_url``, or a full URL); returns the
        ``httpx.Response`` (2xx). A 401 renews the token and retries once; raises :class:`ZoomError`."""
        url = path_or_url if "://" in path_or_url else self.api_url + path_or_url
        return await self.with_fresh_token(
            lambda token: self._send(method, url, headers={"Authorization": f"Bearer {token}"}, **kwargs),
            Unauthorized)

    async def _send(self, method, url, **kwargs):
        shown = str(httpx.URL(url).copy_with(query=None))
        return await send_with_backoff(
            self.http, method, url, attempts=self.attempts, backoff_s=self.backoff_s,
            max_backoff_s=self.max_backoff_s, error_for=error_for,
            unreachable=lambda exc: ServerError(f"could not reach {shown}: {exc.__class__.__name__}: {exc}"),
            retryable=(RateLimited, ServerError), label=f"Zoom {method} {shown}", **kwargs)

    # -- live stream ---------------------------------------------------------------------------

    async def set_livestream(self, meeting_id, *, stream_url, stream_key, page_url):
        """Register the meeting's custom live stream: ``stream_url`` (RTMP server URL, ≤1024 chars),
        ``stream_key`` (≤512), ``page_url`` (the page viewers watch, ≤1024). 204 from Zoom."""
        await self.request("PATCH", f"/meetings/{meeting_path(meeting_id)}/livestream",
                           json={"stream_url": stream_url, "stream_key": stream_key, "page_url": page_url})

    async def get_livestream(self, meeting_id):
        """``{stream_url, stream_key, page_url}`` of the meeting's custom live stream."""
        return (await self.request("GET", f"/meetings/{meeting_path(meeting_id)}/livestream")).json()

    async def livestream_status(self, meeting_id, action, *, display_name="Parley", active_speaker_name=False):
        """Start or stop (``action``) the meeting's live stream; Zoom starts pushing RTMP to the
        registered URL. ``display_name`` 1–50 chars. 204 from Zoom."""
        if action not in ("start", "stop"):
            raise ValueError("action must be 'start' or 'stop'")
        body = {"action": action}
        if action == "start":
            body["settings"] = {"active_speaker_name": bool(active_speaker_name), "display_name": display_name[:50]}
        await self.request("PATCH", f"/meetings/{meeting_path(meeting_id)}/livestream/status", json=body)

    # -- recordings ----------------------------------------------------------------------------

    async def recordings(self, meeting_id):
        """The meeting's cloud recordings, with ``download_access_token``: ``{uuid, id, start_time,
        recording_files: [{file_type, download_url, recording_start, …}], download_access_token}``.
        :class:`NotFound` when there is no recording (yet)."""
        return (await self.request("GET", f"/meetings/{meeting_path(meeting_id)}/recordings",
                                   params={"include_fields": "download_access_token"})).json()

    async def timeline(self, meeting_id):
        """The meeting's TIMELINE file (parsed JSON ``{"timeline": [{ts, users}], …}``) and its
        ``recording_start`` (ISO 8601 string). :class:`NotFound` when the recording has no
        TIMELINE file (Zoom writes it only with "Add a timestamp to the recording")."""
        listing = await self.recordings(meeting_id)
        files = [f for f in listing.get("recording_files") or [] if f.get("file_type") == "TIMELINE"]
        if not files:
            raise NotFound(f"The recording of meeting {meeting_id} has no TIMELINE file (turn on "
                           "\"Add a timestamp to the recording\" in Zoom's recording settings).", 404)
        token = listing.get("download_access_token")
        params = {"access_token": token} if token else {}
        response = await self.request("GET", files[0]["download_url"], params=params, follow_redirects=True)
        try:
            return response.json(), files[0].get("recording_start", "")
        except ValueError:
            raise ZoomError("Zoom's TIMELINE file is not JSON.", response.status_code) from None


def account_values(workspace_id):
    """The values of a workspace's Zoom account (sync; reads the database), or None when it has none.
    Raises ``meetings.crypto.SecretError`` when its secrets cannot be decrypted."""
    from meetings.models import Provider, ProviderAccount
    from meetings.providers import values_of

    account = ProviderAccount.objects.filter(workspace_id=workspace_id, provider=Provider.ZOOM).first()
    return values_of(account) if account else None
