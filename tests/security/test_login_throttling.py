"""Login throttling (django-axes): five wrong passwords for one username from one address lock that
pair out, even for the right password, with a page that says when to try again."""
from datetime import timedelta

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db

LOCKOUT_TEMPLATE = "registration/locked_out.html"
HERE, ELSEWHERE = "192.0.2.10", "198.51.100.20"


@pytest.fixture(autouse=True)
def _lockout_page(settings):
    # Throttling stays on here whatever the rest of the suite does.
    settings.AXES_ENABLED = True
    settings.AXES_LOCKOUT_TEMPLATE = LOCKOUT_TEMPLATE


def sign_in(client, username, password, address=HERE):
    return client.post(reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=address)


def signed_in_as(client):
    return client.session.get("_auth_user_id")


def fail(client, username, times, address=HERE):
    for _ in range(times):
        response = sign_in(client, username, "not-the-password", address)
        assert response.status_code == 200
        assert "didn't match" in response.content.decode()


def test_the_project_settings_name_the_lockout_page():
    # Read from the settings module itself: the fixture above overrides the live settings.
    from config import settings as project

    assert getattr(project, "AXES_LOCKOUT_TEMPLATE", None) == LOCKOUT_TEMPLATE
    assert project.AXES_FAILURE_LIMIT == 5


def test_the_fifth_wrong_password_locks_out_even_the_right_one(client, alice):
    fail(client, "alice", 4)
    fifth = sign_in(client, "alice", "not-the-password")
    assert fifth.status_code == 429
    response = sign_in(client, "alice", "alice-pass-1")
    assert response.status_code == 429
    assert signed_in_as(client) is None
    page = response.content.decode()
    assert "Too many failed sign-ins" in page
    assert "Try again in 15 minutes" in page
    assert "alice" in page


def test_a_locked_out_pair_does_not_lock_out_other_users_or_addresses(client, alice, bob):
    fail(client, "alice", 5 - 1)
    assert sign_in(client, "alice", "wrong again").status_code == 429
    assert sign_in(client, "bob", "bob-pass-1").status_code == 302
    assert signed_in_as(client) == str(bob.pk)
    client.logout()
    assert sign_in(client, "alice", "alice-pass-1", address=ELSEWHERE).status_code == 302
    assert signed_in_as(client) == str(alice.pk)


def test_a_successful_sign_in_resets_the_count(client, alice):
    fail(client, "alice", 4)
    assert sign_in(client, "alice", "alice-pass-1").status_code == 302
    client.logout()
    fail(client, "alice", 4)
    assert sign_in(client, "alice", "alice-pass-1").status_code == 302
    assert signed_in_as(client) == str(alice.pk)


def test_the_lock_lifts_after_the_cool_off(client, alice):
    from axes.models import AccessAttempt

    fail(client, "alice", 4)
    assert sign_in(client, "alice", "wrong").status_code == 429
    AccessAttempt.objects.update(attempt_time=AccessAttempt.objects.get().attempt_time - timedelta(minutes=16))
    assert sign_in(client, "alice", "alice-pass-1").status_code == 302


def test_an_unknown_username_is_throttled_too(client):
    fail(client, "mallory", 4)
    assert sign_in(client, "mallory", "guess").status_code == 429
