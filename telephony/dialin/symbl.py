"""Symbl's Telephony API for a :class:`~telephony.models.DialIn` (https://docs.symbl.ai/docs/telephony/reference/reference,
``shared/api-contracts.md`` §4).

``POST /v1/endpoint:connect`` ``{"operation": "start", "endpoint": {...}, "actions": [...],
"data": {"session": {"name"}}, "timezone", "languages"}`` → 201 ``{"eventUrl",
"resultWebSocketUrl", "connectionId", "conversationId"}``; ``{"operation": "stop",
"connectionId"}`` → the same plus ``summaryInfo`` ``[{"user", "url"}]``. Speaker events go to the
call's ``eventUrl`` as ``{"topic": "speaker", "type": "started_speaking"|"stopped_speaking",
"user": {"userId", "name"}, "timestamp"}`` (symbl-js ``SpeakerEvent``).
"""
from datetime import datetime, timezone

from ..models import DialIn

PATH = "/v1/endpoint:connect"
SPEAKER_EVENTS = ("started_speaking", "stopped_speaking")


def start_body(dial_in, meeting, recipients=()):
    """The start request of ``dial_in``: the phone number as digits without '+' (Symbl's format),
    or the SIP URI with PCMU 16 kHz audio; ``sendSummaryEmail`` on stop when Symbl's e-mail was
    asked for and there are ``recipients``."""
    if dial_in.endpoint_type == DialIn.Type.SIP:
        endpoint = {"type": "sip", "uri": dial_in.sip_uri, "providerName": "Symbl",
                    "audioConfig": {"sampleRate": 16000, "encoding": "PCMU", "sampleSize": "16"}}
    else:
        endpoint = {"type": "pstn", "phoneNumber": dial_in.symbl_phone_number}
    if dial_in.dtmf:
        endpoint["dtmf"] = dial_in.dtmf
    body = {"operation": "start", "endpoint": endpoint, "data": {"session": {"name": meeting.title}},
            "timezone": dial_in.timezone, "languages": [meeting.language or "en-US"],
            "insightTypes": ["question", "action_item", "follow_up"]}
    if dial_in.symbl_summary_email and recipients:
        body["actions"] = [{"invokeOn": "stop", "name": "sendSummaryEmail", "parameters": {"emails": list(recipients)}}]
    return body


def stop_body(dial_in):
    return {"operation": "stop", "connectionId": dial_in.connection_id}


def speaker_event(kind, user_id, name, at=None):
    """A speaker event for the call's ``eventUrl``; ``kind`` one of :data:`SPEAKER_EVENTS`."""
    if kind not in SPEAKER_EVENTS:
        raise ValueError(f"a speaker event is one of {', '.join(SPEAKER_EVENTS)}")
    moment = (at or datetime.now(timezone.utc)).astimezone(timezone.utc)
    return {"topic": "speaker", "type": kind, "user": {"userId": user_id, "name": name},
            "timestamp": moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")}
