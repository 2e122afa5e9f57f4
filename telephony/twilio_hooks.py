"""Twilio callbacks: ``POST /hooks/<hook_key>/twilio/voice`` and ``…/twilio/status``.

Twilio signs every request with the account's auth token: ``X-Twilio-Signature`` is
base64(HMAC-SHA1(auth_token, full URL + the sorted POST parameters as name+value))
(https://www.twilio.com/docs/usage/webhooks/webhooks-security). The ``twilio`` package's
:class:`~twilio.request_validator.RequestValidator` checks it; the URL must be the one Twilio
called, so behind a TLS-terminating proxy ``SECURE_PROXY_SSL_HEADER`` (``PARLEY_BEHIND_TLS_PROXY``)
must be set for ``https`` to be seen. A request that fails the check is answered 403.

The voice webhook answers TwiML (https://www.twilio.com/docs/voice/twiml); until a number is
connected to a session it says so and hangs up. The call status callback
(https://www.twilio.com/docs/voice/api/call-resource#statuscallback) is acknowledged with 204.
"""
import logging
from functools import wraps

from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from twilio.request_validator import RequestValidator
from twilio.twiml.voice_response import VoiceResponse

from meetings.hooks import client_address, signing_secret
from meetings.models import ProviderAccount

log = logging.getLogger(__name__)

NOT_CONNECTED = "This number is not connected to a Parley session yet. Goodbye."


def called_url(request):
    """The URL Twilio requested, as it signed it: scheme (``SECURE_PROXY_SSL_HEADER`` respected),
    host, path and query string."""
    return request.build_absolute_uri()


def verify(auth_token, url, params, signature):
    """Whether ``signature`` (the ``X-Twilio-Signature`` header) signs ``url`` and ``params``
    (the POST parameters, a dict or QueryDict) with ``auth_token``."""
    if not signature:
        return False
    return RequestValidator(auth_token).validate(url, params, signature)


def twilio_view(view):
    """Find the workspace's auth token, refuse an unsigned request with 403, then call
    ``view(request, workspace)``."""

    @csrf_exempt
    @require_POST
    @wraps(view)
    def wrapper(request, hook_key):
        workspace, auth_token = signing_secret(hook_key, ProviderAccount.Provider.TWILIO, "auth_token")
        if not verify(auth_token, called_url(request), request.POST, request.headers.get("X-Twilio-Signature", "")):
            log.warning("Refused a Twilio %s callback for workspace %s from %s: X-Twilio-Signature does not match",
                        view.__name__, workspace.pk, client_address(request))
            return HttpResponse("Invalid X-Twilio-Signature.", status=403, content_type="text/plain")
        return view(request, workspace)

    return wrapper


@twilio_view
def voice(request, workspace):
    """An incoming call: TwiML saying the number is not connected to a session yet."""
    log.info("Twilio call %s to %s for workspace %s: no session to connect", request.POST.get("CallSid", "?"),
             request.POST.get("To", "?"), workspace.pk)
    response = VoiceResponse()
    response.say(NOT_CONNECTED)
    response.hangup()
    return HttpResponse(str(response), content_type="application/xml")


@twilio_view
def status(request, workspace):
    """A call status callback: logged and acknowledged."""
    log.info("Twilio call %s is %s (workspace %s)", request.POST.get("CallSid", "?"),
             request.POST.get("CallStatus", "?"), workspace.pk)
    return HttpResponse(status=204)
