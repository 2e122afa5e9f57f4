"""The one access helper: every view, API endpoint and consumer asks it about a meeting.

Today a meeting is visible to its owner and to staff; workspaces and roles extend this here
and nowhere else.
"""
from django.http import Http404

from .models import Meeting


def visible_meetings(user):
    """The meetings ``user`` may see, as a queryset."""
    if not user.is_authenticated:
        return Meeting.objects.none()
    if user.is_staff:
        return Meeting.objects.all()
    return Meeting.objects.filter(owner=user)


def meeting_for_user(user, meeting_id):
    """Return ``(meeting, can_write)``, or ``(None, False)`` when ``user`` may not see it."""
    try:
        meeting = visible_meetings(user).get(pk=meeting_id)
    except (Meeting.DoesNotExist, ValueError, TypeError):
        return None, False
    return meeting, (user.is_staff or meeting.owner_id == user.pk)


def get_meeting_or_404(user, meeting_id, *, write=False):
    """For views: the meeting, or 404 when it is not visible (or not writable with ``write``)."""
    meeting, can_write = meeting_for_user(user, meeting_id)
    if meeting is None or (write and not can_write):
        raise Http404("No such meeting.")
    return meeting
