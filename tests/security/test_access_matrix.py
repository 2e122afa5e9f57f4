"""The access matrix: every URL and WebSocket route, requested as anonymous, bob (Globex), dana
(Acme reviewer), alice (Acme member) and charlie (Acme admin), gets what its rule in
``access_table`` says. A URL without a rule fails, naming itself."""
import pytest
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import AnonymousUser
from django.test import Client

from streaming.routing import websocket_urlpatterns

from .access_table import (EXPECT, MISSING, OK, PERSONAS, SIGNED, STAFF, TOKEN_RULES, UNSIGNED, WS_SIGNED, WS_TABLE,
                           Entry, entries, path_of, rule_for, ws_path)
from .world import ACME_MARK, build, outcome, path_values

ENTRIES = entries()


def client_for(world, persona, rule):
    client = Client()
    if persona == "anonymous":
        return client
    if rule in TOKEN_RULES:
        # The API counts bearer tokens only: no session for these requests.
        client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {world.tokens[persona]}"
    else:
        client.force_login(world.users[persona])
    return client


def request(client, method, url, rule):
    if method == "GET":
        return client.get(url)
    if rule == SIGNED:
        return client.post(url, b'{"event": "meeting.started"}', content_type="application/json")
    return client.post(url, {})


def expected_matches(expected, got, persona):
    if expected == UNSIGNED:
        return got in (401, 403)
    if persona == "root":
        # Served, or refused by a model admin's own permissions (the event log, the audit log and
        # axes' records are read-only; autocomplete wants parameters): never sent to a login page.
        return got in (OK, 403)
    return got == expected


@pytest.mark.django_db
@pytest.mark.parametrize("entry", ENTRIES, ids=[e.key for e in ENTRIES])
def test_every_url_gets_what_its_rule_says(world, entry):
    found = rule_for(entry.key)
    if found is None:
        pytest.fail(MISSING.format(key=entry.key, path="/" + entry.route))
    url = path_of(entry, path_values(world, entry)) + found.query
    wrong = []
    for method, rule in found.rules.items():
        personas = PERSONAS + (("root",) if rule == STAFF else ())
        for persona in personas:
            expected = EXPECT[rule][persona]
            response = request(client_for(world, persona, rule), method, url, rule)
            got = outcome(response)
            if not expected_matches(expected, got, persona):
                wrong.append(f"{method} {url} as {persona} ({rule}): expected {expected}, got {got} "
                             f"({response.status_code} {response.get('Location', '')})")
            elif persona == "bob" and got == OK and method == "GET" and not response.streaming:
                if ACME_MARK in response.content.decode(errors="replace"):
                    wrong.append(f"GET {url} as bob showed Acme's meeting")
    assert not wrong, "\n".join(wrong)


# The Django admin's own views are Django's business (its logout redirects a GET to the index).
POST_ONLY = [e for e in ENTRIES if rule_for(e.key) is not None and "GET" not in rule_for(e.key).rules
             and not e.key.startswith("admin:")]


@pytest.mark.django_db
@pytest.mark.parametrize("entry", POST_ONLY, ids=[e.key for e in POST_ONLY])
def test_what_changes_things_refuses_get(world, entry):
    """A row without GET is a change: even someone allowed to make it gets 405 for a GET."""
    rule = rule_for(entry.key).rules["POST"]
    persona = next((p for p in ("charlie", "alice") if EXPECT[rule].get(p) in (OK, UNSIGNED)), None)
    assert persona is not None
    response = client_for(world, persona, rule).get(path_of(entry, path_values(world, entry)))
    assert response.status_code == 405, f"GET {entry.key} as {persona}: {response.status_code}"


def test_every_row_of_the_table_names_a_url():
    from .access_table import TABLE

    keys = {e.key for e in ENTRIES}
    stale = [k for k in TABLE if "*" not in k and k not in keys]
    assert not stale, f"rows for URLs that no longer exist (remove them): {stale}"


def test_the_walk_reaches_every_include():
    keys = {e.key for e in ENTRIES}
    for sample in ("login", "admin:index", "api-meeting", "streaming:zoom_webhook", "meetings:review"):
        assert sample in keys
    assert any(k.startswith("admin:") and "object_id" in k for k in keys), "unnamed admin patterns are walked too"


# --- WebSocket routes ---------------------------------------------------------------------------

WS_ROUTES = [str(p.pattern) for p in websocket_urlpatterns]


def test_every_websocket_route_has_a_rule():
    missing = [r for r in WS_ROUTES if r not in WS_TABLE]
    assert not missing, f"add an access rule for WebSocket route(s) {missing} to WS_TABLE in tests/security/access_table.py"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("route", WS_ROUTES)
async def test_every_websocket_route_admits_whom_its_rule_says(route, workspace, alice, bob, charlie, dana):
    from channels.db import database_sync_to_async

    rule = WS_TABLE.get(route)
    assert rule is not None, f"add an access rule for WebSocket route {route}"
    world = await database_sync_to_async(build)(workspace, alice, bob, charlie, dana)
    values = await database_sync_to_async(path_values)(world, Entry(f"ws:{route}", route, ()))
    path = ws_path(route, values)
    app = URLRouter(websocket_urlpatterns)
    wrong = []
    for persona in PERSONAS:
        comm = WebsocketCommunicator(app, path)
        comm.scope["user"] = AnonymousUser() if persona == "anonymous" else world.users[persona]
        connected, code = await comm.connect()
        if connected != EXPECT[rule][persona]:
            wrong.append(f"{path} as {persona} ({rule}): expected {'accepted' if EXPECT[rule][persona] else 'refused'}, "
                         f"got {'accepted' if connected else f'refused ({code})'}")
        if connected:
            await comm.disconnect()
        elif rule != WS_SIGNED:
            assert code == 4403, f"{path} as {persona}: refused with {code}, not the forbidden code"
    assert not wrong, "\n".join(wrong)


def _session_cookie(user):
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


@pytest.mark.django_db(transaction=True)
async def test_through_the_whole_asgi_stack_the_session_decides(workspace, alice, bob, charlie, dana):
    """The same rules hold when the user comes from the session cookie, as a browser's does."""
    from channels.db import database_sync_to_async

    from config.asgi import router

    world = await database_sync_to_async(build)(workspace, alice, bob, charlie, dana)
    values = await database_sync_to_async(path_values)(world, Entry("ws", "", ()))
    wrong = []
    for persona in ("dana", "alice", "bob"):
        cookie = await database_sync_to_async(_session_cookie)(world.users[persona])
        for route, rule in WS_TABLE.items():
            path = ws_path(route, values)
            comm = WebsocketCommunicator(router, path, headers=[(b"origin", b"http://127.0.0.1"), (b"cookie", cookie)])
            connected, _ = await comm.connect()
            if connected != EXPECT[rule][persona]:
                wrong.append(f"{path} as {persona} through the stack: {'accepted' if connected else 'refused'}")
            if connected:
                await comm.disconnect()
    assert not wrong, "\n".join(wrong)
