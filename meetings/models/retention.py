"""What retention deleted: one :class:`DeletionRecord` per deleted meeting, and the copies held by
providers (Symbl, the bot vendor) that had to be deleted there too."""
from django.db import models


class DeletionRecord(models.Model):
    class Reason(models.TextChoices):
        RETENTION = "retention", "Retention policy"
        MANUAL = "manual", "Deleted by an admin"

    workspace = models.ForeignKey("meetings.Workspace", on_delete=models.CASCADE, related_name="deletions")
    # The deleted meeting is gone: these keep what it was.
    meeting_id = models.PositiveBigIntegerField()
    meeting_title = models.CharField(max_length=200)
    meeting_created_at = models.DateTimeField()
    reason = models.CharField(max_length=20, choices=Reason.choices, default=Reason.RETENTION)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    # {"utterances": 120, "insights": 8, "events": 400, "recording": 1, ...}
    counts = models.JSONField(default=dict)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self):
        return f"Deletion of meeting {self.meeting_id} ({self.meeting_title})"

    @property
    def total(self):
        return sum(self.counts.values())


class RemoteDeletion(models.Model):
    """A provider's copy of a deleted meeting: deleted there, or retried until it is."""

    class Status(models.TextChoices):
        PENDING = "pending"
        DONE = "done"
        FAILED = "failed", "Failed, will retry"

    record = models.ForeignKey(DeletionRecord, on_delete=models.CASCADE, related_name="remote")
    provider = models.CharField(max_length=20)
    remote_id = models.CharField(max_length=200, help_text="The provider's id: a Symbl conversationId, a bot id.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return f"{self.provider} {self.remote_id}: {self.status}"
