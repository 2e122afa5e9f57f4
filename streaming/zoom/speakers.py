"""After a Zoom meeting: its recording's TIMELINE file attributes the transcript to Zoom's participants.

:func:`apply_timeline` fetches the TIMELINE (``GET /v2/meetings/{id}/recordings`` and the file's
download, :mod:`streaming.zoom.client`), converts it to speaker events (:func:`timeline.convert`),
moves them onto the stream's clock (the recording started ``live_at - recording_start`` before the
stream's audio did), then:

* on the symbl engine, sends them to Symbl's Speakers API (``PUT /v1/conversations/{id}/speakers``,
  https://docs.symbl.ai/docs/conversation-api/speaker-events) and reconciles the conversation, whose
  re-attributed messages reach the meeting as ``message_correction`` events;
* on the local engine, gives each final utterance to the participant who spoke longest during it,
  as one ``message_correction`` through the persister (live pages see it, the event log keeps it).

Zoom writes the TIMELINE file only with "Add a timestamp to the recording" on (Business plans and up).
"""
import logging
from datetime import datetime

from asgiref.sync import async_to_sync
from django.utils import timezone

from meetings.models import Meeting, Utterance

from .. import events
from ..persist import persist_event
from . import client as zoom_api
from . import timeline

log = logging.getLogger(__name__)


def _recording_start(value):
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None
    except ValueError:
        return None


def speaker_ref(user):
    """The protocol's ``from`` for a Zoom participant of :func:`timeline.convert`'s events."""
    return events.user_ref(f"zoom-{user['id']}", user.get("name") or f"Participant {user['id']}")


def attribute_locally(meeting_id, speaker_events):
    """Correct the speaker of each final utterance of the meeting from ``speaker_events`` (on the
    stream's clock); returns how many utterances changed speaker."""
    spoken = timeline.turns(speaker_events)
    changed = []
    for utterance in Utterance.objects.filter(meeting_id=meeting_id).select_related("speaker"):
        user = timeline.speaker_for(utterance.start_ms, utterance.end_ms, spoken)
        if user is None:
            continue
        who = speaker_ref(user)
        if utterance.speaker and utterance.speaker.key == who["id"]:
            continue
        changed.append(events.message_response(utterance.message_id, utterance.text, user=who,
                                               start_ms=utterance.start_ms, end_ms=utterance.end_ms)["messages"][0])
    if changed:
        persist_event(meeting_id, events.message_correction(changed))
    return len(changed)


def apply_timeline(meeting_id):
    """Attribute the meeting's transcript from its Zoom recording's TIMELINE (see the module docstring).

    Returns ``{"speaker_events": n, "corrected": n}``. Raises :class:`zoom_api.ZoomError` (no
    recording yet, no TIMELINE file, Zoom refusing), :class:`timeline.TimelineError` for a malformed
    file, ``ZoomStream.DoesNotExist`` for a meeting that is not a Zoom session.
    """
    from ..models import SymblSession, ZoomStream

    stream = ZoomStream.objects.select_related("meeting").get(meeting_id=meeting_id)
    values = zoom_api.account_values(stream.meeting.workspace_id)
    if not values:
        raise zoom_api.NotConfigured("The workspace has no Zoom account to fetch the recording's TIMELINE with.")

    async def fetch():
        async with zoom_api.ZoomClient.from_values(values) as zoom:
            return await zoom.timeline(stream.zoom_meeting_id)

    data, recording_start = async_to_sync(fetch)()
    converted = timeline.convert(data)
    started = _recording_start(recording_start)
    delta_ms = int((stream.live_at - started).total_seconds() * 1000) if stream.live_at and started else 0
    shifted = timeline.shift(converted, delta_ms)
    if stream.meeting.engine == Meeting.Engine.SYMBL:
        from ..engines.symbl.credentials import client_for
        from ..tasks import reconcile_symbl_conversation

        state = SymblSession.objects.get(meeting_id=meeting_id)

        async def put():
            async with client_for(stream.meeting) as symbl:
                await symbl.put_speakers(state.conversation_id, shifted)

        async_to_sync(put)()
        counts = reconcile_symbl_conversation(meeting_id) or {}
        corrected = counts.get("corrected", 0)
    else:
        corrected = attribute_locally(meeting_id, shifted)
    ZoomStream.objects.filter(pk=stream.pk).update(timeline_applied_at=timezone.now())
    log.info("meeting %s: Zoom TIMELINE applied, %d speaker events, %d utterances corrected", meeting_id,
             len(shifted), corrected)
    return {"speaker_events": len(shifted), "corrected": corrected}
