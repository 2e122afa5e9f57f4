"""The JSON API's Zoom starter: ``POST /api/v1/meetings/`` with ``{"source": "zoom", …}``.

Body: ``zoom_meeting_id`` (required, Zoom's numeric id), ``engine`` (default: the workspace's),
``title``, ``auto_start`` (bool: wait for Zoom's ``meeting.started`` webhook), ``trackers`` (list).
Answer (201, beside the meeting): ``zoom_meeting_id``, ``zoom_stream_state``, ``registered_with_zoom``,
``auto_start`` and, when Parley is the RTMP destination (local engine), ``rtmp_url`` and
``stream_key`` to enter in Zoom (already registered with Zoom when the workspace has a Zoom account).
400 ``{"error"}`` in Zoom's words when Zoom refuses (see :func:`streaming.zoom.sessions.start_zoom`).
"""
from meetings.sessions import SessionError

from .sessions import describe, page_url_for, start_zoom

TRUE = {"1", "true", "yes", "on"}


def start(request, data):
    trackers = data.get("trackers") or []
    if not isinstance(trackers, list) or not all(isinstance(t, str) for t in trackers):
        raise SessionError("trackers must be a list of strings.")
    stream = start_zoom(
        request.user, request.workspace,
        zoom_meeting_id=data.get("zoom_meeting_id"),
        engine=data.get("engine") or None,
        title=data.get("title", ""),
        auto_start=str(data.get("auto_start", "")).lower() in TRUE,
        trackers=trackers,
        page_url=page_url_for(request),
    )
    return stream.meeting, describe(stream)
