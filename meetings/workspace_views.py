"""Workspace pages: settings, members and invitations, switching, the audit log. Thin: the rules
live in ``meetings.workspaces`` and access is ``meetings.access``'s."""
from contextlib import contextmanager
from urllib.parse import quote

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import transaction
from django.http import Http404, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from . import workspaces
from .access import ADMIN, SESSION_KEY, VIEW, can, role_in, workspaces_of, workspace_required
from .models import Invitation, Membership
from .workspace_forms import (AuditFilterForm, InvitationSignUpForm, InviteForm, NewWorkspaceForm, RoleForm,
                              SwitchForm, WorkspaceForm)

AUDIT_PAGE_SIZE = 50


def _errors(form):
    return "; ".join(f"{form.fields[name].label or name}: {e}" if name in form.fields else e
                     for name, errors in form.errors.items() for e in errors)


def _membership(request, membership_id):
    """A membership of the current workspace; 404 for one of another workspace."""
    return get_object_or_404(Membership.objects.select_related("user", "workspace"), pk=membership_id,
                             workspace=request.workspace)


@contextmanager
def _refusal_shown(request):
    """Show a rule's refusal (``workspaces.WorkspaceError``: the last admin, an invitation already
    used, …) as the page's error; the rest of the block, its success message, is skipped."""
    try:
        yield
    except workspaces.WorkspaceError as exc:
        messages.error(request, str(exc))


@workspace_required(VIEW)
def home(request):
    """The workspace's settings: admins edit them, everyone else reads them."""
    is_admin = can(request.user, request.workspace, ADMIN)
    if request.method == "POST" and not is_admin:
        raise PermissionDenied(f"Only admins of {request.workspace} can change its settings.")
    form = WorkspaceForm(request.POST or None, workspace=request.workspace) if is_admin else None
    if request.method == "POST" and form.is_valid():
        changed = workspaces.update_workspace(request.workspace, request.user, **form.cleaned_data)
        messages.success(request, "Workspace saved." if changed else "Nothing changed.")
        return redirect("workspace:home")
    context = {"form": form, "is_admin": is_admin, "members": request.workspace.memberships.count(),
               "mine": workspaces_of(request.user).order_by("name", "pk")}
    return render(request, "meetings/workspace_home.html", context, status=400 if request.method == "POST" else 200)


@workspace_required(VIEW)
def members(request):
    is_admin = can(request.user, request.workspace, ADMIN)
    context = {
        "memberships": request.workspace.memberships.select_related("user").order_by("user__username"),
        "is_admin": is_admin,
        "invite_form": InviteForm() if is_admin else None,
        "invitations": workspaces.open_invitations(request.workspace) if is_admin else None,
        "roles": Membership.Role.choices,
        "invitation_days": Invitation.TTL.days,
    }
    return render(request, "meetings/workspace_members.html", context)


@require_POST
@workspace_required(ADMIN)
def invite(request):
    form = InviteForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Invitation not sent: " + _errors(form))
        return redirect("workspace:members")
    email, role = form.cleaned_data["email"], form.cleaned_data["role"]
    with _refusal_shown(request):
        workspaces.invite(request.workspace, email, role, request.user, base_url=request.build_absolute_uri("/"))
        messages.success(request, f"Invitation sent to {email}.")
    return redirect("workspace:members")


@require_POST
@workspace_required(ADMIN)
def change_role(request, membership_id):
    membership = _membership(request, membership_id)
    form = RoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Role not changed: " + _errors(form))
        return redirect("workspace:members")
    with _refusal_shown(request):
        if workspaces.change_role(membership, form.cleaned_data["role"], request.user):
            messages.success(request, f"{membership.user.get_username()} is now "
                                      f"{membership.get_role_display().lower()}.")
    return redirect("workspace:members")


@require_POST
@workspace_required(ADMIN)
def remove_member(request, membership_id):
    membership = _membership(request, membership_id)
    with _refusal_shown(request):
        workspaces.remove_member(membership, request.user)
        messages.success(request, f"{membership.user.get_username()} no longer belongs to {request.workspace}.")
        # An admin who removed themselves can no longer see this workspace's pages.
        return redirect("workspace:members" if membership.user_id != request.user.pk else "meetings:list")
    return redirect("workspace:members")


@require_POST
@workspace_required(ADMIN)
def revoke_invitation(request, invitation_id):
    invitation = get_object_or_404(Invitation, pk=invitation_id, workspace=request.workspace)
    with _refusal_shown(request):
        workspaces.revoke_invitation(invitation, request.user)
        messages.success(request, f"The invitation to {invitation.email} was withdrawn.")
    return redirect("workspace:members")


@require_POST
@workspace_required(VIEW)
def switch(request):
    """Make another of the user's workspaces the current one; 404 for a workspace not theirs, 400
    for a request naming none."""
    form = SwitchForm(request.POST)
    if not form.is_valid():
        return HttpResponseBadRequest("Say which workspace to switch to.")
    workspace = workspaces_of(request.user).filter(pk=form.cleaned_data["workspace"]).first()
    if workspace is None:
        raise Http404("No such workspace.")
    request.session[SESSION_KEY] = workspace.pk
    messages.success(request, f"Now in {workspace}.")
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        target = reverse("meetings:list")
    return redirect(target)


# Any signed-in user may create a workspace, including one who belongs to none yet — which
# workspace_required would refuse — so this page asks only for sign-in.
@login_required
def new_workspace(request):
    form = NewWorkspaceForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        workspace = workspaces.create_workspace(form.cleaned_data["name"], request.user)
        request.session[SESSION_KEY] = workspace.pk
        messages.success(request, f"Workspace {workspace} created: you are its admin.")
        return redirect("workspace:members")
    status = 400 if request.method == "POST" else 200
    return render(request, "meetings/workspace_new.html", {"form": form}, status=status)


@workspace_required(ADMIN)
def audit_log(request):
    """The workspace's audit log, newest first, filtered by the GET form; 400 with the reason for bad filters."""
    form = AuditFilterForm(request.GET or None)
    entries = request.workspace.audit_entries.all()
    if form.is_bound and form.is_valid():
        entries = form.filter(entries)
    elif form.is_bound:
        entries = entries.none()
    page = Paginator(entries.order_by("-created_at", "-id"), AUDIT_PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {"form": form, "page": page, "querystring": query.urlencode()}
    return render(request, "meetings/workspace_audit.html", context,
                  status=400 if form.is_bound and form.errors else 200)


def invitation(request, token):
    """Accept an invitation. The token is the credential (looked up by its digest): anyone with the
    link may see which workspace it is for, then sign in or sign up, and join by POST."""
    try:
        invitation = workspaces.check_invitation(token)
    except workspaces.InvitationError as exc:
        return render(request, "meetings/invitation_closed.html", {"problem": str(exc)}, status=exc.status)
    signup = None
    if request.user.is_authenticated:
        current_role = role_in(request.user, invitation.workspace)
        if request.method == "POST":
            return _join(request, token)
    else:
        current_role = None
        signup = InvitationSignUpForm(request.POST or None, email=invitation.email)
        if request.method == "POST" and signup.is_valid():
            return _join(request, token, signup)
    context = {"invitation": invitation, "signup": signup, "current_role": current_role,
               "login_url": f"{reverse('login')}?next={quote(request.path)}"}
    status = 400 if signup is not None and signup.errors else 200
    return render(request, "meetings/invitation.html", context, status=status)


def _join(request, token, signup=None):
    """Accept as the signed-in user, or as the account ``signup`` creates — which is not kept
    when the link turns out to be used up meanwhile."""
    try:
        with transaction.atomic():
            user = signup.save() if signup is not None else request.user
            membership, joined = workspaces.accept(token, user)
    except workspaces.InvitationError as exc:
        return render(request, "meetings/invitation_closed.html", {"problem": str(exc)}, status=exc.status)
    if signup is not None:
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    request.session[SESSION_KEY] = membership.workspace_id
    if joined:
        messages.success(request, f"Welcome to {membership.workspace}: you joined as "
                                  f"{membership.get_role_display().lower()}.")
    else:
        messages.info(request, f"You already belong to {membership.workspace}; your role stays "
                               f"{membership.get_role_display().lower()}.")
    return redirect("meetings:list")
