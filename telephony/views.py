"""Telephony actions on any session: who gets Parley's summary e-mail (:mod:`telephony.notify`)."""
from django.http import JsonResponse
from django.views.decorators.http import require_POST

from meetings.access import VIEW, get_meeting_or_404, workspace_required

from .dialin.forms import DialInForm
from .models import SummaryEmail


@require_POST
@workspace_required(VIEW)
def summary_recipients(request, meeting_id):
    """``POST recipients=a@x, b@y`` (any source): who gets Parley's summary e-mail when the session
    ends. Answers JSON ``{"recipients": [...]}``, or 400 ``{"error"}`` naming a bad address."""
    meeting = get_meeting_or_404(request.user, meeting_id, write=True)
    form = DialInForm({"summary_emails": request.POST.get("recipients", "")})
    form.full_clean()
    if "summary_emails" in form.errors:
        return JsonResponse({"error": " ".join(form.errors["summary_emails"])}, status=400)
    recipients = form.cleaned_data["summary_emails"]
    SummaryEmail.objects.update_or_create(meeting=meeting, defaults={"recipients": recipients})
    return JsonResponse({"recipients": recipients})
