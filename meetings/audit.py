"""Writing the audit log (:class:`~meetings.models.AuditEntry`): one call per admin action."""
from .models import AuditEntry


def record(actor, workspace, action, target="", **details):
    """Append an entry: ``actor`` (a user, or None for the system), ``action`` an
    :class:`AuditEntry.Action`, ``target`` the object acted on (its ``str`` is kept), ``details``
    JSON-serializable facts (never a secret). Returns the entry."""
    name = actor.get_username() if actor is not None else "system"
    return AuditEntry.objects.create(workspace=workspace, actor=actor, actor_name=name, action=action,
                                     target=str(target)[:300], details=details)
