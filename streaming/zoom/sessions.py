"""Starting a Zoom session: the one place the start form and the JSON API call.

A Zoom session is a :class:`~meetings.models.Meeting` of source ``zoom`` with its
:class:`~streaming.models.ZoomStream`. On an engine that takes audio (local) Parley is the RTMP
destination: the stream gets Parley's ingest URL and an unguessable key of its own, registered as
the Zoom meeting's custom live stream when the workspace has a Zoom account (otherwise the user
enters them in Zoom). On the symbl engine the runner creates Symbl's managed stream and registers
that (:mod:`streaming.zoom.source`), which needs the workspace's Zoom account.
"""
import logging
import re

from asgiref.sync import async_to_sync
from django.db import transaction
from django.urls import reverse

from meetings.models import Meeting
from meetings.sessions import SessionError, check_engine, wake_runners

from . import client as zoom_api
from .rtmp import new_stream_key, public_url

log = logging.getLogger(__name__)

# Zoom meeting ids are 9 to 11 digits (https://support.zoom.com/hc/en/article?id=zm_kb&sysparm_article=KB0067963);
# people paste them with spaces or dashes ("857 4606 5432").
MEETING_ID = re.compile(r"\d{9,12}")


def clean_meeting_id(value):
    """Zoom's meeting id from what a user typed (spaces and dashes dropped); raises SessionError."""
    cleaned = re.sub(r"[\s-]", "", str(value or ""))
    if not MEETING_ID.fullmatch(cleaned):
        raise SessionError("Enter the Zoom meeting's numeric id (9 to 11 digits, e.g. 857 4606 5432).")
    return cleaned


def _register(values, stream):
    async def register():
        async with zoom_api.ZoomClient.from_values(values) as zoom:
            await zoom.set_livestream(stream.zoom_meeting_id, stream_url=stream.stream_url,
                                      stream_key=stream.stream_key, page_url=stream.page_url)

    async_to_sync(register)()


def start_zoom(owner, workspace, *, zoom_meeting_id, page_url, engine=None, title="", auto_start=False, trackers=()):
    """Create a Zoom session and hand it to the runners; returns its :class:`ZoomStream`.

    ``page_url(meeting)`` gives the absolute URL of the meeting's page (Zoom shows it to viewers).
    Raises :class:`SessionError` (nothing created) for a bad meeting id, an unknown engine, a
    symbl-engine session without a Zoom account, or Zoom refusing the registration, in Zoom's
    words (meeting not found, live streaming not enabled, wrong client secret, rate limited).
    """
    from ..models import ZoomStream

    zoom_meeting_id = clean_meeting_id(zoom_meeting_id)
    engine = engine or workspace.default_engine
    check_engine(engine)
    try:
        values = zoom_api.account_values(workspace.pk)
    except Exception as exc:  # an undecryptable secret
        raise SessionError(f"The workspace's Zoom account cannot be read: {exc}") from None
    if engine == Meeting.Engine.SYMBL and not values:
        raise SessionError("A Zoom session on the symbl engine needs the workspace's Zoom account (an admin "
                           "sets it under Workspace → Provider accounts): Parley points the meeting's live "
                           "stream at Symbl.")
    with transaction.atomic():
        meeting = Meeting.objects.create(
            title=(title or "").strip()[:200] or f"Zoom meeting {zoom_meeting_id}",
            source=Meeting.Source.ZOOM, engine=engine, owner=owner, workspace=workspace, trackers=list(trackers))
        local = engine != Meeting.Engine.SYMBL
        stream = ZoomStream.objects.create(
            meeting=meeting, zoom_meeting_id=zoom_meeting_id, auto_start=bool(auto_start),
            page_url=page_url(meeting),
            # The symbl engine's URL and key come from Symbl's managed stream, made by the runner.
            stream_url=public_url() if local else "", stream_key=new_stream_key())
        if local and values:
            try:
                _register(values, stream)
            except zoom_api.ZoomError as exc:
                log.warning("Zoom refused to register a live stream for meeting %s: %s", zoom_meeting_id, exc)
                raise SessionError(f"Zoom refused the live stream for meeting {zoom_meeting_id}: {exc}") from None
            stream.registered_with_zoom = True
            stream.state = ZoomStream.State.REGISTERED
            stream.save(update_fields=["registered_with_zoom", "state"])
        transaction.on_commit(wake_runners)
    return stream


def page_url_for(request):
    """``page_url`` for :func:`start_zoom`: the meeting's live page on the host the request came to."""
    return lambda meeting: request.build_absolute_uri(reverse("meetings:live", args=[meeting.pk]))


def describe(stream):
    """What the API answers about a Zoom stream (and the start page shows)."""
    answer = {"zoom_meeting_id": stream.zoom_meeting_id, "zoom_stream_state": stream.state,
              "registered_with_zoom": stream.registered_with_zoom, "auto_start": stream.auto_start}
    if stream.meeting.engine != Meeting.Engine.SYMBL:
        answer.update(rtmp_url=stream.stream_url, stream_key=stream.stream_key)
    return answer
