"""The voice webhook, ``POST /telephony/twilio/voice``: a call comes in, Parley answers TwiML.

Twilio POSTs the call's parameters (``AccountSid``, ``CallSid``, ``From``, ``To``, …;
https://www.twilio.com/docs/voice/twiml#request-parameters) signed with ``X-Twilio-Signature``
(https://www.twilio.com/docs/usage/webhooks/webhooks-security), checked with the ``twilio``
package's RequestValidator and the auth token of the workspace owning ``AccountSid``; a bad
signature is answered 403 and logged.

The answer (https://www.twilio.com/docs/voice/twiml/stream) creates the meeting (source
``twilio``) and streams the call to ``wss://<host>/telephony/twilio/media?call=<meeting id>``:

* by default ``<Connect><Stream>``: the caller talks to Parley (Twilio streams the inbound track,
  the only one ``<Connect>`` allows) until the session stops and Parley closes the socket;
* with ``?forward=<phone number>`` on the webhook URL set in Twilio's console,
  ``<Start><Stream track="both_tracks">`` then ``<Dial>`` that number: the call goes on between
  the caller and the other party while Parley listens to both (two speakers).

``<Parameter>`` elements carry the meeting id and the call's numbers to the socket's ``start`` message.
A call that no workspace can take hears why (``<Say>``) and is hung up.
"""
import logging

from django.conf import settings
from django.db import transaction
from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from twilio.twiml.voice_response import Connect, Start, VoiceResponse

from meetings import sessions
from meetings.models import Meeting

from .. import phones
from ..models import TwilioCall
from ..twilio_hooks import called_url, verify
from .accounts import NoAccount, account_for, call_owner

log = logging.getLogger(__name__)

MEDIA_PATH = "/telephony/twilio/media"


def twiml(response):
    return HttpResponse(str(response), content_type="application/xml")


def refuse(reason):
    """TwiML that tells the caller why Parley cannot take the call, then hangs up."""
    response = VoiceResponse()
    response.say(reason)
    response.hangup()
    return twiml(response)


def stream_url(request, meeting_id):
    """Where Twilio opens the media socket: ``TWILIO_MEDIA_STREAM_URL`` when set (a proxy's public
    name), else ``wss://`` and the host the webhook was called on."""
    base = settings.TWILIO_MEDIA_STREAM_URL or f"wss://{request.get_host()}{MEDIA_PATH}"
    return f"{base}?call={meeting_id}"


@csrf_exempt
@require_POST
def voice(request):
    """An incoming call: refuse it (no workspace, bad signature, bad ``forward``) or start its
    session and answer the TwiML that streams it to Parley."""
    params = request.POST
    call_sid = params.get("CallSid", "")
    if not params.get("AccountSid"):
        # Not a call at all (Twilio always sends its AccountSid): nothing to answer in TwiML.
        log.warning("Refused a voice webhook without AccountSid from %s", request.META.get("REMOTE_ADDR", "?"))
        return HttpResponse("Not a Twilio call: AccountSid is missing.", status=403, content_type="text/plain")
    try:
        workspace, auth_token = account_for(params.get("AccountSid", ""))
    except NoAccount as exc:
        log.warning("Twilio call %s from account %r refused: %s", call_sid or "?", params.get("AccountSid", ""), exc)
        return refuse(f"{exc} Goodbye.")
    if not verify(auth_token, called_url(request), params, request.headers.get("X-Twilio-Signature", "")):
        log.warning("Refused a Twilio voice webhook for workspace %s from %s: X-Twilio-Signature does not match %s",
                    workspace.pk, request.META.get("REMOTE_ADDR", "?"), called_url(request))
        return HttpResponse("Invalid X-Twilio-Signature.", status=403, content_type="text/plain")

    forward = request.GET.get("forward", "")
    if forward:
        try:
            forward = phones.e164(forward)
        except phones.InvalidInput as exc:
            log.warning("Twilio call %s: the webhook's forward number is wrong: %s", call_sid, exc)
            return refuse("This number is misconfigured in Parley: its forwarding number is not valid. Goodbye.")
    owner = call_owner(workspace)
    if owner is None:
        return refuse("The Parley workspace for this number has no administrator to own the call. Goodbye.")
    engine = request.GET.get("engine") or workspace.default_engine
    try:
        sessions.check_engine(engine)
    except sessions.SessionError as exc:
        log.warning("Twilio call %s: %s", call_sid, exc)
        return refuse("This number is misconfigured in Parley: its transcription engine is not available. Goodbye.")

    call = TwilioCall.objects.select_related("meeting").filter(call_sid=call_sid, meeting__workspace=workspace).first()
    if call is None:
        # Twilio retries a webhook that timed out: the same CallSid gets the same session.
        call = start_call(workspace, owner, engine, params, forward, request)
    log.info("Twilio call %s from %s: meeting %s (%s)", call_sid, call.from_number, call.meeting_id, call.mode)
    return twiml(answer(call))


def start_call(workspace, owner, engine, params, forward, request):
    """Create the meeting and its :class:`TwilioCall`; the runners are woken after commit."""
    caller = params.get("From", "")
    with transaction.atomic():
        meeting = Meeting.objects.create(
            title=(f"Call from {caller}" if caller else "Twilio call")[:200], source=Meeting.Source.TWILIO,
            engine=engine, owner=owner, workspace=workspace)
        call = TwilioCall.objects.create(
            meeting=meeting, account_sid=params.get("AccountSid", ""), call_sid=params.get("CallSid", ""),
            from_number=caller[:64], to_number=params.get("To", "")[:64],
            mode=TwilioCall.Mode.FORK if forward else TwilioCall.Mode.CONNECT, forward_to=forward,
            stream_url=stream_url(request, meeting.pk))
        transaction.on_commit(sessions.wake_runners)
    return call


def answer(call):
    """The TwiML for ``call``: ``<Connect><Stream>`` or ``<Start><Stream track="both_tracks">``
    and ``<Dial>``, with the session's ``<Parameter>`` elements."""
    response = VoiceResponse()
    if call.mode == TwilioCall.Mode.FORK:
        verb = Start()
        stream = verb.stream(url=call.stream_url, track="both_tracks", name=f"parley-{call.meeting_id}")
    else:
        verb = Connect()
        stream = verb.stream(url=call.stream_url, name=f"parley-{call.meeting_id}")
    stream.parameter(name="meeting", value=str(call.meeting_id))
    stream.parameter(name="from", value=call.from_number)
    stream.parameter(name="to", value=call.to_number)
    response.append(verb)
    if call.mode == TwilioCall.Mode.FORK:
        response.dial(call.forward_to)
    return response
