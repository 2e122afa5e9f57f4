"""Workspace services: creating workspaces, inviting people, managing members and roles.

Views, commands and the admin call these; they keep the rules — a workspace always has an
admin, an invitation link works once and only while open — and write the audit log
(``meetings.audit.record``) for every admin action.
"""
import smtplib

from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from . import audit
from .links import public_origin
from .models import AuditEntry, Invitation, Membership, Role, Workspace

Action = AuditEntry.Action


class WorkspaceError(ValueError):
    """A refused change; ``str()`` is the message shown to the user."""


class InvitationError(WorkspaceError):
    """An invitation link that cannot be used; ``status`` is the HTTP status to answer with
    (404 for an unknown token, 410 for one expired, used or revoked)."""

    def __init__(self, message, status=410):
        super().__init__(message)
        self.status = status


@transaction.atomic
def create_workspace(name, admin):
    """A new workspace named ``name`` with ``admin`` (a user) as its first admin; returns it."""
    workspace = Workspace.objects.create(name=name)
    Membership.objects.create(workspace=workspace, user=admin, role=Role.ADMIN)
    audit.record(admin, workspace, Action.MEMBER_JOINED, admin.get_username(), role=Role.ADMIN, created_workspace=True)
    return workspace


def update_workspace(workspace, by, **changes):
    """Change ``workspace``'s settings (``name``, ``default_engine``); records which fields changed,
    ``{field: [old, new]}``. Returns the changed field names (empty when nothing changed)."""
    changed = {}
    for field, value in changes.items():
        old = getattr(workspace, field)
        if old != value:
            changed[field] = [old, value]
            setattr(workspace, field, value)
    if changed:
        workspace.save(update_fields=list(changed))
        audit.record(by, workspace, Action.WORKSPACE_CHANGED, workspace, changes=changed)
    return list(changed)


def invitation_url(token, base_url=None):
    """The absolute accept link of an invitation token. ``base_url`` (scheme and host, e.g.
    ``https://parley.example.com``) defaults to :func:`meetings.links.public_origin`."""
    base = (base_url or public_origin()).rstrip("/")
    return base + reverse("workspace:invitation", args=[token])


@transaction.atomic
def invite(workspace, email, role, by, *, base_url=None):
    """Invite ``email`` to ``workspace`` as ``role``: stores the invitation (its token's digest
    only), e-mails the accept link and records ``member.invited``. An open invitation to the same
    address is replaced. Returns ``(invitation, token)``.

    Raises :class:`WorkspaceError` when the address already belongs to a member, or when the
    e-mail cannot be sent (then nothing is kept).
    """
    email = email.strip()
    if role not in Role.values:
        raise WorkspaceError(f"{role!r} is not a role.")
    if workspace.memberships.filter(user__email__iexact=email).exists():
        raise WorkspaceError(f"{email} is already a member of {workspace}.")
    replaced = list(_open_invitations(workspace).filter(email__iexact=email).values_list("pk", flat=True))
    Invitation.objects.filter(pk__in=replaced).update(revoked_at=timezone.now())
    invitation, token = Invitation.issue(workspace, email, role, by)
    link = invitation_url(token, base_url)
    inviter = by.get_full_name() or by.get_username()
    expires = timezone.localtime(invitation.expires_at)
    body = (f"{inviter} invites you to join the workspace \"{workspace}\" on Parley as {Role(role).label.lower()}.\n\n"
            f"Accept the invitation: {link}\n\n"
            f"The link works once and expires on {expires:%Y-%m-%d %H:%M %Z}.\n")
    try:
        send_mail(f"Join {workspace} on Parley", body, None, [email])
    except (smtplib.SMTPException, OSError) as exc:
        # Rolls the invitation back: an admin who sees this error can simply try again.
        raise WorkspaceError(f"The invitation to {email} could not be sent ({exc}); nothing was saved.") from exc
    audit.record(by, workspace, Action.MEMBER_INVITED, email, role=role, replaced=len(replaced))
    return invitation, token


def _open_invitations(workspace):
    return workspace.invitations.filter(accepted_at=None, revoked_at=None, expires_at__gt=timezone.now())


def open_invitations(workspace):
    """``workspace``'s invitations that can still be accepted, newest first."""
    return _open_invitations(workspace).select_related("invited_by")


def check_invitation(token):
    """The open invitation of ``token``; raises :class:`InvitationError` saying why not."""
    invitation = (Invitation.objects.select_related("workspace", "invited_by")
                  .filter(digest=Invitation.hash(token or "")).first())
    if invitation is None:
        raise InvitationError("This invitation link is not valid: check that you copied all of it.", status=404)
    if invitation.revoked_at is not None:
        raise InvitationError(f"This invitation to {invitation.workspace} was withdrawn. Ask an admin of "
                              f"{invitation.workspace} for a new one.")
    if invitation.accepted_at is not None:
        raise InvitationError(f"This invitation to {invitation.workspace} has already been used.")
    if invitation.expires_at <= timezone.now():
        raise InvitationError(f"This invitation to {invitation.workspace} expired on "
                              f"{timezone.localtime(invitation.expires_at):%Y-%m-%d %H:%M %Z}. Ask an admin of "
                              f"{invitation.workspace} for a new one.")
    return invitation


@transaction.atomic
def accept(token, user):
    """``user`` accepts the invitation of ``token``: returns ``(membership, joined)``; ``joined`` is
    False when they already belonged to the workspace, whose role is then kept as it was. The
    link is used up either way. Raises :class:`InvitationError` for a link not open."""
    invitation = check_invitation(token)
    # Claim the link with a conditional update: of two simultaneous accepts, one wins.
    now = timezone.now()
    claimed = Invitation.objects.filter(pk=invitation.pk, accepted_at=None, revoked_at=None,
                                        expires_at__gt=now).update(accepted_at=now, accepted_by=user)
    if not claimed:
        raise InvitationError(f"This invitation to {invitation.workspace} has already been used.")
    membership, joined = Membership.objects.get_or_create(workspace=invitation.workspace, user=user,
                                                          defaults={"role": invitation.role})
    if joined:
        audit.record(user, invitation.workspace, Action.MEMBER_JOINED, user.get_username(), role=membership.role,
                     invited_by=invitation.invited_by.get_username() if invitation.invited_by else None)
    return membership, joined


def _admins(workspace):
    # Locks the admin rows (PostgreSQL), so two admins demoting each other cannot both succeed.
    return Membership.objects.select_for_update().filter(workspace=workspace, role=Role.ADMIN)


def _refuse_last_admin(membership, doing):
    if membership.role == Role.ADMIN and not _admins(membership.workspace).exclude(pk=membership.pk).exists():
        raise WorkspaceError(f"{membership.user.get_username()} is the last admin of {membership.workspace}: "
                             f"make someone else an admin before {doing}.")


@transaction.atomic
def change_role(membership, role, by):
    """Give ``membership`` the ``role``; records ``member.role_changed``. Refuses to demote the
    last admin (:class:`WorkspaceError`). Returns whether the role changed."""
    if role not in Role.values:
        raise WorkspaceError(f"{role!r} is not a role.")
    if role == membership.role:
        return False
    if role != Role.ADMIN:
        _refuse_last_admin(membership, "changing their role")
    old, membership.role = membership.role, role
    membership.save(update_fields=["role"])
    audit.record(by, membership.workspace, Action.MEMBER_ROLE_CHANGED, membership.user.get_username(),
                 old=old, new=role)
    return True


@transaction.atomic
def remove_member(membership, by):
    """Remove ``membership``'s user from its workspace; records ``member.removed``. Refuses to
    remove the last admin (:class:`WorkspaceError`)."""
    _refuse_last_admin(membership, "removing them")
    membership.delete()
    audit.record(by, membership.workspace, Action.MEMBER_REMOVED, membership.user.get_username(),
                 role=membership.role)


@transaction.atomic
def revoke_invitation(invitation, by):
    """Withdraw an open invitation so its link no longer works; records ``invitation.revoked``.
    Raises :class:`WorkspaceError` when it was already accepted or revoked."""
    if not Invitation.objects.filter(pk=invitation.pk, accepted_at=None, revoked_at=None).update(
            revoked_at=timezone.now()):
        raise WorkspaceError(f"The invitation to {invitation.email} was already used or withdrawn.")
    invitation.refresh_from_db()
    audit.record(by, invitation.workspace, Action.INVITATION_REVOKED, invitation.email, role=invitation.role)
