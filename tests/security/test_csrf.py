"""CSRF: every browser form refuses a POST without the token; callbacks and the bearer-token API are
exempt by design, because they are signed or token-only (a session alone gets nothing there)."""
import pytest
from django.conf import settings
from django.test import Client

from .access_table import EXPECT, OK, SIGNED, TOKEN_RULES, entries, path_of, rule_for
from .world import outcome, path_values, signed_post

pytestmark = pytest.mark.django_db

ENTRIES = [e for e in entries() if rule_for(e.key) is not None]
FORMS = [e for e in ENTRIES if rule_for(e.key).form_posts()]
CALLBACKS = [e for e in ENTRIES if rule_for(e.key).rules.get("POST") == SIGNED]
API_POSTS = [e for e in ENTRIES if rule_for(e.key).rules.get("POST") in TOKEN_RULES]
CSRF_SECRET = "a" * 32  # a well-formed CSRF cookie secret; the same string is accepted as the form token


def allowed_persona(rule):
    """A signed-in persona the rule lets through (so a 403 can only be the CSRF check)."""
    for persona in ("alice", "charlie", "root"):
        if EXPECT[rule].get(persona) == OK:
            return persona
    raise AssertionError(f"no signed-in persona may post to a {rule} URL")


def test_the_forms_include_every_kind_of_browser_post():
    keys = {e.key for e in FORMS}
    assert {"login", "logout", "meetings:stop", "meetings:rename_speaker", "meetings:tokens", "admin:login"} <= keys
    assert not keys & {e.key for e in CALLBACKS + API_POSTS}


@pytest.mark.parametrize("entry", FORMS, ids=[e.key for e in FORMS])
def test_a_form_post_without_the_csrf_token_is_refused(world, entry):
    rule = rule_for(entry.key).rules["POST"]
    persona = allowed_persona(rule)
    url = path_of(entry, path_values(world, entry))
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.users[persona])
    refused = client.post(url, {})
    assert refused.status_code == 403, f"POST {url} as {persona} without a CSRF token got {refused.status_code}"
    assert b"CSRF" in refused.content

    # The control: with the token the same post passes the check (whatever the form then says).
    client.cookies[settings.CSRF_COOKIE_NAME] = CSRF_SECRET
    accepted = client.post(url, {"csrfmiddlewaretoken": CSRF_SECRET})
    assert accepted.status_code != 403 or b"CSRF" not in accepted.content, f"POST {url} with a CSRF token was refused"


@pytest.mark.parametrize("entry", CALLBACKS, ids=[e.key for e in CALLBACKS])
def test_callbacks_are_exempt_because_they_are_signed(world, entry):
    url = path_of(entry, path_values(world, entry))
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.users["charlie"])  # a session, even an admin's, is no substitute for a signature
    unsigned = client.post(url, b"{}", content_type="application/json")
    assert unsigned.status_code in (401, 403) and b"CSRF" not in unsigned.content
    assert outcome(signed_post(Client(enforce_csrf_checks=True), entry, url)) == OK


@pytest.mark.parametrize("entry", API_POSTS, ids=[e.key for e in API_POSTS])
def test_the_api_is_exempt_because_it_takes_bearer_tokens_only(world, entry):
    url = path_of(entry, path_values(world, entry))
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.users["alice"])
    session_only = client.post(url, {})
    assert session_only.status_code == 401, f"POST {url} with a session and no token got {session_only.status_code}"
    with_token = Client(enforce_csrf_checks=True, HTTP_AUTHORIZATION=f"Bearer {world.tokens['alice']}").post(url, {})
    assert outcome(with_token) == OK
