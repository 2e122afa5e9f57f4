"""Retention pages, admins only: the workspace policy, the deletions log, a meeting's override and
"delete now". Thin: ``meetings.retention`` holds the rules, ``meetings.access`` decides who may."""
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from . import audit, retention, tasks
from .access import ADMIN, VIEW, can, get_meeting_or_404, visible_meetings, workspace_required
from .models import AuditEntry, DeletionRecord, Meeting, RemoteDeletion
from .retention_forms import MeetingRetentionForm, WorkspaceRetentionForm


def _policy(override, duration):
    if override == Meeting.Retention.INHERIT:
        return "as the workspace"
    return "keep" if duration is None else f"delete after {retention.describe(duration)}"


@workspace_required(ADMIN)
def policy(request):
    workspace = request.workspace
    form = WorkspaceRetentionForm(request.POST or None, workspace=workspace)
    if request.method == "POST":
        if form.is_valid():
            old, new = workspace.retention, form.cleaned_data["retention"]
            if old != new:
                workspace.retention = new
                workspace.save(update_fields=["retention"])
                audit.record(request.user, workspace, AuditEntry.Action.RETENTION_CHANGED, workspace,
                             old=_policy(None, old), new=_policy(None, new))
            messages.success(request, f"Retention: {_policy(None, new)}.")
            return redirect("retention:policy")
    context = {
        "form": form,
        "current": _policy(None, workspace.retention),
        "overrides": [(m, _policy(m.retention_override, m.retention)) for m in
                      visible_meetings(request.user, workspace)
                      .exclude(retention_override=Meeting.Retention.INHERIT).order_by("-created_at")[:100]],
        "failed": RemoteDeletion.objects.filter(record__workspace=workspace,
                                                status=RemoteDeletion.Status.FAILED).count(),
    }
    return render(request, "meetings/retention.html", context, status=400 if form.errors else 200)


@workspace_required(ADMIN)
def deletions(request):
    records = (DeletionRecord.objects.filter(workspace=request.workspace)
               .prefetch_related("remote").order_by("-started_at", "-pk")[:200])
    return render(request, "meetings/retention_deletions.html", {"records": records})


def _admin_meeting(request, meeting_id):
    """The meeting, when ``request.user`` sees it (else 404) and is an admin of its workspace (else 403)."""
    meeting = get_meeting_or_404(request.user, meeting_id)
    if not can(request.user, meeting.workspace_id, ADMIN):
        raise PermissionDenied("Only the workspace's admins can change a meeting's retention or delete it.")
    return meeting


@workspace_required(VIEW)
@require_POST
def meeting_policy(request, meeting_id):
    meeting = _admin_meeting(request, meeting_id)
    form = MeetingRetentionForm(request.POST, meeting=meeting)
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, f"Retention not changed: {error}")
        return redirect(meeting)
    old = _policy(meeting.retention_override, meeting.retention)
    meeting.retention_override = form.cleaned_data["policy"]
    meeting.retention = form.cleaned_data["retention"]
    new = _policy(meeting.retention_override, meeting.retention)
    if old != new:
        meeting.save(update_fields=["retention_override", "retention"])
        audit.record(request.user, meeting.workspace, AuditEntry.Action.MEETING_RETENTION_CHANGED, meeting,
                     meeting_id=meeting.pk, old=old, new=new)
    messages.success(request, f"This meeting's retention: {new}.")
    return redirect(meeting)


@workspace_required(VIEW)
@require_POST
def delete_now(request, meeting_id):
    meeting = _admin_meeting(request, meeting_id)
    if meeting.is_active:
        messages.error(request, "Stop the session before deleting the meeting.")
        return redirect(meeting)
    record = retention.claim_deletion(meeting, DeletionRecord.Reason.MANUAL, request.user)
    if record is not None:
        # The meeting is hidden from now on; the rows go off the request (inline on the embedded default).
        transaction.on_commit(lambda: tasks.delete_meeting.delay(meeting.pk))
    messages.success(request, f"“{meeting.title}” is being deleted.")
    if meeting.workspace_id == request.workspace.pk:
        return redirect("retention:deletions")
    return redirect("meetings:list")


def review_context(user, meeting):
    """What ``templates/meetings/_meeting_retention.html`` needs, for the review page's context:
    ``{"retention_admin": bool, "retention_form", "retention_due": datetime | None,
    "retention_policy": words}``."""
    return {
        "retention_admin": can(user, meeting.workspace_id, ADMIN),
        "retention_form": MeetingRetentionForm(meeting=meeting),
        "retention_due": retention.due_at(meeting),
        "retention_policy": _policy(meeting.retention_override, meeting.retention)
        if meeting.retention_override != Meeting.Retention.INHERIT
        else f"as the workspace ({_policy(None, meeting.workspace.retention)})",
    }
