"""The bot vendor's calls to Parley: ``POST /bots/<token>/callback`` (lifecycle), ``…/live`` (live
transcription) and ``…/participants`` (realtime participant events).

``<token>`` is the bot's unguessable callback token (:attr:`Bot.callback_token`); when the
workspace's vendor account has a webhook secret the vendor's signature is required as well
(MeetStream: ``X-MeetStream-Signature``, api-contracts §11.1). A wrong token is 404, a wrong
signature 401, both logged. A verified callback is answered 200 at once (MeetStream does not
retry): ``{"received": true, "outcome": "applied" | "kept" | "duplicate"}``.
"""
import json
import logging

from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from meetings.models import Bot

from . import lifecycle
from .vendor import VendorError, vendor_for

log = logging.getLogger(__name__)


@csrf_exempt
@require_POST
def receive(request, bot_token):
    address = request.META.get("REMOTE_ADDR", "?")
    bot = Bot.objects.select_related("meeting__workspace").filter(callback_token=bot_token).first()
    if bot is None:
        log.warning("Refused a bot callback from %s: unknown callback token", address)
        return JsonResponse({"error": "No such bot."}, status=404)
    try:
        vendor = vendor_for(bot)
    except VendorError as exc:
        log.warning("Refused a callback for bot %s: %s", bot.pk, exc)
        return JsonResponse({"error": "This bot's vendor account is gone."}, status=404)
    if not vendor.verify(request.body, request.headers):
        log.warning("Refused a callback for bot %s from %s: the signature does not match", bot.pk, address)
        return JsonResponse({"error": "Invalid signature."}, status=401)
    try:
        payload = json.loads(request.body)
    except ValueError:
        payload = None
    if not isinstance(payload, dict):
        log.warning("Refused a callback for bot %s: not a JSON object", bot.pk)
        return JsonResponse({"error": "Expected a JSON object."}, status=400)
    claimed = payload.get("bot_id")
    if claimed and bot.vendor_bot_id and str(claimed) != bot.vendor_bot_id:
        log.warning("Refused a callback for bot %s: it names bot %r", bot.pk, claimed)
        return JsonResponse({"error": "The callback is for another bot."}, status=400)
    outcome = lifecycle.apply(bot, vendor.parse(payload), payload)
    return JsonResponse({"received": True, "outcome": outcome})
