"""Dial-in pages: the form (``/telephony/dial-in/new``), the session's call page with its
"now speaking" buttons, and the speaker-event action they post to."""
import logging
from urllib.parse import urlsplit

import httpx
from asgiref.sync import async_to_sync
from django.contrib import messages
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from meetings import sessions
from meetings.access import VIEW, WRITE, get_meeting_or_404, workspace_required
from meetings.models import Meeting

from ..models import DialIn
from . import symbl as telephony
from .forms import DialInForm
from .sessions import start_dial_in

log = logging.getLogger(__name__)


@workspace_required(WRITE)
def new(request):
    """The form. A first submit shows what will be dialed (the number and the DTMF sequence);
    "Dial" starts the session."""
    form = DialInForm(request.POST or None)
    if request.method != "POST":
        return render(request, "telephony/dial_in_new.html", {"form": form})
    if not form.is_valid():
        return render(request, "telephony/dial_in_new.html", {"form": form}, status=400)
    if request.POST.get("confirm") != "dial":
        return render(request, "telephony/dial_in_new.html", {"form": form, "preview": form.cleaned_data})
    try:
        meeting = start_dial_in(request.user, request.workspace, form.cleaned_data)
    except sessions.SessionError as exc:
        form.add_error(None, str(exc))
        return render(request, "telephony/dial_in_new.html", {"form": form}, status=400)
    return redirect("telephony:dial-in", meeting.pk)


@workspace_required(VIEW)
def call(request, meeting_id):
    """The call's page: what was dialed, Symbl's ids, and who is speaking now."""
    meeting = get_meeting_or_404(request.user, meeting_id)
    dial_in = DialIn.objects.filter(meeting=meeting).first()
    if dial_in is None:
        return redirect(meeting)  # not a dial-in: the meeting's own page
    participants = list(meeting.speakers.values_list("name", flat=True))
    return render(request, "telephony/dial_in.html", {"meeting": meeting, "dial_in": dial_in,
                                                        "participants": participants})


@require_POST
@workspace_required(VIEW)
def speaker(request, meeting_id):
    """``POST participant=<name>&event=started_speaking|stopped_speaking``: pushed to the call's
    ``eventUrl`` while it is live (Symbl attributes what it hears to that participant). Answers
    JSON ``{"ok": true}``, or ``{"error"}`` with 400 (bad input), 409 (no live call) or 502
    (Symbl refused it)."""
    meeting = get_meeting_or_404(request.user, meeting_id, write=True)
    dial_in = DialIn.objects.filter(meeting=meeting).first()
    participant = (request.POST.get("participant") or "").strip()[:200]
    kind = request.POST.get("event") or "started_speaking"
    if not participant or kind not in telephony.SPEAKER_EVENTS:
        return JsonResponse({"error": "Name the participant, and an event of started_speaking or stopped_speaking."},
                            status=400)
    if dial_in is None or not dial_in.event_url or meeting.status not in (Meeting.Status.LIVE, Meeting.Status.CONNECTING):
        return JsonResponse({"error": "The call is not in progress."}, status=409)
    from streaming.engines.symbl.client import SymblError
    from streaming.engines.symbl.credentials import client_for

    event = telephony.speaker_event(kind, participant, participant)

    async def push():
        client = client_for(meeting)
        try:
            # Only eventUrl's path: the workspace's token goes to the configured SYMBL_API_URL,
            # never to a host named in an answer.
            return await client.request("POST", urlsplit(dial_in.event_url).path, json=event)
        finally:
            await client.aclose()

    try:
        async_to_sync(push)()
    except (SymblError, httpx.HTTPError) as exc:
        log.warning("meeting %s: speaker event refused by Symbl: %s", meeting.pk, exc)
        return JsonResponse({"error": f"Symbl refused the speaker event: {exc}"}, status=502)
    if request.headers.get("Accept", "").startswith("application/json"):
        return JsonResponse({"ok": True, "event": event})
    messages.info(request, f"Now speaking: {participant}")
    return redirect("telephony:dial-in", meeting.pk)

