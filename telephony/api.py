"""The telephony starters of ``POST /api/v1/meetings/`` (``meetings.api.STARTERS``).

``{"source": "dial_in", "endpoint_type": "pstn"|"sip", "phone_number", "sip_uri", "conference_id",
"passcode", "dtmf", "title", "timezone", "language", "summary_emails": [addresses] or "a, b",
"symbl_summary_email": bool}`` → 201 with the meeting and ``{"dial_in": {"phone_number" (E.164),
"sip_uri", "dtmf", "timezone", "summary_emails"}}``; bad input → 400 ``{"error"}`` naming each field.
"""
from meetings.sessions import SessionError

from .dialin.forms import DialInForm
from .dialin.sessions import start_dial_in as start_session

TRUE = {"1", "true", "yes", "on"}


def start_dial_in(request, data):
    data = dict(data)
    if isinstance(data.get("symbl_summary_email"), bool):
        data["symbl_summary_email"] = "on" if data["symbl_summary_email"] else ""
    elif str(data.get("symbl_summary_email", "")).lower() not in TRUE:
        data["symbl_summary_email"] = ""
    if isinstance(data.get("summary_emails"), list):
        data["summary_emails"] = ", ".join(str(a) for a in data["summary_emails"])
    form = DialInForm({k: v for k, v in data.items() if v is not None})
    if not form.is_valid():
        raise SessionError(form.error_text())
    meeting = start_session(request.user, request.workspace, form.cleaned_data)
    clean = form.cleaned_data
    return meeting, {"dial_in": {"endpoint_type": clean["endpoint_type"], "phone_number": clean["phone_number"],
                                 "sip_uri": clean["sip_uri"], "dtmf": clean["dtmf"], "timezone": clean["timezone"],
                                 "summary_emails": clean["summary_emails"]}}
