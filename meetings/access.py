"""The one access helper: every view, API endpoint and consumer asks it what a user may do.

A user sees the meetings of the workspaces they belong to, with their role there:

- ``reviewer``: reads and searches (:data:`VIEW`);
- ``member``: also starts and stops sessions and edits speakers and action items (:data:`WRITE`);
- ``admin``: also configures provider accounts, retention and members (:data:`ADMIN`).

Staff and superusers get nothing extra here: the Django admin is their tool. A meeting being
deleted (``deleting_at`` set) is visible to nobody.
"""
from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404

from .models import Meeting, Membership, Role, Workspace

VIEW, WRITE, ADMIN = "view", "write", "admin"
ABILITIES = {
    VIEW: {Role.ADMIN, Role.MEMBER, Role.REVIEWER},
    WRITE: {Role.ADMIN, Role.MEMBER},
    ADMIN: {Role.ADMIN},
}
SESSION_KEY = "workspace_id"


def role_in(user, workspace):
    """``user``'s role in ``workspace`` (a :class:`Role` value), or None."""
    if not user.is_authenticated or workspace is None:
        return None
    workspace_id = getattr(workspace, "pk", workspace)
    return Membership.objects.filter(user=user, workspace_id=workspace_id).values_list("role", flat=True).first()


def can(user, workspace, ability):
    """Whether ``user`` may ``ability`` (:data:`VIEW`, :data:`WRITE`, :data:`ADMIN`) in ``workspace``."""
    return role_in(user, workspace) in ABILITIES[ability]


def workspaces_of(user):
    """The workspaces ``user`` belongs to."""
    if not user.is_authenticated:
        return Workspace.objects.none()
    return Workspace.objects.filter(memberships__user=user)


def pick_workspace(user, ref=None):
    """For commands: ``user``'s workspace with the id or name ``ref``, else their first; None when
    they are not a member of it (or of any)."""
    mine = workspaces_of(user).order_by("pk")
    if ref:
        mine = mine.filter(pk=int(ref)) if str(ref).isdigit() else mine.filter(name=ref)
    return mine.first()


def current_workspace(request):
    """The workspace ``request`` acts in: an API token's, else the one chosen in the session (if
    still a member), else the user's first. None for a user in no workspace."""
    if getattr(request, "api_token", None) is not None:
        return request.api_token.workspace
    mine = workspaces_of(request.user)
    chosen = request.session.get(SESSION_KEY) if hasattr(request, "session") else None
    workspace = (mine.filter(pk=chosen).first() if chosen else None) or mine.order_by("pk").first()
    if workspace is not None and hasattr(request, "session") and chosen != workspace.pk:
        request.session[SESSION_KEY] = workspace.pk
    return workspace


def visible_meetings(user, workspace=None):
    """The meetings ``user`` may see, as a queryset; only ``workspace``'s when given."""
    if not user.is_authenticated:
        return Meeting.objects.none()
    meetings = Meeting.objects.filter(workspace__memberships__user=user, deleting_at__isnull=True)
    if workspace is not None:
        meetings = meetings.filter(workspace=workspace)
    return meetings


def meeting_for_user(user, meeting_id, workspace=None):
    """Return ``(meeting, can_write)``, or ``(None, False)`` when ``user`` may not see it (or it is
    not in ``workspace``, when given: an API token's workspace)."""
    try:
        meeting = visible_meetings(user, workspace).get(pk=meeting_id)
    except (Meeting.DoesNotExist, ValueError, TypeError):
        return None, False
    return meeting, can(user, meeting.workspace_id, WRITE)


def get_meeting_or_404(user, meeting_id, *, write=False, workspace=None):
    """For views: the meeting, or 404 when it is not visible; 403 when ``write`` and the user's role
    there is reviewer."""
    meeting, can_write = meeting_for_user(user, meeting_id, workspace)
    if meeting is None:
        raise Http404("No such meeting.")
    if write and not can_write:
        raise PermissionDenied("Your role in this workspace cannot change meetings.")
    return meeting


def workspace_required(ability=VIEW):
    """View decorator: sign-in, a current workspace (``request.workspace``) and ``ability`` in it.

    Anonymous users go to the login page; a user in no workspace gets 403 with the reason, as does
    one whose role lacks ``ability``.
    """

    def decorate(view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            request.workspace = current_workspace(request)
            if request.workspace is None:
                raise PermissionDenied("You belong to no workspace yet: ask an admin for an invitation.")
            if not can(request.user, request.workspace, ability):
                raise PermissionDenied(f"Your role in {request.workspace} does not allow this.")
            return view(request, *args, **kwargs)

        wrapper.access_ability = ability
        return wrapper

    return decorate
