"""The audit log of admin actions; ``meetings.audit.record`` writes it, admins read and filter it."""
from django.conf import settings
from django.db import models


class AuditEntry(models.Model):
    class Action(models.TextChoices):
        ACCOUNT_CHANGED = "account.changed", "Provider account changed"
        ACCOUNT_REMOVED = "account.removed", "Provider account removed"
        MEMBER_INVITED = "member.invited", "Member invited"
        MEMBER_JOINED = "member.joined", "Member joined"
        MEMBER_ROLE_CHANGED = "member.role_changed", "Member role changed"
        MEMBER_REMOVED = "member.removed", "Member removed"
        INVITATION_REVOKED = "invitation.revoked", "Invitation revoked"
        WORKSPACE_CHANGED = "workspace.changed", "Workspace settings changed"
        RETENTION_CHANGED = "retention.changed", "Retention changed"
        MEETING_RETENTION_CHANGED = "meeting.retention_changed", "Meeting retention changed"
        MEETING_DELETED = "meeting.deleted", "Meeting deleted"
        EXPORT_DOWNLOADED = "export.downloaded", "Export downloaded"
        TOKEN_CREATED = "token.created", "API token created"
        TOKEN_REVOKED = "token.revoked", "API token revoked"

    workspace = models.ForeignKey("meetings.Workspace", on_delete=models.CASCADE, related_name="audit_entries")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+")
    # Kept as written so the entry survives the actor's account ("system" for retention).
    actor_name = models.CharField(max_length=150)
    action = models.CharField(max_length=40, choices=Action.choices, db_index=True)
    target = models.CharField(max_length=300, blank=True, help_text="What was acted on, in words.")
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "audit entries"

    def __str__(self):
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor_name} {self.action} {self.target}"
