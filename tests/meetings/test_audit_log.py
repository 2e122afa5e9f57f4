"""The audit log page: admins only, newest first, filterable by action, actor and dates, paginated;
every admin action of the workspace pages lands in it."""
import re
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from meetings import audit
from meetings.models import AuditEntry, Membership
from meetings.workspace_views import AUDIT_PAGE_SIZE

pytestmark = pytest.mark.django_db
Action = AuditEntry.Action


def rows(response):
    """The (actor, action value, target) of each row of the audit table, top to bottom."""
    html = response.content.decode()
    body = html.split('id="audit"', 1)[1]
    return [(who, action, target) for action, who, target in re.findall(
        r'<tr data-action="([^"]+)"><td>[^<]*</td><td>([^<]*)</td><td>[^<]*</td><td>([^<]*)</td>', body)]


def at(entry, when):
    AuditEntry.objects.filter(pk=entry.pk).update(created_at=when)
    return entry


@pytest.fixture
def log(charlie, alice, workspace, other_workspace, bob):
    """Four Acme entries on three days, and one of Globex's."""
    now = timezone.now()
    at(audit.record(charlie, workspace, Action.MEMBER_INVITED, "erin@example.com", role="member"),
       now - timedelta(days=10))
    at(audit.record(charlie, workspace, Action.MEMBER_ROLE_CHANGED, "alice", old="member", new="admin"),
       now - timedelta(days=5))
    at(audit.record(alice, workspace, Action.EXPORT_DOWNLOADED, "Planning", format="srt"), now - timedelta(days=5))
    at(audit.record(None, workspace, Action.MEETING_DELETED, "Old sync"), now)
    audit.record(bob, other_workspace, Action.MEMBER_REMOVED, "globex-secret-person")
    return now


def test_only_admins_read_the_audit_log(client, log, alice, dana, bob):
    for user in (alice, dana):
        client.force_login(user)
        assert client.get("/workspace/audit/").status_code == 403
    client.force_login(bob)  # a member of Globex only
    assert client.get("/workspace/audit/").status_code == 403


def test_the_log_lists_the_workspaces_entries_newest_first(client, log, charlie):
    client.force_login(charlie)
    response = client.get("/workspace/audit/")
    assert response.status_code == 200
    assert rows(response) == [("system", "meeting.deleted", "Old sync"), ("alice", "export.downloaded", "Planning"),
                              ("charlie", "member.role_changed", "alice"),
                              ("charlie", "member.invited", "erin@example.com")]
    page = response.content.decode()
    assert "globex-secret-person" not in page and "format: srt" in page


@pytest.mark.parametrize("query,expected", [
    ({"action": "member.role_changed"}, ["alice"]),
    ({"actor": "CHARLIE"}, ["alice", "erin@example.com"]),
    ({"actor": "charlie", "action": "member.invited"}, ["erin@example.com"]),
    ({"actor": "bob"}, []),
])
def test_filters_by_action_and_actor(client, log, charlie, query, expected):
    client.force_login(charlie)
    response = client.get("/workspace/audit/", query)
    assert response.status_code == 200 and [target for _, _, target in rows(response)] == expected


def test_filters_by_date_range(client, log, charlie):
    client.force_login(charlie)
    day = lambda days: (timezone.localdate(log) - timedelta(days=days)).isoformat()  # noqa: E731
    response = client.get("/workspace/audit/", {"since": day(6), "until": day(4)})
    assert [target for _, _, target in rows(response)] == ["Planning", "alice"]
    response = client.get("/workspace/audit/", {"since": day(1)})
    assert [target for _, _, target in rows(response)] == ["Old sync"]
    response = client.get("/workspace/audit/", {"until": day(7)})
    assert [target for _, _, target in rows(response)] == ["erin@example.com"]


def test_bad_filters_are_answered_400_with_the_reason(client, log, charlie):
    client.force_login(charlie)
    response = client.get("/workspace/audit/", {"since": "2026-05-02", "until": "2026-05-01"})
    assert response.status_code == 400 and "after its end" in response.content.decode() and rows(response) == []
    response = client.get("/workspace/audit/", {"action": "member.eaten"})
    assert response.status_code == 400 and "not one of the available choices" in response.content.decode()


def test_the_log_is_paginated_keeping_the_filters(client, charlie, workspace):
    for n in range(AUDIT_PAGE_SIZE + 3):
        audit.record(charlie, workspace, Action.MEMBER_INVITED, f"person{n:03}@example.com")
    audit.record(charlie, workspace, Action.TOKEN_CREATED, "ci token")
    client.force_login(charlie)
    first = client.get("/workspace/audit/", {"action": "member.invited"})
    assert len(rows(first)) == AUDIT_PAGE_SIZE and rows(first)[0][2] == f"person{AUDIT_PAGE_SIZE + 2:03}@example.com"
    assert "action=member.invited&amp;page=2" in first.content.decode()
    second = client.get("/workspace/audit/", {"action": "member.invited", "page": 2})
    assert [target for _, _, target in rows(second)] == [f"person{n:03}@example.com" for n in (2, 1, 0)]


def test_every_admin_action_of_the_workspace_pages_is_in_the_log(client, charlie, alice, dana, workspace):
    client.force_login(charlie)
    client.post("/workspace/", {"name": "Acme Corp", "default_engine": "symbl"})
    client.post("/workspace/members/invite/", {"email": "erin@example.com", "role": "reviewer"})
    client.post("/workspace/members/invite/", {"email": "finn@example.com", "role": "member"})
    token = re.search(r"/invitations/([\w-]+)/", mail.outbox[0].body).group(1)
    finn = workspace.invitations.get(email="finn@example.com")
    client.post(f"/workspace/invitations/{finn.pk}/revoke/")
    client.post(f"/workspace/members/{Membership.objects.get(user=alice).pk}/role/", {"role": "admin"})
    client.post(f"/workspace/members/{Membership.objects.get(user=dana).pk}/remove/")
    client.logout()
    client.post(f"/invitations/{token}/", {"username": "erin", "password1": "erin-secret-pass-9",
                                           "password2": "erin-secret-pass-9"})
    client.force_login(charlie)
    assert {(who, action) for who, action, _ in rows(client.get("/workspace/audit/"))} == {
        ("charlie", "workspace.changed"), ("charlie", "member.invited"), ("charlie", "invitation.revoked"),
        ("charlie", "member.role_changed"), ("charlie", "member.removed"), ("erin", "member.joined")}
    assert AuditEntry.objects.filter(workspace=workspace, action=Action.MEMBER_INVITED).count() == 2
