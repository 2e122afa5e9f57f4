"""Secrets are never shown: not on any page (an admin's, a member's, the Django admin's), not in an
API response, not in a log line; neither as themselves, nor base64-encoded, nor encrypted."""
import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.test import Client
from django.urls import NoReverseMatch, reverse

from meetings.models import ProviderAccount

from .access_table import SIGNED, STAFF, TOKEN_RULES, entries, path_of, rule_for
from .credentials import SECRETS, all_secret_strings
from .world import path_values, signed_post

pytestmark = pytest.mark.django_db

ENTRIES = entries()
PROVIDER_URL_SETTINGS = ("SYMBL_API_URL", "ZOOM_API_URL", "ZOOM_OAUTH_URL", "TWILIO_API_URL", "MEETSTREAM_API_URL",
                         "DEEPGRAM_API_URL", "ASSEMBLYAI_API_URL")


class Echo(BaseHTTPRequestHandler):
    """A provider that refuses every credential and repeats the request back, headers and body
    included: whatever shows its answer verbatim would leak the credentials."""

    calls = []

    def _answer(self):
        Echo.calls.append(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode(errors="replace") if length else ""
        echo = json.dumps({"error": "invalid_client", "message": "Bad credentials", "path": self.path,
                           "headers": dict(self.headers), "body": body}).encode()
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(echo)))
        self.end_headers()
        self.wfile.write(echo)

    do_GET = do_POST = do_PUT = do_DELETE = _answer

    def log_message(self, *args):
        pass


@pytest.fixture
def echo_provider(settings):
    server = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_port}"
    for name in PROVIDER_URL_SETTINGS:
        setattr(settings, name, base)
    settings.SYMBL_WS_URL = f"ws://127.0.0.1:{server.server_port}"
    settings.PROVIDER_TIMEOUT_SECONDS = 5
    yield base
    server.shutdown()
    server.server_close()


class Seen:
    """Everything the server said: bodies and headers of every response."""

    def __init__(self):
        self.parts = []

    def add(self, label, response):
        content = b"".join(response.streaming_content) if response.streaming else response.content
        self.parts.append((label, content.decode(errors="replace") + "\n" + repr(sorted(response.items()))))
        return response


def test_the_probe_strings_include_every_secret_and_its_encodings(accounts):
    strings = all_secret_strings()
    assert SECRETS["twilio"]["auth_token"] in strings
    assert "dHdpbGlvLUFVVEgtVE9LRU4tMGJhZGYwMGQ0Mg==" in strings  # base64 of the Twilio auth token
    assert accounts["zoom"].secrets()["webhook_secret_token"] == SECRETS["zoom"]["webhook_secret_token"]


def test_no_secret_in_any_page_api_response_callback_or_log_line(world, echo_provider, caplog):
    caplog.set_level(logging.DEBUG)
    seen = Seen()
    users = world.users
    browsers = {}
    for persona in ("alice", "charlie", "root"):
        browsers[persona] = Client()
        browsers[persona].force_login(users[persona])

    # "Test connection" for every provider, against a provider that echoes the credentials back.
    try:
        test_url = lambda provider: reverse("accounts:test", args=[provider])  # noqa: E731
        test_url("zoom")
    except NoReverseMatch:
        test_url = None
    if test_url is not None:
        Echo.calls.clear()
        for provider in SECRETS:
            page = seen.add(f"test {provider}", browsers["charlie"].post(test_url(provider), follow=True))
            assert b"Test connection" in page.content, f"no test connection result shown for {provider}"
        assert len(Echo.calls) >= len(SECRETS), f"the providers were not called: {Echo.calls}"

    # Callbacks, signed and unsigned.
    for entry in ENTRIES:
        row = rule_for(entry.key)
        if row is not None and row.rules.get("POST") == SIGNED:
            url = path_of(entry, path_values(world, entry))
            seen.add(f"signed {url}", signed_post(Client(), entry, url))
            seen.add(f"unsigned {url}", Client().post(url, b"{}", content_type="application/json"))

    # Every page, API response and admin page, last, so that they show what the actions above left.
    for entry in ENTRIES:
        row = rule_for(entry.key)
        rules = row.rules if row is not None else {"GET": None}
        if "GET" not in rules:
            continue
        url = path_of(entry, path_values(world, entry)) + (row.query if row is not None else "")
        if rules["GET"] in TOKEN_RULES:
            for persona in ("alice", "charlie"):
                api = Client(HTTP_AUTHORIZATION=f"Bearer {world.tokens[persona]}")
                seen.add(f"GET {url} as {persona}", api.get(url))
        elif rules["GET"] == STAFF or entry.key.startswith("admin:"):
            seen.add(f"GET {url} as root", browsers["root"].get(url, follow=True))
        else:
            for persona in ("alice", "charlie"):
                seen.add(f"GET {url} as {persona}", browsers[persona].get(url, follow=True))
    labels = {label for label, _ in seen.parts}
    assert any("/admin/meetings/" in label for label in labels) and any("/api/v1/" in label for label in labels)

    probes = all_secret_strings() | {a.encrypted_secrets for a in ProviderAccount.objects.all()}
    leaks = [f"{label}: {probe[:12]}…" for label, text in seen.parts for probe in probes if probe in text]
    leaks += [f"log: {probe[:12]}…" for probe in probes if probe in caplog.text]
    assert not leaks, "secrets shown:\n" + "\n".join(leaks)
    assert caplog.records, "the log capture saw nothing: it would prove nothing"
