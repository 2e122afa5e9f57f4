"""Zoom session pages: the start form (``/streaming/zoom/new``), a stream's page with the RTMP URL
and key to enter in Zoom, and applying the recording's TIMELINE after the meeting."""
from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from meetings.access import WRITE, get_meeting_or_404, workspace_required
from meetings.sessions import SessionError

from . import client as zoom_api
from .forms import ZoomStartForm
from .sessions import page_url_for, start_zoom
from .timeline import TimelineError


@workspace_required(WRITE)
def new(request):
    form = ZoomStartForm(request.POST or None, initial={"engine": request.workspace.default_engine})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            stream = start_zoom(request.user, request.workspace, zoom_meeting_id=data["zoom_meeting_id"],
                                engine=data["engine"], title=data["title"], auto_start=data["auto_start"],
                                trackers=data["trackers"], page_url=page_url_for(request))
        except SessionError as exc:
            form.add_error("zoom_meeting_id" if "meeting" in str(exc).lower() else None, str(exc))
        else:
            return redirect("streaming:zoom_stream", stream.meeting_id)
    return render(request, "streaming/zoom_new.html", {"form": form},
                  status=400 if request.method == "POST" else 200)


def _stream_of(request, meeting_id):
    """``(meeting, its ZoomStream or None)``; 404/403 as the access helper decides."""
    from ..models import ZoomStream

    meeting = get_meeting_or_404(request.user, meeting_id, write=True)
    return meeting, ZoomStream.objects.filter(meeting=meeting).first()


@workspace_required(WRITE)
def stream(request, meeting_id):
    meeting, zoom_stream = _stream_of(request, meeting_id)
    if zoom_stream is None:
        # Not a Zoom session: its own page says everything there is.
        return redirect("meetings:live", meeting.pk)
    return render(request, "streaming/zoom_stream.html", {"meeting": meeting, "stream": zoom_stream})


@require_POST
@workspace_required(WRITE)
def apply_timeline(request, meeting_id):
    from .speakers import apply_timeline as apply

    meeting, zoom_stream = _stream_of(request, meeting_id)
    if zoom_stream is None:
        messages.error(request, "This meeting is not a Zoom session: it has no Zoom recording to take speakers from.")
        return redirect("meetings:live", meeting.pk)
    try:
        result = apply(meeting.pk)
    except (zoom_api.ZoomError, TimelineError) as exc:
        messages.error(request, f"The speaker timeline could not be applied: {exc}")
    else:
        messages.success(request, f"Zoom's speaker timeline applied: {result['corrected']} utterance(s) attributed.")
    return redirect("streaming:zoom_stream", meeting.pk)
