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


class ZoomStream(models.Model):
    """A meeting's Zoom live stream: which Zoom meeting, where Zoom pushes RTMP, and how far it got.

    On the local engine Parley is the RTMP destination: ``stream_url`` is Parley's ingest
    (``ZOOM_RTMP_PUBLIC_URL``) and ``stream_key`` an unguessable key of its own. On the symbl engine
    Symbl's managed stream is: ``stream_url`` is its ``streamUrl`` minus the ``streamId``, which is
    the ``stream_key`` (https://docs.symbl.ai, ``shared/api-contracts.md`` §5).
    """

    class State(models.TextChoices):
        PENDING = "pending", "Waiting for the Zoom meeting"
        REGISTERED = "registered", "Registered with Zoom"
        LIVE = "live", "Streaming"
        STOPPED = "stopped", "Stopped"
        FAILED = "failed", "Failed"

    meeting = models.OneToOneField("meetings.Meeting", on_delete=models.CASCADE, related_name="zoom_stream")
    zoom_meeting_id = models.CharField(max_length=32, db_index=True, help_text="Zoom's numeric meeting id.")
    stream_url = models.CharField(max_length=1024, blank=True, help_text="RTMP server URL, without the key.")
    stream_key = models.CharField(max_length=512, unique=True)
    symbl_stream_id = models.CharField(max_length=64, blank=True)
    page_url = models.URLField(max_length=1024, blank=True, help_text="The meeting's page, given to Zoom.")
    state = models.CharField(max_length=20, choices=State.choices, default=State.PENDING)
    auto_start = models.BooleanField(default=False, help_text="Start when Zoom says the meeting started.")
    zoom_started = models.BooleanField(default=False, help_text="Zoom's meeting.started arrived.")
    registered_with_zoom = models.BooleanField(default=False)
    live_at = models.DateTimeField(null=True, blank=True, help_text="When the stream's audio began.")
    timeline_applied_at = models.DateTimeField(null=True, blank=True)
    failure = models.TextField(blank=True, help_text="The step that failed and the provider's reason.")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"Zoom {self.zoom_meeting_id} → meeting {self.meeting_id} ({self.state})"

    @property
    def rtmp_url(self):
        """What an RTMP client publishes to: ``{stream_url}/{stream_key}``."""
        return f"{self.stream_url.rstrip('/')}/{self.stream_key}"
