"""Retention: which meetings expire, deleting them in batches everywhere they are held, the pages."""
import math
import re
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from meetings import retention, search
from meetings.importers import import_file
from meetings.models import (ApiToken, AuditEntry, DeletionRecord, Insight, Meeting, MeetingEvent, RemoteDeletion,
                             SearchEntry, Speaker, Topic, Utterance)
from meetings.tasks import apply_retention
from streaming.engines.symbl import client as symbl_client
from streaming.models import SymblSession
from tests.accounts import provider_account
from tests.conftest import DATA, new_meeting
from tests.fakes.http import serving
from tests.fakes.meetstream import MeetStreamFake
from tests.fakes.symbl import Conversation, SymblEmulator

pytestmark = pytest.mark.django_db(transaction=True)

HOUR, DAY = timedelta(hours=1), timedelta(days=1)
SYMBL_ID, SYMBL_SECRET = "retention-app", "retention-secret"
MEETSTREAM_KEY = "ms-key-for-retention"


def ended(owner, ago, **fields):
    """A completed meeting of ``owner`` that ended ``ago`` (a timedelta) before now."""
    fields.setdefault("status", Meeting.Status.COMPLETED)
    return new_meeting(owner, ended_at=timezone.now() - ago, **fields)


def imported(owner, workspace, ago=40 * DAY):
    """The Welsh Parliament committee session (tests/data/meetings), ended ``ago`` before now,
    with a real recording attached."""
    meeting = import_file(DATA / "meetings" / "education_13.json", owner, workspace, title="Committee evidence")
    meeting.recording.save("committee.flac", ContentFile((DATA / "audio" / "beckett.flac").read_bytes()))
    Meeting.objects.filter(pk=meeting.pk).update(ended_at=timezone.now() - ago)
    meeting.refresh_from_db()
    return meeting


def rows_of(meeting_id):
    return {
        "utterances": Utterance.objects.filter(meeting_id=meeting_id).count(),
        "speakers": Speaker.objects.filter(meeting_id=meeting_id).count(),
        "insights": Insight.objects.filter(meeting_id=meeting_id).count(),
        "topics": Topic.objects.filter(meeting_id=meeting_id).count(),
        "events": MeetingEvent.objects.filter(meeting_id=meeting_id).count(),
        "search_entries": SearchEntry.objects.filter(meeting_id=meeting_id).count(),
    }


# -- which meetings expire ---------------------------------------------------------------------


def test_ended_meetings_expire_by_the_workspace_default_or_their_own_override(alice, bob, workspace, other_workspace):
    workspace.retention = 30 * DAY
    workspace.save()
    old = ended(alice, 31 * DAY, title="old")
    failed = ended(alice, 31 * DAY, title="failed", status=Meeting.Status.FAILED)
    ended(alice, 29 * DAY, title="young")
    ended(alice, 400 * DAY, title="kept", retention_override=Meeting.Retention.KEEP)
    own_hours = ended(alice, 37 * HOUR, title="own hours", retention_override=Meeting.Retention.DELETE,
                      retention=36 * HOUR)
    ended(alice, 35 * HOUR, title="own hours, young", retention_override=Meeting.Retention.DELETE,
          retention=36 * HOUR)
    # Without an end time the age counts from creation.
    never_ended = new_meeting(alice, title="no end", status=Meeting.Status.COMPLETED)
    Meeting.objects.filter(pk=never_ended.pk).update(created_at=timezone.now() - 31 * DAY)
    # Running sessions are never deleted, whatever their age.
    live = new_meeting(alice, title="live", status=Meeting.Status.LIVE)
    Meeting.objects.filter(pk=live.pk).update(created_at=timezone.now() - 400 * DAY)
    ended(alice, 400 * DAY, title="being deleted", deleting_at=timezone.now())
    # Globex keeps everything (NULL retention).
    ended(bob, 400 * DAY, title="globex")

    assert set(retention.expired_meetings()) == {old, failed, own_hours, never_ended}


def test_hours_and_days_are_distinct_and_expiry_is_strictly_after_the_retention(alice, workspace):
    workspace.retention = 2 * DAY
    workspace.save()
    meeting = ended(alice, 36 * HOUR)
    now = timezone.now()
    assert list(retention.expired_meetings(now)) == []
    assert list(retention.expired_meetings(now + 12 * HOUR + timedelta(seconds=1))) == [meeting]
    workspace.retention = 24 * HOUR
    workspace.save()
    assert list(retention.expired_meetings(now)) == [meeting]
    # An override of 48 hours on the meeting wins over the workspace's 24.
    Meeting.objects.filter(pk=meeting.pk).update(retention_override=Meeting.Retention.DELETE, retention=48 * HOUR)
    assert list(retention.expired_meetings(now)) == []


# -- deleting ----------------------------------------------------------------------------------


def test_everything_is_deleted_in_batches_and_counted(alice, workspace, settings):
    settings.RETENTION_BATCH_SIZE = 3
    meeting = imported(alice, workspace)
    before = rows_of(meeting.pk)
    assert before["utterances"] > 100 and before["insights"] and before["events"] > before["utterances"]
    recording = Path(meeting.recording.path)
    assert recording.exists()

    with CaptureQueriesContext(connection) as queries:
        record = retention.delete_meeting(meeting, DeletionRecord.Reason.RETENTION)

    utterance_deletes = [q["sql"] for q in queries.captured_queries
                         if q["sql"].startswith('DELETE FROM "meetings_utterance" WHERE')]
    assert len(utterance_deletes) == math.ceil(before["utterances"] / 3)
    assert [len(re.search(r" IN \(([^)]*)\)", sql).group(1).split(",")) for sql in utterance_deletes] == (
        [3] * (before["utterances"] // 3) + ([before["utterances"] % 3] if before["utterances"] % 3 else []))
    assert not Meeting.objects.filter(pk=meeting.pk).exists()
    assert rows_of(meeting.pk) == dict.fromkeys(before, 0)
    assert not recording.exists()

    record.refresh_from_db()
    assert record.finished_at is not None and record.meeting_title == "Committee evidence"
    assert {key: record.counts[key] for key in before} == before
    assert record.counts["recording"] == 1 and record.counts["summary"] == 1
    entry = AuditEntry.objects.get(action=AuditEntry.Action.MEETING_DELETED)
    assert (entry.actor_name, entry.details) == ("system", {"meeting_id": meeting.pk, "reason": "retention"})


def test_the_meeting_is_hidden_everywhere_before_its_rows_go(alice, workspace, client, monkeypatch):
    meeting = imported(alice, workspace)
    token = ApiToken.issue(alice, workspace, "test")[1]
    client.force_login(alice)
    assert "Committee evidence" in client.get("/").content.decode()
    assert search.search(alice, "prosecution").hits
    seen, recording = {}, Path(meeting.recording.path)
    batches = retention._delete_in_batches

    def first_batch(queryset, record):
        if not seen:
            # Committed (no transaction open), recording gone, rows still there: hidden from everyone.
            seen["in_transaction"] = connection.in_atomic_block
            seen["recording"] = recording.exists()
            seen["utterances"] = Utterance.objects.filter(meeting_id=meeting.pk).count()
            seen["list"] = "Committee evidence" in client.get("/").content.decode()
            seen["review"] = client.get(f"/meetings/{meeting.pk}/review/").status_code
            api = client.get(f"/api/v1/meetings/{meeting.pk}/", HTTP_AUTHORIZATION=f"Bearer {token}")
            seen["api"] = api.status_code
            seen["search"] = search.search(alice, "prosecution").hits
        return batches(queryset, record)

    monkeypatch.setattr(retention, "_delete_in_batches", first_batch)
    retention.delete_meeting(meeting, DeletionRecord.Reason.RETENTION)
    assert seen == {"in_transaction": False, "recording": False, "utterances": 133, "list": False, "review": 404,
                    "api": 404, "search": []}


def test_a_crashed_deletion_is_finished_by_the_next_run(alice, workspace, monkeypatch):
    meeting = imported(alice, workspace)
    before = rows_of(meeting.pk)
    batches = retention._delete_in_batches

    def crash_at_topics(queryset, record):
        if queryset.model is Topic:
            raise RuntimeError("worker killed")
        return batches(queryset, record)

    monkeypatch.setattr(retention, "_delete_in_batches", crash_at_topics)
    with pytest.raises(RuntimeError):
        retention.delete_meeting(meeting, DeletionRecord.Reason.RETENTION)
    monkeypatch.setattr(retention, "_delete_in_batches", batches)
    half = Meeting.objects.get(pk=meeting.pk)
    assert half.deleting_at is not None and Utterance.objects.filter(meeting_id=meeting.pk).exists()
    assert not SearchEntry.objects.filter(meeting_id=meeting.pk).exists()
    assert DeletionRecord.objects.get().finished_at is None

    # A claim younger than STALLED_AFTER may still be running: left alone.
    assert retention.apply(timezone.now())["resumed"] == 0
    outcome = retention.apply(timezone.now() + retention.STALLED_AFTER + timedelta(minutes=1))
    assert (outcome["resumed"], outcome["deleted"]) == (1, 0)
    assert not Meeting.objects.filter(pk=meeting.pk).exists()
    record = DeletionRecord.objects.get()
    assert record.finished_at is not None
    assert {key: record.counts[key] for key in before} == before
    assert AuditEntry.objects.filter(action=AuditEntry.Action.MEETING_DELETED).count() == 1


def test_a_second_claim_on_the_same_meeting_gets_nothing(alice, meeting):
    Meeting.objects.filter(pk=meeting.pk).update(status=Meeting.Status.COMPLETED)
    first = Meeting.objects.get(pk=meeting.pk)
    second = Meeting.objects.get(pk=meeting.pk)
    assert retention.claim_deletion(first, DeletionRecord.Reason.MANUAL) is not None
    assert retention.claim_deletion(second, DeletionRecord.Reason.MANUAL) is None
    assert DeletionRecord.objects.count() == 1


# -- remote copies -----------------------------------------------------------------------------


@pytest.fixture
def symbl(settings, workspace):
    """The Symbl emulator, with the workspace's Symbl account set to it."""
    emulator = SymblEmulator(app_id=SYMBL_ID, app_secret=SYMBL_SECRET)
    with serving(emulator):
        settings.SYMBL_API_URL, settings.SYMBL_WS_URL = emulator.api_url, emulator.ws_url
        provider_account(workspace, "symbl", {"app_id": SYMBL_ID}, app_secret=SYMBL_SECRET)
        symbl_client._TOKENS.clear()
        yield emulator
        symbl_client._TOKENS.clear()


@pytest.fixture
def meetstream(settings, workspace):
    fake = MeetStreamFake(api_key=MEETSTREAM_KEY, data={"bot-7f3a"})
    with serving(fake):
        settings.MEETSTREAM_API_URL = fake.api_url
        provider_account(workspace, "meetstream", api_key=MEETSTREAM_KEY)
        yield fake


@pytest.fixture
def bot_copies(monkeypatch):
    """Until meeting bots (issue 5) register theirs: meetings from a bot have this MeetStream copy."""
    monkeypatch.setattr(retention, "_COPY_FINDERS", [
        *retention._COPY_FINDERS,
        lambda meeting: [("meetstream", "bot-7f3a")] if meeting.source == Meeting.Source.BOT else [],
    ])


def test_the_symbl_conversation_is_deleted_at_symbl(alice, symbl):
    meeting = ended(alice, 40 * DAY, engine="symbl", source="microphone")
    symbl.conversations["5741190612680704"] = Conversation("5741190612680704", "Planning",
                                                           datetime.now(dt_timezone.utc))
    SymblSession.objects.create(meeting=meeting, connection_id="c0ffee-connection",
                                conversation_id="5741190612680704")

    record = retention.delete_meeting(meeting, DeletionRecord.Reason.RETENTION)

    assert "5741190612680704" not in symbl.conversations
    assert ("DELETE", "/v1/conversations/5741190612680704", 200) in symbl.requests
    remote = record.remote.get()
    assert (remote.provider, remote.remote_id, remote.status, remote.attempts) == (
        "symbl", "5741190612680704", RemoteDeletion.Status.DONE, 1)
    assert record.counts["symbl_sessions"] == 1 and not SymblSession.objects.exists()


def test_a_conversation_symbl_no_longer_has_counts_as_deleted(alice, symbl):
    meeting = ended(alice, 40 * DAY, engine="symbl", source="microphone")
    SymblSession.objects.create(meeting=meeting, connection_id="c0ffee-gone", conversation_id="4000000000000001")
    record = retention.delete_meeting(meeting, DeletionRecord.Reason.RETENTION)
    assert ("DELETE", "/v1/conversations/4000000000000001", 400) in symbl.requests
    assert record.remote.get().status == RemoteDeletion.Status.DONE


def test_the_meetstream_deleter_uses_the_workspace_key_and_reads_the_answers(workspace, meetstream):
    retention.delete_meetstream_bot(workspace, "bot-7f3a")
    assert meetstream.data == set()
    assert meetstream.requests == [("DELETE", "/api/v1/bots/bot-7f3a/delete", 200)]
    # Already gone: done.
    retention.delete_meetstream_bot(workspace, "bot-7f3a")
    assert meetstream.requests[-1][2] == 404
    meetstream.fail_next = 1
    with pytest.raises(retention.RemoteDeletionError, match="HTTP 500: Internal server error"):
        retention.delete_meetstream_bot(workspace, "bot-other")
    account = provider_account(workspace, "meetstream", api_key="wrong")
    with pytest.raises(retention.RemoteDeletionError, match="HTTP 401: Invalid token"):
        retention.delete_meetstream_bot(workspace, "bot-other")
    account.delete()
    with pytest.raises(retention.RemoteDeletionError, match="No MeetStream API key"):
        retention.delete_meetstream_bot(workspace, "bot-other")


def test_a_failed_remote_deletion_is_kept_shown_and_retried_until_it_succeeds(alice, charlie, workspace, client,
                                                                           meetstream, bot_copies):
    meetstream.fail_next = 1
    meeting = ended(alice, 40 * DAY, source=Meeting.Source.BOT, title="Bot call")
    now = timezone.now()
    record = retention.delete_meeting(meeting, DeletionRecord.Reason.RETENTION, now=now)

    assert not Meeting.objects.filter(pk=meeting.pk).exists()
    remote = record.remote.get()
    assert (remote.provider, remote.remote_id, remote.status, remote.attempts) == (
        "meetstream", "bot-7f3a", RemoteDeletion.Status.FAILED, 1)
    assert "HTTP 500" in remote.last_error and remote.next_attempt_at > now
    assert meetstream.data == {"bot-7f3a"}

    client.force_login(charlie)
    page = client.get("/workspace/retention/deletions/").content.decode()
    assert "Bot call" in page and "failed" in page and "MeetStream answered HTTP 500" in page
    assert "next retry" in page and MEETSTREAM_KEY not in page

    # Not due yet: left alone; due: retried, and the vendor deletes it.
    assert retention.apply(now + timedelta(minutes=1))["remote"] == {}
    assert retention.apply(remote.next_attempt_at + timedelta(seconds=1))["remote"] == {"done": 1}
    remote.refresh_from_db()
    assert (remote.status, remote.attempts, remote.next_attempt_at) == (RemoteDeletion.Status.DONE, 2, None)
    assert meetstream.data == set()
    assert "deleted" in client.get("/workspace/retention/deletions/").content.decode()


def test_retries_back_off_exponentially(alice, workspace, meetstream, bot_copies):
    meetstream.fail_next = 10
    record = retention.delete_meeting(ended(alice, 40 * DAY, source=Meeting.Source.BOT), "retention")
    remote = record.remote.get()
    gaps = []
    for _ in range(3):
        now = remote.next_attempt_at + timedelta(seconds=1)
        retention.retry_remote_deletions(now)
        remote.refresh_from_db()
        gaps.append(remote.next_attempt_at - now)
    assert gaps == [2 * retention.RETRY_BASE, 4 * retention.RETRY_BASE, 8 * retention.RETRY_BASE]
    assert remote.attempts == 4 and remote.status == RemoteDeletion.Status.FAILED


def test_the_beat_task_deletes_expired_meetings_through_celery(alice, workspace, settings):
    assert settings.CELERY_BEAT_SCHEDULE["apply-retention"]["task"] == apply_retention.name
    workspace.retention = 7 * DAY
    workspace.save()
    old, young = ended(alice, 8 * DAY, title="old"), ended(alice, 6 * DAY, title="young")
    outcome = apply_retention.delay().get()
    assert outcome == {"resumed": 0, "deleted": 1, "remote": {}}
    assert list(Meeting.objects.all()) == [young]
    assert DeletionRecord.objects.get().meeting_id == old.pk


def test_one_run_deletes_a_bounded_number_of_meetings(alice, workspace, monkeypatch):
    monkeypatch.setattr(retention, "MEETINGS_PER_RUN", 2)
    workspace.retention = DAY
    workspace.save()
    for n in range(3):
        ended(alice, 2 * DAY + n * HOUR, title=f"m{n}")
    assert apply_retention.delay().get()["deleted"] == 2
    assert list(Meeting.objects.values_list("title", flat=True)) == ["m0"]
    assert apply_retention.delay().get()["deleted"] == 1


# -- pages -------------------------------------------------------------------------------------


def test_an_admin_sets_the_workspace_default_and_it_is_audited(charlie, workspace, client):
    client.force_login(charlie)
    assert "keep" in client.get("/workspace/retention/").content.decode()
    response = client.post("/workspace/retention/", {"policy": "delete", "amount": "36", "unit": "hours"})
    assert response.status_code == 302
    workspace.refresh_from_db()
    assert workspace.retention == 36 * HOUR
    client.post("/workspace/retention/", {"policy": "delete", "amount": "30", "unit": "days"})
    client.post("/workspace/retention/", {"policy": "keep", "amount": "", "unit": "days"})
    workspace.refresh_from_db()
    assert workspace.retention is None
    entries = AuditEntry.objects.filter(action=AuditEntry.Action.RETENTION_CHANGED).order_by("id")
    assert [(e.actor_name, e.details) for e in entries] == [
        ("charlie", {"old": "keep", "new": "delete after 36 hours"}),
        ("charlie", {"old": "delete after 36 hours", "new": "delete after 30 days"}),
        ("charlie", {"old": "delete after 30 days", "new": "keep"}),
    ]


@pytest.mark.parametrize("amount, message", [
    ("0", "positive whole number"), ("-3", "positive whole number"), ("1.5", "positive whole number"),
    ("", "after how many hours or days"), ("40000", "At most 36500 days"),
])
def test_a_zero_negative_or_missing_retention_is_refused(charlie, workspace, client, amount, message):
    workspace.retention = 30 * DAY
    workspace.save()
    client.force_login(charlie)
    response = client.post("/workspace/retention/", {"policy": "delete", "amount": amount, "unit": "days"})
    assert response.status_code == 400
    assert message in response.content.decode()
    workspace.refresh_from_db()
    assert workspace.retention == 30 * DAY
    assert not AuditEntry.objects.exists()


def test_an_admin_overrides_one_meetings_retention(charlie, alice, workspace, client):
    meeting = ended(alice, 3 * HOUR)
    client.force_login(charlie)
    url = f"/workspace/retention/meetings/{meeting.pk}/"
    response = client.post(url, {"retention-policy": "delete", "retention-amount": "2", "retention-unit": "hours"})
    assert response.status_code == 302 and response.url == f"/meetings/{meeting.pk}/review/"
    meeting.refresh_from_db()
    assert (meeting.retention_override, meeting.retention) == ("delete", 2 * HOUR)
    assert list(retention.expired_meetings()) == [meeting]
    client.post(url, {"retention-policy": "keep", "retention-unit": "days"})
    meeting.refresh_from_db()
    assert (meeting.retention_override, meeting.retention) == ("keep", None)
    assert list(retention.expired_meetings()) == []
    refused = client.post(url, {"retention-policy": "delete", "retention-amount": "-1", "retention-unit": "days"},
                          follow=True)
    assert "positive whole number" in refused.content.decode()
    meeting.refresh_from_db()
    assert meeting.retention_override == "keep"
    assert [e.details for e in AuditEntry.objects.filter(action=AuditEntry.Action.MEETING_RETENTION_CHANGED)
            .order_by("id")] == [
        {"meeting_id": meeting.pk, "old": "as the workspace", "new": "delete after 2 hours"},
        {"meeting_id": meeting.pk, "old": "delete after 2 hours", "new": "keep"},
    ]


def test_an_admin_deletes_a_meeting_now(charlie, alice, workspace, client):
    meeting = imported(alice, workspace, ago=HOUR)
    client.force_login(charlie)
    response = client.post(f"/workspace/retention/meetings/{meeting.pk}/delete")
    assert response.status_code == 302 and response.url == "/workspace/retention/deletions/"
    assert not Meeting.objects.filter(pk=meeting.pk).exists()
    record = DeletionRecord.objects.get()
    assert record.reason == "manual" and record.finished_at and record.counts["utterances"] == 133
    entry = AuditEntry.objects.get(action=AuditEntry.Action.MEETING_DELETED)
    assert (entry.actor, entry.details["reason"]) == (charlie, "manual")
    page = client.get(response.url).content.decode()
    assert "Committee evidence" in page and "Deleted by an admin" in page


def test_a_running_session_cannot_be_deleted(charlie, alice, client):
    live = new_meeting(alice, status=Meeting.Status.LIVE)
    client.force_login(charlie)
    response = client.post(f"/workspace/retention/meetings/{live.pk}/delete", follow=True)
    assert "Stop the session" in response.content.decode()
    live.refresh_from_db()
    assert live.deleting_at is None and not DeletionRecord.objects.exists()


def test_the_review_snippet_shows_admins_the_forms(charlie, alice, dana, workspace):
    from django.template.loader import render_to_string

    from meetings.retention_views import review_context

    workspace.retention = 30 * DAY
    workspace.save()
    meeting = ended(alice, DAY)
    html = render_to_string("meetings/_meeting_retention.html", {"meeting": meeting, **review_context(charlie, meeting)})
    assert f'action="/workspace/retention/meetings/{meeting.pk}/"' in html
    assert "Delete this meeting now" in html and "as the workspace (delete after 30 days)" in html
    due = (meeting.ended_at + 30 * DAY).astimezone(timezone.get_current_timezone())
    assert f"deleted on {due:%Y-%m-%d %H:%M}" in html
    html = render_to_string("meetings/_meeting_retention.html", {"meeting": meeting, **review_context(dana, meeting)})
    assert "Delete this meeting now" not in html and "as the workspace" in html


@pytest.mark.parametrize("who, expected", [("anonymous", 302), ("alice", 403), ("dana", 403), ("bob", 403)])
def test_the_retention_pages_are_for_admins_only(client, alice, dana, bob, charlie, who, expected):
    meeting = ended(alice, DAY)
    if who != "anonymous":
        client.force_login({"alice": alice, "dana": dana, "bob": bob}[who])
    pages = [("get", "/workspace/retention/"), ("post", "/workspace/retention/"),
             ("get", "/workspace/retention/deletions/")]
    for method, url in pages:
        assert getattr(client, method)(url, {"policy": "keep"} if method == "post" else {}).status_code == expected
    # Meeting actions: someone outside the meeting's workspace does not even learn it exists.
    on_meeting = 404 if who == "bob" else expected
    for url in (f"/workspace/retention/meetings/{meeting.pk}/", f"/workspace/retention/meetings/{meeting.pk}/delete"):
        assert client.post(url, {"retention-policy": "keep"}).status_code == on_meeting
    meeting.refresh_from_db()
    assert meeting.deleting_at is None and meeting.retention_override == "inherit"
    assert not AuditEntry.objects.exists()


def test_meeting_actions_take_posts_only(charlie, alice, client):
    meeting = ended(alice, DAY)
    client.force_login(charlie)
    assert client.get(f"/workspace/retention/meetings/{meeting.pk}/delete").status_code == 405
    assert client.get(f"/workspace/retention/meetings/{meeting.pk}/").status_code == 405
    assert Meeting.objects.filter(pk=meeting.pk, deleting_at__isnull=True).exists()

