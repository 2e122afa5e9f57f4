"""The meeting hub: a meeting, its speakers, utterances, insights, topics, summary and event log.

The event log (:class:`MeetingEvent`) is the source of truth for what a live page shows; the
other tables are its projection, written in the same transaction by ``streaming.persist``.
"""
import hashlib
import secrets

from django.conf import settings
from django.contrib.postgres.search import SearchVectorField
from django.db import models
from django.urls import reverse

from .choices import Engine
from .workspaces import Workspace


class Meeting(models.Model):
    class Source(models.TextChoices):
        UPLOAD = "upload", "Uploaded recording"
        MICROPHONE = "microphone", "Browser microphone"
        ZOOM = "zoom", "Zoom meeting (RTMP)"
        DIAL_IN = "dial_in", "PSTN / SIP dial-in"
        TWILIO = "twilio", "Twilio phone call"
        BOT = "bot", "Meeting bot"
        IMPORT = "import", "Imported transcript"

    Engine = Engine

    class Status(models.TextChoices):
        SCHEDULED = "scheduled"
        CONNECTING = "connecting"
        LIVE = "live"
        STOPPING = "stopping"
        PROCESSING = "processing"
        COMPLETED = "completed"
        FAILED = "failed"

    # Statuses in which a session runner owns the meeting.
    ACTIVE = (Status.SCHEDULED, Status.CONNECTING, Status.LIVE, Status.STOPPING, Status.PROCESSING)
    ENDED = (Status.COMPLETED, Status.FAILED)

    class Retention(models.TextChoices):
        INHERIT = "inherit", "As the workspace"
        KEEP = "keep", "Keep"
        DELETE = "delete", "Delete after"

    workspace = models.ForeignKey(Workspace, on_delete=models.PROTECT, related_name="meetings")
    title = models.CharField(max_length=200)
    source = models.CharField(max_length=20, choices=Source.choices)
    engine = models.CharField(max_length=20, choices=Engine.choices, default=Engine.LOCAL)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="meetings")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.SCHEDULED, db_index=True)
    failure_reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    recording = models.FileField(upload_to="recordings/%Y/%m/", blank=True)
    duration_ms = models.PositiveBigIntegerField(null=True, blank=True, help_text="Length of the recording, ms.")
    realtime = models.BooleanField(default=False, help_text="Feed an upload at real-time pace.")
    progress = models.FloatField(default=0, help_text="Percent of the recording's audio processed.")
    language = models.CharField(max_length=20, default="en-US")
    trackers = models.JSONField(default=list, blank=True,
                                help_text='Phrases to track: [{"name": str, "vocabulary": [phrase, ...]}].')

    # Event log head: the sequence number of the newest MeetingEvent.
    last_seq = models.PositiveBigIntegerField(default=0)

    # Runner lease: the runner that owns the session and until when, renewed by its heartbeat.
    runner_id = models.CharField(max_length=100, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    stop_requested = models.BooleanField(default=False)

    # Retention: this meeting's override of the workspace's policy; ``retention`` is the age
    # (from ``ended_at``) after which a DELETE meeting goes.
    retention_override = models.CharField(max_length=10, choices=Retention.choices, default=Retention.INHERIT)
    retention = models.DurationField(null=True, blank=True)
    # Set, and committed, before a deletion starts: from then on no page shows the meeting.
    deleting_at = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return self.title

    def get_absolute_url(self):
        if self.status in self.ENDED:
            return reverse("meetings:review", args=[self.pk])
        return reverse("meetings:live", args=[self.pk])

    @property
    def is_active(self):
        return self.status in self.ACTIVE

    @property
    def group_name(self):
        """The Channels group every browser watching this meeting joins."""
        return self.group_for(self.pk)

    @staticmethod
    def group_for(meeting_id):
        """:attr:`group_name` of the meeting with id ``meeting_id``, without loading it."""
        return f"meeting.{meeting_id}"


class Speaker(models.Model):
    meeting = models.ForeignKey(Meeting, on_delete=models.CASCADE, related_name="speakers")
    # The provider's identity for the speaker (Symbl `user.userId`/`id`, a diarization label).
    key = models.CharField(max_length=200)
    name = models.CharField(max_length=200)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["meeting", "key"], name="speaker_unique_key")]
        ordering = ["id"]

    def __str__(self):
        return self.name


class Utterance(models.Model):
    meeting = models.ForeignKey(Meeting, on_delete=models.CASCADE, related_name="utterances")
    speaker = models.ForeignKey(Speaker, null=True, blank=True, on_delete=models.SET_NULL, related_name="utterances")
    start_ms = models.PositiveBigIntegerField()
    end_ms = models.PositiveBigIntegerField()
    text = models.TextField()
    message_id = models.CharField(max_length=100, help_text="The provider's message id.")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["meeting", "message_id"], name="utterance_unique_message")]
        ordering = ["start_ms", "id"]

    def __str__(self):
        return self.text[:60]


class Insight(models.Model):
    class Type(models.TextChoices):
        QUESTION = "question", "Question"
        ACTION_ITEM = "action_item", "Action item"
        FOLLOW_UP = "follow_up", "Follow-up"

    meeting = models.ForeignKey(Meeting, on_delete=models.CASCADE, related_name="insights")
    type = models.CharField(max_length=20, choices=Type.choices)
    text = models.TextField()
    assignee = models.CharField(max_length=200, blank=True)
    due = models.DateField(null=True, blank=True)
    done = models.BooleanField(default=False)
    provider_id = models.CharField(max_length=100)
    utterances = models.ManyToManyField(Utterance, blank=True, related_name="insights")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["meeting", "provider_id"], name="insight_unique_provider_id")]
        ordering = ["id"]

    def __str__(self):
        return f"{self.get_type_display()}: {self.text[:60]}"


class Topic(models.Model):
    meeting = models.ForeignKey(Meeting, on_delete=models.CASCADE, related_name="topics")
    phrase = models.CharField(max_length=200)
    score = models.FloatField(help_text="Relevance, 0 to 1.")
    utterances = models.ManyToManyField(Utterance, blank=True, related_name="topics")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["meeting", "phrase"], name="topic_unique_phrase")]
        ordering = ["-score", "phrase"]

    def __str__(self):
        return self.phrase


class Summary(models.Model):
    meeting = models.OneToOneField(Meeting, on_delete=models.CASCADE, related_name="summary")
    text = models.TextField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "summaries"

    def __str__(self):
        return self.text[:60]


class SearchEntry(models.Model):
    """One searchable text of a meeting: a final utterance, an insight, a topic, its title or a
    participant's name. ``meetings.search`` keeps these rows current and queries them.

    The full-text index lives beside the row, per database vendor (migration 0003): on
    PostgreSQL the ``vector`` column (``to_tsvector('english', text)``, set by a trigger, GIN
    index, created there so SQLite never sees it); on SQLite the FTS5 table ``meetings_searchentry_fts`` (porter stemmer), kept in step
    by triggers. ``vector`` stays NULL on SQLite.
    """

    class Kind(models.TextChoices):
        UTTERANCE = "utterance"
        INSIGHT = "insight"
        TOPIC = "topic"
        TITLE = "title"
        SPEAKER = "speaker"

    meeting = models.ForeignKey(Meeting, on_delete=models.CASCADE, related_name="search_entries")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    utterance = models.OneToOneField(Utterance, null=True, blank=True, on_delete=models.CASCADE,
                                     related_name="search_entry")
    insight = models.OneToOneField(Insight, null=True, blank=True, on_delete=models.CASCADE,
                                   related_name="search_entry")
    topic = models.OneToOneField(Topic, null=True, blank=True, on_delete=models.CASCADE, related_name="search_entry")
    speaker = models.OneToOneField(Speaker, null=True, blank=True, on_delete=models.CASCADE,
                                   related_name="search_entry")
    # Who said it, for the speaker filter: the utterance's speaker, an insight's first linked
    # utterance's speaker, a speaker entry's own speaker.
    said_by = models.ForeignKey(Speaker, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    text = models.TextField()
    vector = SearchVectorField(null=True, editable=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["meeting"], condition=models.Q(kind="title"),
                                               name="searchentry_one_title")]

    def __str__(self):
        return f"{self.kind}: {self.text[:60]}"


class MeetingEvent(models.Model):
    """One protocol event, append-only, numbered per meeting from 1 with no gaps."""

    meeting = models.ForeignKey(Meeting, on_delete=models.CASCADE, related_name="events")
    seq = models.PositiveBigIntegerField()
    type = models.CharField(max_length=50)
    payload = models.JSONField()
    # Provider message id (or another stable key): the same key twice is stored once.
    dedupe_key = models.CharField(max_length=200, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["meeting", "seq"], name="event_unique_seq"),
            models.UniqueConstraint(fields=["meeting", "dedupe_key"], name="event_unique_dedupe_key"),
        ]
        ordering = ["meeting", "seq"]

    def __str__(self):
        return f"{self.meeting_id}#{self.seq} {self.type}"


class ApiTokenQuerySet(models.QuerySet):
    def active(self):
        return self.filter(revoked_at__isnull=True)


class ApiToken(models.Model):
    """A bearer token for the JSON API. Only its SHA-256 digest is stored; the token is shown once."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    # A token acts only in this workspace, with its user's role there.
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    digest = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=12, help_text="The first characters, to recognise a token.")
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"

    @staticmethod
    def hash(token):
        return hashlib.sha256(token.encode()).hexdigest()

    @classmethod
    def issue(cls, user, workspace, name):
        """Create a token for ``user`` in ``workspace``; returns ``(ApiToken, plaintext)``. The plaintext is not kept."""
        plaintext = "prl_" + secrets.token_urlsafe(32)
        token = cls.objects.create(user=user, workspace=workspace, name=name, digest=cls.hash(plaintext),
                                   prefix=plaintext[:10])
        return token, plaintext
