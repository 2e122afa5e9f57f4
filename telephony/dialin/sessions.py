"""Starting a dial-in session: the one place the form view and the API call."""
from django.db import transaction

from meetings import sessions
from meetings.models import Meeting

from ..models import DialIn, SummaryEmail


def start_dial_in(owner, workspace, data):
    """Create a dial-in meeting (always on the symbl engine: Symbl places the call) from a valid
    :class:`~.forms.DialInForm`'s ``cleaned_data``, and wake the runners after commit."""
    sessions.check_engine("symbl")
    where = data["phone_number"] if data["endpoint_type"] == DialIn.Type.PSTN else data["sip_uri"]
    with transaction.atomic():
        meeting = Meeting.objects.create(
            title=(data.get("title") or "").strip()[:200] or f"Dial-in to {where}", source=Meeting.Source.DIAL_IN,
            engine="symbl", owner=owner, workspace=workspace, language=data.get("language") or "en-US")
        DialIn.objects.create(
            meeting=meeting, endpoint_type=data["endpoint_type"], phone_number=data["phone_number"],
            sip_uri=data["sip_uri"], dtmf=data["dtmf"], timezone=data["timezone"],
            symbl_summary_email=bool(data.get("symbl_summary_email")))
        if data.get("summary_emails"):
            SummaryEmail.objects.create(meeting=meeting, recipients=data["summary_emails"])
        transaction.on_commit(sessions.wake_runners)
    return meeting
