"""Template context for every page: the signed-in user's workspaces, for the nav's switcher."""
from .access import SESSION_KEY
from .models import Membership


def workspaces(request):
    """``current_workspace`` (a Workspace or None), ``my_workspaces`` (list, by name) and ``my_role``
    (a ``Role`` value or None), from a single query of the user's memberships.

    The current workspace is the one the view acted in (``request.workspace``, set by
    ``access.workspace_required``), else the session's choice, else the first — as
    ``access.current_workspace`` picks it.
    """
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"current_workspace": None, "my_workspaces": [], "my_role": None}
    memberships = list(Membership.objects.filter(user=user).select_related("workspace").order_by("workspace_id"))
    by_id = {m.workspace_id: m for m in memberships}
    chosen = getattr(getattr(request, "workspace", None), "pk", None) or request.session.get(SESSION_KEY)
    current = by_id.get(chosen) or (memberships[0] if memberships else None)
    return {
        "current_workspace": current.workspace if current else None,
        "my_workspaces": sorted((m.workspace for m in memberships), key=lambda w: (w.name.lower(), w.pk)),
        "my_role": current.role if current else None,
    }
