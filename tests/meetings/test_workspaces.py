"""Workspace pages: settings, members and roles, invitations by e-mail, switching, new workspaces,
the nav's context and the Django admin of the workspace models."""
import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.core import mail
from django.template.loader import render_to_string
from django.test import RequestFactory
from django.utils import timezone

from meetings import workspaces
from meetings.access import SESSION_KEY
from meetings.context_processors import workspaces as workspace_context
from meetings.models import AuditEntry, DeletionRecord, Invitation, Membership, RemoteDeletion, Workspace
from tests.accounts import provider_account
from tests.conftest import join, new_meeting
from tests.net import free_port

pytestmark = pytest.mark.django_db
Action = AuditEntry.Action

ADMIN_PAGES = [("get", "/workspace/audit/", {}),
               ("post", "/workspace/", {"name": "Hijacked", "default_engine": "local"}),
               ("post", "/workspace/members/invite/", {"email": "eve@example.com", "role": "admin"})]


def entries(action):
    return list(AuditEntry.objects.filter(action=action))


def invite_link(message):
    match = re.search(r"https?://\S+/invitations/([\w-]+)/", message.body)
    assert match, message.body
    return match.group(0), match.group(1)


def invite_by_page(client, admin, email, role="member"):
    client.force_login(admin)
    response = client.post("/workspace/members/invite/", {"email": email, "role": role})
    assert response.status_code == 302
    return invite_link(mail.outbox[-1])


# Roles


@pytest.mark.parametrize("who", ["alice", "dana"])
@pytest.mark.parametrize("method,url,data", ADMIN_PAGES)
def test_members_and_reviewers_get_403_on_admin_pages(client, request, who, method, url, data):
    client.force_login(request.getfixturevalue(who))
    assert getattr(client, method)(url, data).status_code == 403
    assert Workspace.objects.get(name="Acme") and not Invitation.objects.exists() and not mail.outbox


@pytest.mark.parametrize("who", ["alice", "dana"])
def test_members_and_reviewers_cannot_change_roles_remove_members_or_withdraw_invitations(client, request, who,
                                                                                          charlie, workspace):
    invitation, _ = Invitation.issue(workspace, "eve@example.com", "member", charlie)
    charlie_membership = Membership.objects.get(user=charlie)
    client.force_login(request.getfixturevalue(who))
    assert client.post(f"/workspace/members/{charlie_membership.pk}/role/", {"role": "reviewer"}).status_code == 403
    assert client.post(f"/workspace/members/{charlie_membership.pk}/remove/").status_code == 403
    assert client.post(f"/workspace/invitations/{invitation.pk}/revoke/").status_code == 403
    charlie_membership.refresh_from_db()
    invitation.refresh_from_db()
    assert charlie_membership.role == "admin" and invitation.revoked_at is None
    assert not AuditEntry.objects.exists()


def test_members_see_the_member_list_read_only(client, alice, charlie, dana):
    client.force_login(alice)
    page = client.get("/workspace/members/").content.decode()
    assert all(name in page for name in ("alice", "charlie", "dana"))
    assert "/remove/" not in page and "invite-form" not in page and 'name="role"' not in page


def test_anonymous_visitors_are_sent_to_sign_in(client, workspace):
    for url in ("/workspace/", "/workspace/members/", "/workspace/audit/", "/workspaces/new/"):
        response = client.get(url)
        assert response.status_code == 302 and response.url.startswith("/accounts/login/"), url


def test_another_workspaces_admin_sees_and_touches_nothing_of_acme(client, bob, other_workspace, alice, charlie,
                                                                  workspace):
    Membership.objects.filter(user=bob).update(role="admin")
    invitation, _ = Invitation.issue(workspace, "eve@example.com", "member", charlie)
    alice_membership = Membership.objects.get(user=alice)
    client.force_login(bob)
    page = client.get("/workspace/members/").content.decode()
    assert "alice" not in page and "charlie" not in page and "eve@example.com" not in page
    assert client.post(f"/workspace/members/{alice_membership.pk}/role/", {"role": "admin"}).status_code == 404
    assert client.post(f"/workspace/members/{alice_membership.pk}/remove/").status_code == 404
    assert client.post(f"/workspace/invitations/{invitation.pk}/revoke/").status_code == 404
    assert client.post("/workspace/switch/", {"workspace": workspace.pk}).status_code == 404
    assert Membership.objects.get(pk=alice_membership.pk).role == "member"
    assert Invitation.objects.get(pk=invitation.pk).revoked_at is None
    assert "Acme" not in client.get("/workspace/audit/").content.decode()


# Settings


def test_an_admin_renames_the_workspace_and_sets_its_default_engine_which_the_start_form_preselects(client, charlie,
                                                                                                   alice, workspace):
    client.force_login(charlie)
    response = client.post("/workspace/", {"name": "Acme Corp", "default_engine": "symbl"})
    assert response.status_code == 302
    workspace.refresh_from_db()
    assert (workspace.name, workspace.default_engine) == ("Acme Corp", "symbl")
    [entry] = entries(Action.WORKSPACE_CHANGED)
    assert entry.actor == charlie and entry.details == {"changes": {"name": ["Acme", "Acme Corp"],
                                                                    "default_engine": ["local", "symbl"]}}
    client.force_login(alice)
    start = client.get("/meetings/new/").content.decode()
    assert re.search(r'<option value="symbl"\s+selected>', start), start


def test_an_engine_this_parley_lacks_or_an_empty_name_is_refused(client, charlie, workspace):
    client.force_login(charlie)
    response = client.post("/workspace/", {"name": "Acme", "default_engine": "whisperx"})
    assert response.status_code == 400 and "whisperx is not one of the available choices" in response.content.decode()
    assert client.post("/workspace/", {"name": "   ", "default_engine": "local"}).status_code == 400
    workspace.refresh_from_db()
    assert (workspace.name, workspace.default_engine) == ("Acme", "local") and not AuditEntry.objects.exists()


def test_members_read_the_settings_without_a_form(client, alice, workspace):
    client.force_login(alice)
    page = client.get("/workspace/").content.decode()
    assert "Local (on-device)" in page and "workspace-form" not in page


# Invitations


def test_an_invitation_mails_a_link_that_a_new_user_signs_up_with_once(client, charlie, workspace):
    link, token = invite_by_page(client, charlie, "erin@example.com", "reviewer")
    [message] = mail.outbox
    assert message.to == ["erin@example.com"] and "Acme" in message.subject
    assert link.startswith("http://testserver/invitations/")
    invitation = Invitation.objects.get()
    assert invitation.digest == Invitation.hash(token) and token not in str(Invitation.objects.values())
    [invited] = entries(Action.MEMBER_INVITED)
    assert invited.actor == charlie and invited.target == "erin@example.com" and invited.details["role"] == "reviewer"

    client.logout()
    page = client.get(f"/invitations/{token}/")
    assert page.status_code == 200 and "Acme" in page.content.decode()
    assert f"/accounts/login/?next=/invitations/{token}/" in page.content.decode()
    response = client.post(f"/invitations/{token}/",
                           {"username": "erin", "password1": "erin-secret-pass-9", "password2": "erin-secret-pass-9"})
    assert response.status_code == 302 and response.url == "/"
    erin = User.objects.get(username="erin")
    assert erin.email == "erin@example.com" and erin.check_password("erin-secret-pass-9")
    assert Membership.objects.get(user=erin, workspace=workspace).role == "reviewer"
    assert client.session["_auth_user_id"] == str(erin.pk) and client.session[SESSION_KEY] == workspace.pk
    [joined] = entries(Action.MEMBER_JOINED)
    assert joined.actor == erin and joined.details["role"] == "reviewer"

    # The link is used up: a second visitor changes nothing.
    client.logout()
    again = client.post(f"/invitations/{token}/",
                        {"username": "mallory", "password1": "mallory-pass-99", "password2": "mallory-pass-99"})
    assert again.status_code == 410 and "already been used" in again.content.decode()
    assert not User.objects.filter(username="mallory").exists()


def test_an_existing_user_joins_by_post_after_signing_in(client, charlie, bob, workspace, other_workspace):
    _, token = invite_by_page(client, charlie, "bob@example.com", "member")
    client.logout()
    client.force_login(bob)
    page = client.get(f"/invitations/{token}/").content.decode()
    assert "Join as bob" in page and "signup-form" not in page
    assert not Membership.objects.filter(user=bob, workspace=workspace).exists()
    response = client.post(f"/invitations/{token}/")
    assert response.status_code == 302
    assert Membership.objects.get(user=bob, workspace=workspace).role == "member"
    # Bob now works in Acme; Globex is still his.
    assert client.session[SESSION_KEY] == workspace.pk
    assert Membership.objects.filter(user=bob, workspace=other_workspace).exists()
    assert client.post(f"/invitations/{token}/").status_code == 410


def test_an_existing_member_keeps_their_role_and_is_told_so(client, charlie, dana, workspace):
    invitation, token = workspaces.invite(workspace, "someone@example.com", "admin", charlie)
    client.force_login(dana)
    response = client.post(f"/invitations/{token}/", follow=True)
    assert "your role stays reviewer" in response.content.decode()
    assert Membership.objects.get(user=dana).role == "reviewer"
    invitation.refresh_from_db()
    assert invitation.accepted_by == dana and not entries(Action.MEMBER_JOINED)


def test_an_expired_link_is_refused_and_changes_nothing(client, charlie, workspace):
    invitation, token = workspaces.invite(workspace, "late@example.com", "member", charlie)
    Invitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    for response in (client.get(f"/invitations/{token}/"),
                     client.post(f"/invitations/{token}/", {"username": "late", "password1": "late-pass-1234",
                                                            "password2": "late-pass-1234"})):
        assert response.status_code == 410 and "expired on" in response.content.decode()
    assert not User.objects.filter(username="late").exists()
    assert Invitation.objects.get().accepted_at is None


def test_a_withdrawn_link_is_refused_and_an_unknown_one_is_404(client, charlie, alice, workspace):
    invitation, token = workspaces.invite(workspace, "gone@example.com", "member", charlie)
    client.force_login(charlie)
    assert client.get("/workspace/members/").content.decode().count("gone@example.com") == 1
    assert client.post(f"/workspace/invitations/{invitation.pk}/revoke/").status_code == 302
    [revoked] = entries(Action.INVITATION_REVOKED)
    assert revoked.actor == charlie and revoked.target == "gone@example.com"
    assert "No open invitations." in client.get("/workspace/members/").content.decode()
    client.force_login(alice)
    response = client.post(f"/invitations/{token}/")
    assert response.status_code == 410 and "withdrawn" in response.content.decode()
    assert client.get(f"/invitations/{token[:-2]}xx/").status_code == 404
    assert Invitation.objects.get().accepted_at is None


def test_a_sign_up_with_a_bad_password_shows_why_and_keeps_the_link_open(client, charlie, workspace):
    _, token = workspaces.invite(workspace, "fay@example.com", "member", charlie)
    response = client.post(f"/invitations/{token}/", {"username": "fay", "password1": "x", "password2": "y"})
    assert response.status_code == 400 and "didn’t match" in response.content.decode()
    assert not User.objects.filter(username="fay").exists() and Invitation.objects.get().is_open


def test_inviting_a_member_again_is_refused_and_reinviting_replaces_the_open_link(client, charlie, alice, workspace):
    alice.email = "alice@example.com"
    alice.save()
    client.force_login(charlie)
    response = client.post("/workspace/members/invite/", {"email": "Alice@example.com", "role": "admin"}, follow=True)
    assert "already a member of Acme" in response.content.decode() and not mail.outbox
    _, first = workspaces.invite(workspace, "gus@example.com", "member", charlie)
    _, second = workspaces.invite(workspace, "gus@example.com", "reviewer", charlie)
    assert client.get(f"/invitations/{first}/").status_code == 410
    assert client.get(f"/invitations/{second}/").status_code == 200


def test_an_invitation_that_cannot_be_mailed_is_not_kept(client, charlie, workspace, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    # An SMTP server that is down: nothing listens on this loopback port.
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", free_port(), 5
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    client.force_login(charlie)
    response = client.post("/workspace/members/invite/", {"email": "hal@example.com", "role": "member"}, follow=True)
    assert "could not be sent" in response.content.decode()
    assert not Invitation.objects.exists() and not entries(Action.MEMBER_INVITED)


# Roles and the last admin


def test_an_admin_changes_a_role_and_removes_a_member(client, charlie, alice, dana, workspace):
    client.force_login(charlie)
    alice_m, dana_m = Membership.objects.get(user=alice), Membership.objects.get(user=dana)
    assert client.post(f"/workspace/members/{alice_m.pk}/role/", {"role": "admin"}).status_code == 302
    assert client.post(f"/workspace/members/{dana_m.pk}/remove/").status_code == 302
    assert Membership.objects.get(user=alice).role == "admin"
    assert not Membership.objects.filter(user=dana).exists()
    [changed] = entries(Action.MEMBER_ROLE_CHANGED)
    assert changed.target == "alice" and changed.details == {"old": "member", "new": "admin"}
    [removed] = entries(Action.MEMBER_REMOVED)
    assert removed.actor == charlie and removed.target == "dana" and removed.details == {"role": "reviewer"}
    # dana no longer sees Acme's meetings.
    meeting = new_meeting(alice, title="After dana left")
    client.force_login(dana)
    assert client.get(f"/meetings/{meeting.pk}/live/").status_code in (403, 404)


def test_the_last_admin_can_be_neither_demoted_nor_removed(client, charlie, alice, workspace):
    me = Membership.objects.get(user=charlie)
    client.force_login(charlie)
    response = client.post(f"/workspace/members/{me.pk}/role/", {"role": "member"}, follow=True)
    assert "charlie is the last admin of Acme" in response.content.decode()
    assert "charlie is now" not in response.content.decode()  # a refusal, not also a success
    response = client.post(f"/workspace/members/{me.pk}/remove/", follow=True)
    assert "charlie is the last admin of Acme" in response.content.decode()
    assert "no longer belongs" not in response.content.decode()
    assert Membership.objects.get(pk=me.pk).role == "admin"
    assert not entries(Action.MEMBER_ROLE_CHANGED) and not entries(Action.MEMBER_REMOVED)
    # With a second admin, the first may step down.
    workspaces.change_role(Membership.objects.get(user=alice), "admin", charlie)
    assert client.post(f"/workspace/members/{me.pk}/role/", {"role": "member"}).status_code == 302
    assert Membership.objects.get(pk=me.pk).role == "member"


def test_the_services_refuse_the_last_admin_with_a_workspace_error(charlie, workspace):
    me = Membership.objects.get(user=charlie)
    with pytest.raises(workspaces.WorkspaceError, match="charlie is the last admin of Acme"):
        workspaces.remove_member(me, charlie)
    with pytest.raises(workspaces.WorkspaceError, match="last admin"):
        workspaces.change_role(me, "reviewer", charlie)
    assert Membership.objects.filter(pk=me.pk, role="admin").exists()


# Switching and new workspaces


def test_switching_changes_which_meetings_the_list_shows(client, alice, bob, other_workspace):
    new_meeting(alice, title="Acme planning")
    new_meeting(bob, title="Globex review")
    join(alice, other_workspace, "reviewer")
    client.force_login(alice)
    first = client.get("/").content.decode()
    assert "Acme planning" in first and "Globex review" not in first
    response = client.post("/workspace/switch/", {"workspace": other_workspace.pk, "next": "/"})
    assert response.status_code == 302 and response.url == "/"
    second = client.get("/").content.decode()
    assert "Globex review" in second and "Acme planning" not in second
    # The switch goes nowhere but this site.
    assert client.post("/workspace/switch/", {"workspace": other_workspace.pk,
                                              "next": "https://evil.example/"}).url == "/"


def test_switching_to_a_workspace_not_yours_is_404(client, alice, other_workspace):
    client.force_login(alice)
    assert client.post("/workspace/switch/", {"workspace": other_workspace.pk}).status_code == 404
    assert client.post("/workspace/switch/", {"workspace": "x"}).status_code == 400
    assert client.get("/workspace/switch/").status_code == 405
    assert client.session.get(SESSION_KEY) != other_workspace.pk


def test_any_signed_in_user_creates_a_workspace_and_becomes_its_admin(client, django_user_model):
    newcomer = django_user_model.objects.create_user("ivy", password="ivy-pass-1")
    client.force_login(newcomer)
    assert client.get("/").status_code == 403  # in no workspace yet
    assert client.post("/workspaces/new/", {"name": "  "}).status_code == 400
    response = client.post("/workspaces/new/", {"name": "Initech"})
    assert response.status_code == 302
    created = Workspace.objects.get(name="Initech")
    assert Membership.objects.get(user=newcomer, workspace=created).role == "admin"
    assert client.session[SESSION_KEY] == created.pk
    assert client.get("/workspace/audit/").status_code == 200


# The nav's context


def test_the_context_processor_gives_the_current_workspace_role_and_list_in_one_query(
        alice, workspace, other_workspace, django_assert_num_queries):
    join(alice, other_workspace, "admin")
    request = RequestFactory().get("/")
    request.user, request.session = alice, {SESSION_KEY: other_workspace.pk}
    with django_assert_num_queries(1):
        context = workspace_context(request)
    assert context["current_workspace"] == other_workspace and context["my_role"] == "admin"
    assert [w.name for w in context["my_workspaces"]] == ["Acme", "Globex"]
    html = render_to_string("meetings/_workspace_nav.html", context, request=request)
    assert f'<option value="{other_workspace.pk}" selected>Globex</option>' in html
    assert "/workspace/audit/" in html
    request.session = {SESSION_KEY: workspace.pk}
    context = workspace_context(request)
    assert context["my_role"] == "member"
    assert "/workspace/audit/" not in render_to_string("meetings/_workspace_nav.html", context, request=request)


def test_the_context_processor_ignores_a_session_workspace_not_theirs(alice, workspace, other_workspace):
    request = RequestFactory().get("/")
    request.user, request.session = alice, {SESSION_KEY: other_workspace.pk}
    assert workspace_context(request)["current_workspace"] == workspace
    request.user = type("Anon", (), {"is_authenticated": False})()
    assert workspace_context(request) == {"current_workspace": None, "my_workspaces": [], "my_role": None}


# Django admin


def test_the_admin_lists_the_workspace_models(admin_client, charlie, workspace):
    account = provider_account(workspace, "symbl", {"app_id": "app-123"}, app_secret="very-secret-value-42")
    record = DeletionRecord.objects.create(workspace=workspace, meeting_id=9, meeting_title="Old sync",
                                           meeting_created_at=timezone.now(), started_at=timezone.now())
    RemoteDeletion.objects.create(record=record, provider="symbl", remote_id="conv-1", status="failed",
                                  last_error="HTTP 503")
    invitation, token = Invitation.issue(workspace, "kim@example.com", "member", charlie)
    workspaces.update_workspace(workspace, charlie, name="Acme")  # unchanged: no entry
    workspaces.change_role(Membership.objects.get(user=charlie), "admin", charlie)  # unchanged too
    entry = AuditEntry.objects.create(workspace=workspace, actor=charlie, actor_name="charlie",
                                      action=Action.MEMBER_INVITED, target="kim@example.com")
    for model in ("workspace", "invitation", "provideraccount", "deletionrecord", "auditentry", "meeting", "apitoken"):
        assert admin_client.get(f"/admin/meetings/{model}/").status_code == 200, model
    page = admin_client.get(f"/admin/meetings/provideraccount/{account.pk}/change/").content.decode()
    assert "app_secret" in page and "very-secret-value-42" not in page and account.encrypted_secrets not in page
    assert 'name="encrypted_secrets"' not in page
    page = admin_client.get(f"/admin/meetings/deletionrecord/{record.pk}/change/").content.decode()
    assert "conv-1" in page and "HTTP 503" in page
    page = admin_client.get(f"/admin/meetings/invitation/{invitation.pk}/change/").content.decode()
    assert invitation.digest in page and 'name="digest"' not in page and token not in page
    assert admin_client.get("/admin/meetings/invitation/add/").status_code == 403
    assert admin_client.get("/admin/meetings/auditentry/add/").status_code == 403
    assert admin_client.post(f"/admin/meetings/auditentry/{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    assert AuditEntry.objects.count() == 1


def test_the_admin_refuses_a_workspace_without_an_admin(admin_client, charlie, workspace):
    m = Membership.objects.get(user=charlie)
    data = {"name": "Acme", "default_engine": "local", "retention": "",
            "memberships-TOTAL_FORMS": "1", "memberships-INITIAL_FORMS": "1",
            "memberships-MIN_NUM_FORMS": "0", "memberships-MAX_NUM_FORMS": "1000",
            "memberships-0-id": str(m.pk), "memberships-0-workspace": str(workspace.pk),
            "memberships-0-user": str(charlie.pk), "memberships-0-role": "member"}
    response = admin_client.post(f"/admin/meetings/workspace/{workspace.pk}/change/", data)
    assert response.status_code == 200 and "A workspace needs at least one admin." in response.content.decode()
    assert Membership.objects.get(pk=m.pk).role == "admin"
    data["memberships-0-role"] = "admin"
    data["name"] = "Acme Ltd"
    assert admin_client.post(f"/admin/meetings/workspace/{workspace.pk}/change/", data).status_code == 302
    assert Workspace.objects.get(pk=workspace.pk).name == "Acme Ltd"


def test_the_proposed_nav_switches_workspaces_from_any_page(client, settings, tmp_path, alice, bob, other_workspace):
    """base.html with the snippet included, as proposed, and the context processor installed."""
    real_base = (settings.BASE_DIR / "templates" / "base.html").read_text()
    assert "<nav>" in real_base
    (tmp_path / "base.html").write_text(real_base.replace(
        "<nav>", '<nav>{% include "meetings/_workspace_nav.html" %}', 1))
    settings.TEMPLATES = [{**settings.TEMPLATES[0], "DIRS": [tmp_path, *settings.TEMPLATES[0]["DIRS"]]}]
    settings.TEMPLATES[0]["OPTIONS"] = {**settings.TEMPLATES[0]["OPTIONS"], "context_processors": [
        *settings.TEMPLATES[0]["OPTIONS"]["context_processors"], "meetings.context_processors.workspaces"]}
    new_meeting(bob, title="Globex review")
    join(alice, other_workspace, "admin")
    client.force_login(alice)
    page = client.get("/").content.decode()
    assert re.search(r'<option value="\d+" selected>Acme</option>', page) and "/workspace/audit/" not in page
    client.post("/workspace/switch/", {"workspace": other_workspace.pk, "next": "/"})
    page = client.get("/").content.decode()
    assert f'<option value="{other_workspace.pk}" selected>Globex</option>' in page
    assert "/workspace/audit/" in page and "Globex review" in page
