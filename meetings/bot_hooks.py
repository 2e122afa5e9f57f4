"""MeetStream bot callbacks: ``POST /hooks/<hook_key>/meetstream``.

MeetStream signs each callback with the webhook signing secret: ``X-MeetStream-Signature`` is
hex(HMAC-SHA256(secret, raw body)), optionally prefixed ``sha256=``
(https://docs.meetstream.ai/guides/webhooks/webhooks-and-events; ``../shared/api-contracts.md``
§11.1). A missing or wrong signature is answered 401. A verified callback is a JSON object such
as ``{"event": "bot.inmeeting", "bot_id": "…", "bot_status": "InMeeting", "status_code": 200, …}``
(older callbacks name the event ``bot_event`` or carry only ``bot_status``); it is acknowledged
with 200 at once, since MeetStream does not retry.
"""
import hashlib
import hmac
import json
import logging

from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from .hooks import client_address, signing_secret
from .models import ProviderAccount

log = logging.getLogger(__name__)

PREFIX = "sha256="


def sign(secret, body):
    """The ``X-MeetStream-Signature`` of ``body`` (bytes): a hex digest, without prefix."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret, body, signature):
    """Whether ``signature`` (the header, with or without ``sha256=``) signs ``body`` with ``secret``."""
    signature = (signature or "").strip()
    if signature.lower().startswith(PREFIX):
        signature = signature[len(PREFIX):]
    if not signature:
        return False
    return hmac.compare_digest(sign(secret, body).encode(), signature.lower().encode())


def event_name(payload):
    """The callback's event: ``event``, else ``bot_event``, else the legacy status fields."""
    for key in ("event", "bot_event", "bot_status", "audio_status", "transcript_status"):
        if isinstance(payload.get(key), str) and payload[key]:
            return payload[key] if key in ("event", "bot_event") else f"{key}={payload[key]}"
    return "?"


@csrf_exempt
@require_POST
def callback(request, hook_key):
    workspace, secret = signing_secret(hook_key, ProviderAccount.Provider.MEETSTREAM, "webhook_secret")
    if not verify(secret, request.body, request.headers.get("X-MeetStream-Signature", "")):
        log.warning("Refused a MeetStream callback for workspace %s from %s: X-MeetStream-Signature does not match",
                    workspace.pk, client_address(request))
        return JsonResponse({"error": "Invalid signature."}, status=401)
    try:
        payload = json.loads(request.body)
    except ValueError:
        payload = None
    if not isinstance(payload, dict):
        return JsonResponse({"error": "Expected a JSON object."}, status=400)
    log.info("MeetStream callback %r for bot %r (workspace %s)", event_name(payload), payload.get("bot_id"), workspace.pk)
    return JsonResponse({"received": True})
