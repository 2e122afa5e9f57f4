"""Meeting bots: a bot a vendor sends into a Zoom, Google Meet or Teams meeting for one Parley meeting.

A :class:`Bot` holds what was asked of the vendor (the form's fields, sent as the create-bot body
of ``meetings.bots.meetstream``), the vendor's ids, and the bot's lifecycle as its callbacks
report it. Each callback is kept once in :class:`BotEvent` (keyed, so a repeated callback changes
nothing); what the meeting page shows goes through the persister as protocol events.
"""
import secrets
import uuid

from django.db import models

from .hub import Meeting


def new_callback_token():
    """The unguessable per-bot path segment of the callback URLs (256 random bits)."""
    return secrets.token_urlsafe(32)


class Bot(models.Model):
    class Platform(models.TextChoices):
        ZOOM = "zoom", "Zoom"
        GOOGLE_MEET = "google_meet", "Google Meet"
        TEAMS = "teams", "Microsoft Teams"

    class Transcription(models.TextChoices):
        # MeetStream's provider keys (recording_config.transcript.provider, api-contracts §11.1).
        DEEPGRAM_STREAMING = "deepgram_streaming", "Deepgram, live (vendor)"
        ASSEMBLYAI_STREAMING = "assemblyai_streaming", "AssemblyAI, live (vendor)"
        DEEPGRAM = "deepgram", "Deepgram, after the call (vendor)"
        ASSEMBLYAI = "assemblyai", "AssemblyAI, after the call (vendor)"
        # No vendor transcription: the bot's live audio goes to this meeting's Parley engine.
        PARLEY = "parley", "Parley's engine, fed by the bot's live audio"

    STREAMING = (Transcription.DEEPGRAM_STREAMING, Transcription.ASSEMBLYAI_STREAMING)
    POST_CALL = (Transcription.DEEPGRAM, Transcription.ASSEMBLYAI)

    class Status(models.TextChoices):
        SCHEDULED = "scheduled", "Scheduled"
        CREATING = "creating", "Being created"
        CREATED = "created", "Created"
        JOINING = "joining", "Joining"
        IN_WAITING_ROOM = "in_waiting_room", "In the waiting room"
        IN_MEETING = "in_meeting", "In the meeting"
        RECORDING = "recording", "Recording"
        LEAVING = "leaving", "Leaving"
        STOPPED = "stopped", "Left the meeting"
        NOT_ALLOWED = "not_allowed", "Not allowed in"
        DENIED = "denied", "Denied"
        ERROR = "error", "Error"
        DONE = "done", "Done"
        CANCELLED = "cancelled", "Cancelled"
        FAILED = "failed", "Could not be created"

    # Statuses after which the bot is out of the meeting for good.
    OUT = (Status.STOPPED, Status.NOT_ALLOWED, Status.DENIED, Status.ERROR, Status.DONE, Status.CANCELLED,
           Status.FAILED)
    # The lifecycle's order: a callback may move a bot forward only (late or repeated ones are kept, not applied).
    ORDER = {s: i for i, s in enumerate([
        Status.SCHEDULED, Status.CREATING, Status.CREATED, Status.JOINING, Status.IN_WAITING_ROOM,
        Status.IN_MEETING, Status.RECORDING, Status.LEAVING, Status.STOPPED, Status.DONE])}
    for _terminal in (Status.NOT_ALLOWED, Status.DENIED, Status.ERROR, Status.CANCELLED, Status.FAILED):
        ORDER[_terminal] = ORDER[Status.STOPPED]
    del _terminal

    # MeetStream's automatic_leave defaults and limits, seconds (SEED-004; api-contracts §11.1):
    # recording_permission_denied_timeout is Zoom-only, 60–300; in_call_recording_timeout ≥ 600.
    TIMEOUT_DEFAULTS = {"waiting_room_timeout": 600, "everyone_left_timeout": 600,
                        "in_call_recording_timeout": 14400, "recording_permission_denied_timeout": 60}

    meeting = models.OneToOneField(Meeting, on_delete=models.CASCADE, related_name="bot")
    vendor = models.CharField(max_length=30, default="meetstream")
    meeting_url = models.URLField(max_length=1000)
    platform = models.CharField(max_length=20, choices=Platform.choices)
    bot_name = models.CharField(max_length=100, default="Parley Notetaker")
    join_message = models.CharField(max_length=500, blank=True)
    image_url = models.URLField(max_length=1000, blank=True)
    audio_required = models.BooleanField(default=True)
    video_required = models.BooleanField(default=False)
    live_transcription = models.BooleanField(default=True)
    live_audio = models.BooleanField(default=False)
    transcription = models.CharField(max_length=30, choices=Transcription.choices,
                                     default=Transcription.DEEPGRAM_STREAMING)
    join_at = models.DateTimeField(null=True, blank=True, help_text="When the bot joins; empty is now.")
    retention_hours = models.PositiveIntegerField(null=True, blank=True,
                                                  help_text="Hours the vendor keeps the data; empty is its default.")
    waiting_room_timeout = models.PositiveIntegerField(default=600)
    everyone_left_timeout = models.PositiveIntegerField(default=600)
    in_call_recording_timeout = models.PositiveIntegerField(default=14400)
    recording_permission_denied_timeout = models.PositiveIntegerField(default=60)
    participant_events = models.BooleanField(default=True, help_text="Realtime participant join/leave events.")

    callback_token = models.CharField(max_length=64, unique=True, default=new_callback_token, editable=False)
    callback_base = models.CharField(max_length=300, blank=True,
                                     help_text="Parley's public origin the vendor calls back, e.g. https://parley.example.")
    idempotency_key = models.UUIDField(default=uuid.uuid4, editable=False)
    vendor_bot_id = models.CharField(max_length=200, blank=True, db_index=True)
    transcript_id = models.CharField(max_length=200, blank=True)

    status = models.CharField(max_length=20, choices=Status.choices, default=Status.SCHEDULED, db_index=True)
    status_message = models.CharField(max_length=500, blank=True, help_text="The vendor's words for the status.")
    error = models.TextField(blank=True, help_text="The last vendor error, as shown to the user.")
    audio_processed = models.BooleanField(default=False)
    transcript_processed = models.BooleanField(default=False)
    transcript_fetched = models.BooleanField(default=False)
    data_deleted_at = models.DateTimeField(null=True, blank=True)
    deleted_objects = models.PositiveIntegerField(null=True, blank=True)
    # Participants as the realtime events report them: {participant id: {"name": str, "present": bool}}.
    participants = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.bot_name} → {self.meeting_url}"

    @property
    def is_out(self):
        return self.status in self.OUT

    @property
    def parley_engine(self):
        """Whether the bot's live audio feeds this meeting's Parley engine (no vendor transcription)."""
        return self.transcription == self.Transcription.PARLEY

    def automatic_leave(self):
        return {name: getattr(self, name) for name in self.TIMEOUT_DEFAULTS}


class BotEvent(models.Model):
    """One callback or realtime event of a bot, as received, once per ``key``."""

    bot = models.ForeignKey(Bot, on_delete=models.CASCADE, related_name="events")
    key = models.CharField(max_length=200, help_text="What makes a repeat the same event.")
    kind = models.CharField(max_length=100)
    payload = models.JSONField()
    applied = models.BooleanField(default=True, help_text="False: kept, but out of order or unknown.")
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["bot", "key"], name="botevent_unique_key")]
        ordering = ["id"]

    def __str__(self):
        return f"{self.bot_id} {self.kind}"
