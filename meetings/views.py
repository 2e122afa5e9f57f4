"""Dashboard views: thin; the session services and the access helper hold the logic."""
from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from . import audit, exports, media, retention_views, search, sessions
from . import review as review_data
from .access import VIEW, WRITE, get_meeting_or_404, meeting_for_user, visible_meetings, workspace_required
from .forms import ActionItemForm, ApiTokenForm, SpeakerNameForm, StartSessionForm
from .models import ApiToken, AuditEntry, Insight, Meeting, Speaker, Topic


@workspace_required(VIEW)
def meeting_list(request):
    meetings = list(visible_meetings(request.user, request.workspace).select_related("owner")[:200])
    # While a session runs the list refreshes itself, so its badges stay current.
    any_active = any(m.is_active for m in meetings)
    return render(request, "meetings/list.html", {"meetings": meetings, "any_active": any_active})


@workspace_required(WRITE)
def start(request):
    form = StartSessionForm(request.POST or None, request.FILES or None,
                            initial={"engine": request.workspace.default_engine})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            if data["source"] == Meeting.Source.UPLOAD:
                meeting = sessions.start_upload(
                    request.user, request.workspace, upload=data["file"], title=data["title"], engine=data["engine"],
                    realtime=data["realtime"], trackers=data["trackers"],
                )
            else:
                meeting = sessions.start_microphone(request.user, request.workspace, title=data["title"], engine=data["engine"],
                                                     trackers=data["trackers"])
        except sessions.SessionError as exc:
            form.add_error("file" if data["source"] == Meeting.Source.UPLOAD else None, str(exc))
        else:
            return redirect("meetings:live", meeting.pk)
    status = 400 if request.method == "POST" else 200
    return render(request, "meetings/start.html", {"form": form}, status=status)


@workspace_required(VIEW)
def detail(request, meeting_id):
    return redirect(get_meeting_or_404(request.user, meeting_id))


@workspace_required(VIEW)
def live(request, meeting_id):
    meeting, can_write = meeting_for_user(request.user, meeting_id)
    if meeting is None:
        raise Http404("No such meeting.")
    return render(request, "meetings/live.html", {"meeting": meeting, "can_write": can_write})


@workspace_required(VIEW)
def review(request, meeting_id):
    meeting, can_write = meeting_for_user(request.user, meeting_id)
    if meeting is None:
        raise Http404("No such meeting.")
    line_list = review_data.lines(meeting)
    turn_list = review_data.turns(meeting, line_list)
    talk = review_data.talk_time(turn_list)
    context = {
        "meeting": meeting,
        "can_write": can_write,
        "turns": turn_list,
        "transcript_html": review_data.transcript_html(turn_list),
        "talk_chart": review_data.chart(talk),
        "insights_html": review_data.insights_html(meeting, review_data.with_moments(
            meeting.insights.all(), Insight.utterances.through, "insight", line_list), can_write=can_write),
        "topics": review_data.with_moments(meeting.topics.all()[:15], Topic.utterances.through, "topic", line_list),
        "summary": getattr(meeting, "summary", None),
        "speakers": meeting.speakers.all(),
        "export_formats": list(exports.FORMATS),
        "seek_ms": request.GET.get("t", ""),
        **retention_views.review_context(request.user, meeting),
    }
    return render(request, "meetings/review.html", context)


@require_POST
@workspace_required(VIEW)
def rename_speaker(request, meeting_id, speaker_id):
    meeting = get_meeting_or_404(request.user, meeting_id, write=True)
    speaker = get_object_or_404(Speaker, pk=speaker_id, meeting=meeting)
    form = SpeakerNameForm(request.POST)
    if form.is_valid():
        old = speaker.name
        review_data.rename_speaker(speaker, form.cleaned_data["name"])
        messages.success(request, f"{old} is now {speaker.name}.")
    else:
        messages.error(request, "; ".join(e for errors in form.errors.values() for e in errors))
    return redirect("meetings:review", meeting.pk)


@workspace_required(VIEW)
def edit_insight(request, meeting_id, insight_id):
    """An action item's edit page (its own page: inline forms for hundreds of items would weigh
    down the review page); a saved edit returns to the item on the review page."""
    meeting = get_meeting_or_404(request.user, meeting_id, write=True)
    insight = get_object_or_404(Insight, pk=insight_id, meeting=meeting, type=Insight.Type.ACTION_ITEM)
    initial = {"text": insight.text, "assignee": insight.assignee, "due": insight.due, "done": insight.done}
    form = ActionItemForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        review_data.edit_insight(insight, **form.cleaned_data)
        messages.success(request, "Action item saved.")
        return redirect(reverse("meetings:review", args=[meeting.pk]) + f"#insight-{insight.pk}")
    status = 400 if request.method == "POST" else 200
    return render(request, "meetings/insight_edit.html", {"meeting": meeting, "insight": insight, "form": form},
                  status=status)


@workspace_required(VIEW)
def recording(request, meeting_id):
    """The meeting's recording, access-checked, with HTTP Range support so players can seek."""
    meeting = get_meeting_or_404(request.user, meeting_id)
    if not meeting.recording:
        raise Http404("This meeting kept no recording.")
    return media.ranged_file_response(request, meeting.recording)


@workspace_required(VIEW)
def export(request, meeting_id, fmt):
    meeting = get_meeting_or_404(request.user, meeting_id)
    if fmt not in exports.FORMATS:
        raise Http404("Unknown export format.")
    body, content_type, filename = exports.export(meeting, fmt)
    audit.record(request.user, meeting.workspace, AuditEntry.Action.EXPORT_DOWNLOADED, meeting, format=fmt)
    response = HttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@workspace_required(VIEW)
def search_page(request):
    """Search form and results; a bad query or filter is answered 400 with the reason shown."""
    form = search.SearchForm(request.GET or None)
    results, problem = None, None
    if form.is_bound and not form.is_valid():
        problem = "; ".join(f"{getattr(form.fields.get(k), 'label', None) or k}: {e}"
                            for k, errors in form.errors.items() for e in errors)
    elif form.is_bound:
        data = form.cleaned_data
        try:
            results = search.search(request.user, data["q"], data, workspace=request.workspace, page=data["page"] or 1)
        except search.QueryError as exc:
            problem = str(exc)
    context = {"form": form, "results": results, "problem": problem,
               "speakers": search.speakers_of(request.user, request.workspace), "querystring": _without_page(request)}
    return render(request, "meetings/search.html", context, status=400 if problem else 200)


def _without_page(request):
    params = request.GET.copy()
    params.pop("page", None)
    return params.urlencode()


@require_POST
@workspace_required(VIEW)
def stop(request, meeting_id):
    meeting = get_meeting_or_404(request.user, meeting_id, write=True)
    try:
        if not sessions.stop(meeting):
            messages.info(request, "This meeting has already ended.")
    except sessions.SessionError as exc:
        messages.error(request, str(exc))
    return redirect("meetings:live", meeting.pk)


@workspace_required(VIEW)
def tokens(request):
    form = ApiTokenForm(request.POST or None)
    created = None
    if request.method == "POST" and form.is_valid():
        token, created = ApiToken.issue(request.user, request.workspace, form.cleaned_data["name"])
        audit.record(request.user, request.workspace, AuditEntry.Action.TOKEN_CREATED, token)
        form = ApiTokenForm()
    context = {"form": form, "created": created,
               "tokens": request.user.api_tokens.filter(workspace=request.workspace)}
    return render(request, "meetings/tokens.html", context)


@require_POST
@workspace_required(VIEW)
def revoke_token(request, token_id):
    token = get_object_or_404(ApiToken, pk=token_id, user=request.user, revoked_at__isnull=True)
    token.revoked_at = timezone.now()
    token.save(update_fields=["revoked_at"])
    audit.record(request.user, token.workspace, AuditEntry.Action.TOKEN_REVOKED, token)
    messages.success(request, f"Token {token.prefix}… revoked.")
    return redirect(reverse("meetings:tokens"))
