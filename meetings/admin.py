from django.contrib import admin

from . import models


class SpeakerInline(admin.TabularInline):
    model = models.Speaker
    extra = 0


@admin.register(models.Meeting)
class MeetingAdmin(admin.ModelAdmin):
    list_display = ["title", "source", "engine", "status", "owner", "created_at", "ended_at"]
    list_filter = ["status", "source", "engine"]
    search_fields = ["title"]
    readonly_fields = ["last_seq", "runner_id", "lease_expires_at", "progress"]
    inlines = [SpeakerInline]


@admin.register(models.Speaker)
class SpeakerAdmin(admin.ModelAdmin):
    list_display = ["name", "key", "meeting"]
    search_fields = ["name", "key"]


@admin.register(models.Utterance)
class UtteranceAdmin(admin.ModelAdmin):
    list_display = ["meeting", "speaker", "start_ms", "end_ms", "text", "is_final"]
    list_filter = ["is_final"]
    search_fields = ["text"]
    raw_id_fields = ["meeting", "speaker"]


@admin.register(models.Insight)
class InsightAdmin(admin.ModelAdmin):
    list_display = ["meeting", "type", "text", "assignee", "due", "done"]
    list_filter = ["type", "done"]
    search_fields = ["text", "assignee"]
    raw_id_fields = ["meeting", "utterances"]


@admin.register(models.Topic)
class TopicAdmin(admin.ModelAdmin):
    list_display = ["meeting", "phrase", "score"]
    search_fields = ["phrase"]
    raw_id_fields = ["meeting", "utterances"]


@admin.register(models.Summary)
class SummaryAdmin(admin.ModelAdmin):
    list_display = ["meeting", "updated_at"]
    raw_id_fields = ["meeting"]


@admin.register(models.MeetingEvent)
class MeetingEventAdmin(admin.ModelAdmin):
    """The event log is append-only: readable here, never edited."""

    list_display = ["meeting", "seq", "type", "dedupe_key", "created_at"]
    list_filter = ["type"]
    raw_id_fields = ["meeting"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(models.ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["name", "user", "prefix", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = ["digest", "prefix"]
