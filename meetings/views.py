"""Dashboard views: thin; the session services and the access helper hold the logic."""
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from . import sessions
from .access import get_meeting_or_404, visible_meetings
from .forms import ApiTokenForm, StartSessionForm
from .models import ApiToken, Meeting


@login_required
def meeting_list(request):
    meetings = list(visible_meetings(request.user).select_related("owner")[:200])
    # While a session runs the list refreshes itself, so its badges stay current.
    any_active = any(m.is_active for m in meetings)
    return render(request, "meetings/list.html", {"meetings": meetings, "any_active": any_active})


@login_required
def start(request):
    form = StartSessionForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            if data["source"] == Meeting.Source.UPLOAD:
                meeting = sessions.start_upload(
                    request.user, upload=data["file"], title=data["title"], engine=data["engine"],
                    realtime=data["realtime"],
                )
            else:
                meeting = sessions.start_microphone(request.user, title=data["title"], engine=data["engine"])
        except sessions.SessionError as exc:
            form.add_error("file" if data["source"] == Meeting.Source.UPLOAD else None, str(exc))
        else:
            return redirect("meetings:live", meeting.pk)
    status = 400 if request.method == "POST" else 200
    return render(request, "meetings/start.html", {"form": form}, status=status)


@login_required
def detail(request, meeting_id):
    return redirect(get_meeting_or_404(request.user, meeting_id))


@login_required
def live(request, meeting_id):
    meeting = get_meeting_or_404(request.user, meeting_id)
    return render(request, "meetings/live.html", {"meeting": meeting, "can_write": meeting.owner_id == request.user.pk or request.user.is_staff})


@login_required
def review(request, meeting_id):
    meeting = get_meeting_or_404(request.user, meeting_id)
    speakers = {s.pk: s for s in meeting.speakers.all()}
    turns = []
    for utterance in meeting.utterances.filter(is_final=True):
        speaker = speakers.get(utterance.speaker_id)
        if turns and turns[-1]["speaker"] == speaker:
            turns[-1]["utterances"].append(utterance)
        else:
            turns.append({"speaker": speaker, "start_ms": utterance.start_ms, "utterances": [utterance]})
    context = {
        "meeting": meeting,
        "turns": turns,
        "insights": meeting.insights.prefetch_related("utterances"),
        "topics": meeting.topics.all()[:15],
        "summary": getattr(meeting, "summary", None),
    }
    return render(request, "meetings/review.html", context)


@require_POST
@login_required
def stop(request, meeting_id):
    meeting = get_meeting_or_404(request.user, meeting_id, write=True)
    if not sessions.request_stop(meeting):
        messages.info(request, "This meeting has already ended.")
    return redirect("meetings:live", meeting.pk)


@login_required
def tokens(request):
    form = ApiTokenForm(request.POST or None)
    created = None
    if request.method == "POST" and form.is_valid():
        _, created = ApiToken.issue(request.user, form.cleaned_data["name"])
        form = ApiTokenForm()
    context = {"form": form, "created": created, "tokens": request.user.api_tokens.all()}
    return render(request, "meetings/tokens.html", context)


@require_POST
@login_required
def revoke_token(request, token_id):
    token = get_object_or_404(ApiToken, pk=token_id, user=request.user, revoked_at__isnull=True)
    token.revoked_at = timezone.now()
    token.save(update_fields=["revoked_at"])
    messages.success(request, f"Token {token.prefix}… revoked.")
    return redirect(reverse("meetings:tokens"))
