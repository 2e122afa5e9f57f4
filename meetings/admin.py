from django.contrib import admin
from django.core.exceptions import ValidationError
from django.forms.models import BaseInlineFormSet

from . import crypto, models


class SpeakerInline(admin.TabularInline):
    model = models.Speaker
    extra = 0


@admin.register(models.Meeting)
class MeetingAdmin(admin.ModelAdmin):
    list_display = ["title", "workspace", "source", "engine", "status", "owner", "created_at", "ended_at"]
    list_filter = ["status", "source", "engine", "workspace"]
    search_fields = ["title"]
    readonly_fields = ["last_seq", "runner_id", "lease_expires_at", "progress"]
    inlines = [SpeakerInline]


@admin.register(models.Speaker)
class SpeakerAdmin(admin.ModelAdmin):
    list_display = ["name", "key", "meeting"]
    search_fields = ["name", "key"]


@admin.register(models.Utterance)
class UtteranceAdmin(admin.ModelAdmin):
    list_display = ["meeting", "speaker", "start_ms", "end_ms", "text"]
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
    list_display = ["name", "user", "workspace", "prefix", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["workspace"]
    readonly_fields = ["digest", "prefix"]


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records written by Parley itself (deletions, the audit log): readable here, never edited."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class MembershipFormSet(BaseInlineFormSet):
    """A workspace keeps at least one admin, as ``meetings.workspaces`` insists everywhere else."""

    def clean(self):
        super().clean()
        roles = [form.cleaned_data.get("role") for form in self.forms
                 if form.cleaned_data and not form.cleaned_data.get("DELETE")]
        if models.Role.ADMIN not in roles:
            raise ValidationError("A workspace needs at least one admin.")


class MembershipInline(admin.TabularInline):
    model = models.Membership
    formset = MembershipFormSet
    extra = 0
    raw_id_fields = ["user"]
    readonly_fields = ["joined_at"]


@admin.register(models.Workspace)
class WorkspaceAdmin(admin.ModelAdmin):
    list_display = ["name", "default_engine", "retention", "created_at"]
    search_fields = ["name"]
    readonly_fields = ["created_at"]
    inlines = [MembershipInline]


@admin.register(models.Invitation)
class InvitationAdmin(admin.ModelAdmin):
    """Invitations are issued from the members page, which e-mails the link: the token exists only
    there, so none is added here; an admin may withdraw one by setting ``revoked_at``."""

    list_display = ["email", "workspace", "role", "invited_by", "created_at", "expires_at", "accepted_at", "revoked_at"]
    list_filter = ["workspace", "role"]
    search_fields = ["email"]
    fields = ["workspace", "email", "role", "invited_by", "digest", "created_at", "expires_at", "accepted_at",
              "accepted_by", "revoked_at"]
    readonly_fields = ["workspace", "email", "role", "invited_by", "digest", "created_at", "expires_at",
                       "accepted_at", "accepted_by"]

    def has_add_permission(self, request):
        return False


@admin.register(models.ProviderAccount)
class ProviderAccountAdmin(admin.ModelAdmin):
    """Secrets are set on the workspace's accounts page: never shown or edited here, only which are set."""

    list_display = ["provider", "workspace", "updated_at", "updated_by", "last_test_at", "last_test_ok"]
    list_filter = ["provider", "workspace"]
    exclude = ["encrypted_secrets"]
    readonly_fields = ["secrets_set", "updated_at", "updated_by", "last_test_at", "last_test_ok", "last_test_message"]

    @admin.display(description="Secrets set")
    def secrets_set(self, obj):
        if obj is None or not obj.encrypted_secrets:
            return "none"
        try:
            return ", ".join(obj.secret_names()) or "none"
        except crypto.SecretError:
            return "unreadable with the current ENCRYPTION_KEY"


class RemoteDeletionInline(admin.TabularInline):
    model = models.RemoteDeletion
    extra = 0
    can_delete = False
    readonly_fields = ["provider", "remote_id", "status", "attempts", "last_error", "next_attempt_at", "done_at"]

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(models.DeletionRecord)
class DeletionRecordAdmin(ReadOnlyAdmin):
    list_display = ["meeting_title", "meeting_id", "workspace", "reason", "started_at", "finished_at"]
    list_filter = ["reason", "workspace"]
    search_fields = ["meeting_title"]
    inlines = [RemoteDeletionInline]


@admin.register(models.AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "workspace", "actor_name", "action", "target"]
    list_filter = ["action", "workspace", "created_at"]
    search_fields = ["actor_name", "target"]
    date_hierarchy = "created_at"


class BotEventInline(admin.TabularInline):
    model = models.BotEvent
    extra = 0
    can_delete = False
    fields = ["kind", "key", "applied", "payload"]
    readonly_fields = fields


@admin.register(models.Bot)
class BotAdmin(ReadOnlyAdmin):
    """Bots change through the vendor's callbacks, never here; the callback token is a credential."""

    list_display = ["meeting", "platform", "status", "vendor_bot_id", "created_at"]
    list_filter = ["status", "platform"]
    exclude = ["callback_token"]
    inlines = [BotEventInline]
