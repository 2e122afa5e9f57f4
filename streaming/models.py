"""State the streaming engines keep per meeting, beside (never inside) the meeting hub."""
from django.db import models


class SymblSession(models.Model):
    """A meeting's Symbl identifiers: one connectionId for its whole life (reconnects and runner
    takeovers rejoin the same Symbl conversation), the conversationId Symbl assigned, and the
    Async API job for a recording processed whole (saved once Symbl accepts the recording, so a
    runner taking over polls that job rather than sending the recording again)."""

    meeting = models.OneToOneField("meetings.Meeting", on_delete=models.CASCADE, related_name="symbl")
    connection_id = models.CharField(max_length=64, unique=True)
    conversation_id = models.CharField(max_length=64, blank=True)
    job_id = models.CharField(max_length=64, blank=True)
    reconciled_at = models.DateTimeField(null=True, blank=True)
    members = models.JSONField(default=list, blank=True, help_text="Conversation API members: [{id, name, email}].")
    analytics = models.JSONField(default=dict, blank=True, help_text="Conversation API analytics: {metrics, members}.")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"Symbl {self.conversation_id or self.connection_id} for meeting {self.meeting_id}"
