"""Zoom webhooks: ``POST /hooks/<hook_key>/zoom``.

Zoom signs each request with the app's webhook secret token
(https://developers.zoom.us/docs/api/webhooks/#verify-webhook-events):

- ``x-zm-request-timestamp``: seconds since the epoch;
- ``x-zm-signature``: ``"v0=" + hex(HMAC-SHA256(secret_token, "v0:{timestamp}:{raw body}"))``.

A request with a missing or wrong signature, or a timestamp more than :data:`MAX_AGE_SECONDS`
away from now (a replay), is answered 401. The ``endpoint.url_validation`` challenge is answered
``{"plainToken", "encryptedToken": hex(HMAC-SHA256(secret_token, plainToken))}``
(https://developers.zoom.us/docs/api/webhooks/#validate-your-webhook-endpoint); other events are
acknowledged with 200 (what they do belongs to the Zoom source).
"""
import hashlib
import hmac
import json
import logging
import time

from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from meetings.hooks import client_address, signing_secret
from meetings.models import ProviderAccount

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


@csrf_exempt
@require_POST
def webhook(request, hook_key):
    workspace, secret = signing_secret(hook_key, ProviderAccount.Provider.ZOOM, "webhook_secret_token")
    try:
        verify(secret, request.headers, request.body)
    except SignatureError as exc:
        log.warning("Refused a Zoom webhook for workspace %s from %s: %s", workspace.pk, client_address(request), exc)
        return JsonResponse({"error": "Invalid signature."}, status=401)
    try:
        payload = json.loads(request.body)
        event = payload["event"]
    except (ValueError, KeyError, TypeError):
        return JsonResponse({"error": "Expected a JSON object with an 'event'."}, status=400)
    if event == URL_VALIDATION:
        inner = payload.get("payload")
        plain = inner.get("plainToken") if isinstance(inner, dict) else None
        if not isinstance(plain, str) or not plain:
            return JsonResponse({"error": "endpoint.url_validation without a plainToken."}, status=400)
        log.info("Answered Zoom's endpoint validation for workspace %s", workspace.pk)
        return JsonResponse({"plainToken": plain, "encryptedToken": encrypted_token(secret, plain)})
    log.info("Zoom webhook %r for workspace %s", event, workspace.pk)
    return HttpResponse(status=200)
