"""Zoom webhooks: ``POST /streaming/zoom/webhook`` (one URL for every workspace; the Zoom app's
"Event notification endpoint URL").

Zoom signs each request with the app's webhook secret token
(https://developers.zoom.us/docs/api/webhooks/#verify-webhook-events):

- ``x-zm-request-timestamp``: seconds since the epoch;
- ``x-zm-signature``: ``"v0=" + hex(HMAC-SHA256(secret_token, "v0:{timestamp}:{raw body}"))``.

A request with a missing or wrong signature, or a timestamp more than :data:`MAX_AGE_SECONDS`
away from now (a replay), is answered 401. The ``endpoint.url_validation`` challenge is answered
``{"plainToken", "encryptedToken": hex(HMAC-SHA256(secret_token, plainToken))}``
(https://developers.zoom.us/docs/api/webhooks/#validate-your-webhook-endpoint); other events are
acknowledged with 200.

The workspace is the one whose Zoom account signed the request: the payload's ``account_id`` names
the Zoom account (``meeting.*`` events), and of the workspaces with that account the one whose webhook
secret token verifies the signature is it (``endpoint.url_validation`` carries no account id: every
Zoom account's secret is tried). What the events do
(https://developers.zoom.us/docs/api/meetings/events/):

* ``meeting.started``: the workspace's Zoom streams for that meeting (``object.id``) that wait for it
  (``auto_start``) start: their session's source stops waiting;
* ``meeting.ended``: the sessions of that meeting's streams are stopped (as Stop does);
* ``recording.completed``: the recording's TIMELINE attributes the finished sessions' transcripts
  (:func:`streaming.zoom.tasks.apply_zoom_timeline`, after commit).

A refused request changes nothing.
"""
import hashlib
import hmac
import json
import logging
import time

from django.db import transaction
from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from meetings.crypto import SecretError
from meetings.models import Meeting, ProviderAccount

log = logging.getLogger(__name__)

MAX_AGE_SECONDS = 300
URL_VALIDATION = "endpoint.url_validation"


class SignatureError(Exception):
    """A request Zoom did not sign (or signed too long ago); the message says which."""


def sign(secret, timestamp, body):
    """The ``x-zm-signature`` value for ``body`` (bytes) sent at ``timestamp`` (epoch seconds)."""
    message = b"v0:" + str(timestamp).encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def verify(secret, headers, body, now=None):
    """Check a webhook's signature headers against ``body`` (the raw bytes).

    ``headers`` is a case-insensitive mapping (``request.headers``). Raises
    :class:`SignatureError` when the signature or timestamp is missing, the timestamp is not an
    integer or is more than :data:`MAX_AGE_SECONDS` from ``now`` (epoch seconds), or the
    signature does not match.
    """
    timestamp, signature = headers.get("x-zm-request-timestamp", ""), headers.get("x-zm-signature", "")
    if not timestamp or not signature:
        raise SignatureError("missing x-zm-request-timestamp or x-zm-signature")
    try:
        sent = int(timestamp)
    except ValueError:
        raise SignatureError("malformed x-zm-request-timestamp") from None
    if abs((time.time() if now is None else now) - sent) > MAX_AGE_SECONDS:
        raise SignatureError("stale x-zm-request-timestamp")
    if not hmac.compare_digest(sign(secret, timestamp, body).encode(), signature.encode()):
        raise SignatureError("x-zm-signature does not match")


def encrypted_token(secret, plain_token):
    """The ``encryptedToken`` answering an ``endpoint.url_validation`` challenge (hex string)."""
    return hmac.new(secret.encode(), plain_token.encode(), hashlib.sha256).hexdigest()


def client_address(request):
    """The caller's address, for log lines."""
    return request.META.get("REMOTE_ADDR", "?")


def _candidates(account_id):
    """``(workspace, webhook secret)`` of the Zoom accounts that may have sent a request for
    ``account_id`` (all accounts with a webhook secret when None)."""
    accounts = ProviderAccount.objects.filter(provider=ProviderAccount.Provider.ZOOM).select_related("workspace")
    found = []
    for account in accounts:
        if account_id is not None and account.config.get("account_id") != account_id:
            continue
        try:
            secret = account.secrets().get("webhook_secret_token")
        except SecretError:
            log.warning("Zoom account %s: the webhook secret token cannot be decrypted", account.pk)
            continue
        if secret:
            found.append((account.workspace, secret))
    return found


@csrf_exempt
@require_POST
def account_webhook(request):
    """``POST /streaming/zoom/webhook``: one URL for every workspace (see the module docstring)."""
    try:
        payload = json.loads(request.body)
        inner = payload.get("payload") if isinstance(payload, dict) else None
        account_id = inner.get("account_id") if isinstance(inner, dict) else None
    except ValueError:
        payload, account_id = None, None
    candidates = _candidates(account_id if isinstance(account_id, str) and account_id else None)
    if not candidates:
        log.warning("Refused a Zoom webhook from %s: no workspace has a Zoom account %s with a webhook secret token",
                    client_address(request), f"{account_id!r}" if account_id else "")
        return JsonResponse({"error": "No workspace's Zoom account with a webhook secret token matches this "
                                      "request."}, status=401)
    problem = None
    for workspace, secret in candidates:
        try:
            verify(secret, request.headers, request.body)
        except SignatureError as exc:
            problem = exc
            if str(exc).startswith(("missing", "malformed", "stale")):
                break  # the same for every secret
            continue
        return _handle(request, workspace, secret)
    log.warning("Refused a Zoom webhook from %s: %s", client_address(request), problem)
    return JsonResponse({"error": f"Invalid signature: {problem}."}, status=401)


def _handle(request, workspace, secret):
    """A verified request from ``workspace``'s Zoom account."""
    try:
        payload = json.loads(request.body)
        event = payload["event"]
    except (ValueError, KeyError, TypeError):
        return JsonResponse({"error": "Expected a JSON object with an 'event'."}, status=400)
    inner = payload.get("payload")
    if event == URL_VALIDATION:
        plain = inner.get("plainToken") if isinstance(inner, dict) else None
        if not isinstance(plain, str) or not plain:
            return JsonResponse({"error": "endpoint.url_validation without a plainToken."}, status=400)
        log.info("Answered Zoom's endpoint validation for workspace %s", workspace.pk)
        return JsonResponse({"plainToken": plain, "encryptedToken": encrypted_token(secret, plain)})
    obj = inner.get("object") if isinstance(inner, dict) else None
    meeting_id = str(obj.get("id") or "") if isinstance(obj, dict) else ""
    handler = EVENTS.get(event)
    if handler is None or not meeting_id:
        log.info("Zoom webhook %r for workspace %s: nothing to do", event, workspace.pk)
        return HttpResponse(status=200)
    done = handler(workspace, meeting_id)
    log.info("Zoom webhook %r for meeting %s of workspace %s: %d session(s)", event, meeting_id, workspace.pk, done)
    return JsonResponse({"sessions": done})


def _streams(workspace, zoom_meeting_id):
    from ..models import ZoomStream

    return ZoomStream.objects.filter(meeting__workspace=workspace, zoom_meeting_id=zoom_meeting_id)


def meeting_started(workspace, zoom_meeting_id):
    """Release the streams waiting for this Zoom meeting; returns how many."""
    return _streams(workspace, zoom_meeting_id).filter(
        auto_start=True, zoom_started=False, meeting__status__in=Meeting.ACTIVE).update(zoom_started=True)


def meeting_ended(workspace, zoom_meeting_id):
    """Stop the sessions of this Zoom meeting's streams; returns how many."""
    from meetings.sessions import request_stop

    stopped = 0
    for stream in _streams(workspace, zoom_meeting_id).filter(meeting__status__in=Meeting.ACTIVE).select_related("meeting"):
        stopped += request_stop(stream.meeting)
    return stopped


def recording_completed(workspace, zoom_meeting_id):
    """Attribute the finished sessions of this Zoom meeting from its recording (after commit)."""
    from .tasks import apply_zoom_timeline

    ids = list(_streams(workspace, zoom_meeting_id).filter(
        meeting__status=Meeting.Status.COMPLETED, timeline_applied_at=None).values_list("meeting_id", flat=True))
    for meeting_id in ids:
        transaction.on_commit(lambda meeting_id=meeting_id: _apply_later(apply_zoom_timeline, meeting_id))
    return len(ids)


def _apply_later(task, meeting_id):
    # Zoom wants its answer within 3 s and retries otherwise: a failure here (run eagerly on the
    # embedded default) is logged, never Zoom's problem.
    try:
        task.delay(meeting_id)
    except Exception:
        log.exception("meeting %s: applying the Zoom TIMELINE failed", meeting_id)


EVENTS = {"meeting.started": meeting_started, "meeting.ended": meeting_ended, "recording.completed": recording_completed}
