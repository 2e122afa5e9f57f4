"""A Zoom meeting on the local engine, against the Zoom emulator run as its own process, as a developer would.

Parley is started like ``make run`` with ``ZOOM_*`` pointing at ``python -m tests.fakes.zoom`` (``ensure_admin``
seeds the workspace's Zoom account from the environment) and its RTMP ingest on a free port. A person starts a
Zoom session from the form; Parley registers its RTMP URL and key with Zoom and asks Zoom to start the live
stream; the emulator pushes a real recording over RTMP at real-time pace, as Zoom does; the transcript
arrives live; Stop stops Zoom's stream; then Zoom's recording TIMELINE attributes the transcript to the
Zoom participants once Zoom's signed ``recording.completed`` notification arrives.
"""
import json
import re
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import parley_server, signed_in_page, started
from tests.net import free_port

pytestmark = pytest.mark.e2e
DATA = Path(__file__).resolve().parents[1] / "data"
MEETING = "85746065432"


@pytest.fixture(scope="module")
def zoom_server(tmp_path_factory):
    data = tmp_path_factory.mktemp("parley-e2e-zoom")
    zoom_port, rtmp_port = free_port(), free_port()
    with parley_server(data, ZOOM_API_URL=f"http://127.0.0.1:{zoom_port}/v2",
                       ZOOM_OAUTH_URL=f"http://127.0.0.1:{zoom_port}", ZOOM_ACCOUNT_ID="e2e-account",
                       ZOOM_CLIENT_ID="e2e-client", ZOOM_CLIENT_SECRET="e2e-secret",
                       ZOOM_WEBHOOK_SECRET_TOKEN="e2e-webhook", ZOOM_RTMP_PORT=str(rtmp_port),
                       ZOOM_RTMP_BIND="127.0.0.1") as url:
        # Zoom only calls Parley when told to, so it may start second, knowing Parley's URL.
        emulator = [sys.executable, "-m", "tests.fakes.zoom", "--port", str(zoom_port), "--meetings", MEETING,
                    "--account-id", "e2e-account", "--client-id", "e2e-client", "--client-secret", "e2e-secret",
                    "--webhook-secret-token", "e2e-webhook", "--webhook-url", f"{url}/streaming/zoom/webhook",
                    "--media", str(DATA / "audio" / "beckett.flac"), "--timeline", str(DATA / "zoom" / "timeline.json")]
        with started(emulator, f"http://127.0.0.1:{zoom_port}/v2/meetings/{MEETING}/livestream", data / "zoom.log"):
            yield url, rtmp_port, zoom_port


def test_a_zoom_meeting_streams_to_parley_live_and_is_attributed_to_its_participants(browser, zoom_server):
    server, rtmp_port, zoom_port = zoom_server
    with signed_in_page(browser, server) as page:
        page.goto("/streaming/zoom/new")
        page.fill("#id_title", "Zoom standup")
        page.fill("#id_zoom_meeting_id", "857 4606 5432")
        page.select_option("#id_engine", "local")
        page.click("#zoom-form button[type=submit]")
        page.wait_for_url(re.compile(r"/streaming/zoom/meetings/\d+/$"))
        expect(page.locator("#rtmp-url")).to_have_text(f"rtmp://127.0.0.1:{rtmp_port}/live")
        assert len(page.locator("#stream-key").inner_text()) >= 32
        assert "Registered as the Zoom meeting's custom live stream" in page.content()
        stream_page = page.url

        page.click("#watch-live")
        expect(page.locator("#status")).to_have_text("live")
        # The emulator pushes the 10 s recording at real-time pace: the transcript arrives while it plays.
        expect(page.locator("#transcript li.final")).not_to_have_count(0, timeout=30_000)
        deadline = time.monotonic() + 30
        while "better" not in page.locator("#transcript").inner_text().lower() and time.monotonic() < deadline:
            time.sleep(0.2)
        page.click("#stop-form button")
        expect(page.locator("#status")).to_have_text("completed", timeout=30_000)

        page.goto(stream_page)
        expect(page.locator("#stream-state")).to_have_text("Stopped")
        # Zoom tells Parley the cloud recording is ready, signed with the webhook secret token that
        # ensure_admin seeded: Parley fetches its TIMELINE and attributes the transcript.
        reply = json.loads(urllib.request.urlopen(urllib.request.Request(
            f"http://127.0.0.1:{zoom_port}/emulator/meetings/{MEETING}/recording.completed", method="POST")).read())
        assert reply["status"] == 200 and json.loads(reply["body"]) == {"sessions": 1}
        page.click("#watch-live")
        page.click("#review-link")
        page.wait_for_url(re.compile(r"/meetings/\d+/review/$"))
        transcript = page.locator("#transcript").inner_text()
        # The recording's TIMELINE: Taylor speaks from 2.0 s to 8.5 s of the stream, Avery after.
        assert "Taylor Jennings" in transcript
        assert "Speaker 1" not in transcript


@pytest.fixture
def zoom_symbl_server(tmp_path_factory):
    data = tmp_path_factory.mktemp("parley-e2e-zoom-symbl")
    zoom_port, symbl_port = free_port(), free_port()
    symbl = [sys.executable, "-m", "tests.fakes.symbl", "--port", str(symbl_port), "--app-id", "e2e-app",
             "--app-secret", "e2e-secret"]
    with started(symbl, f"http://127.0.0.1:{symbl_port}/v1/job/none", data / "symbl.log"), parley_server(
            data, SYMBL_API_URL=f"http://127.0.0.1:{symbl_port}", SYMBL_WS_URL=f"ws://127.0.0.1:{symbl_port}",
            SYMBL_APP_ID="e2e-app", SYMBL_APP_SECRET="e2e-secret",
            ZOOM_API_URL=f"http://127.0.0.1:{zoom_port}/v2", ZOOM_OAUTH_URL=f"http://127.0.0.1:{zoom_port}",
            ZOOM_ACCOUNT_ID="e2e-account", ZOOM_CLIENT_ID="e2e-client", ZOOM_CLIENT_SECRET="e2e-secret",
            ZOOM_WEBHOOK_SECRET_TOKEN="e2e-webhook") as url:
        emulator = [sys.executable, "-m", "tests.fakes.zoom", "--port", str(zoom_port), "--meetings", MEETING,
                    "--account-id", "e2e-account", "--client-id", "e2e-client", "--client-secret", "e2e-secret",
                    "--webhook-secret-token", "e2e-webhook", "--webhook-url", f"{url}/streaming/zoom/webhook",
                    "--timeline", str(DATA / "zoom" / "timeline.json")]
        with started(emulator, f"http://127.0.0.1:{zoom_port}/v2/meetings/{MEETING}/livestream", data / "zoom.log"):
            yield url, zoom_port


def test_a_zoom_meeting_on_the_symbl_engine_runs_through_symbls_managed_stream(browser, zoom_symbl_server):
    server, zoom_port = zoom_symbl_server
    with signed_in_page(browser, server) as page:
        page.goto("/streaming/zoom/new")
        page.fill("#id_zoom_meeting_id", MEETING)
        page.select_option("#id_engine", "symbl")
        page.click("#zoom-form button[type=submit]")
        page.wait_for_url(re.compile(r"/streaming/zoom/meetings/\d+/$"))
        assert "Symbl managed stream" in page.content()
        page.click("#watch-live")
        # Symbl's managed stream, registered with Zoom and started; its subscription relayed live.
        expect(page.locator("#status")).to_have_text("live")
        expect(page.locator("#transcript li.final")).not_to_have_count(0, timeout=30_000)
        # Past the TIMELINE's first turn (Taylor from 2.0 s): a few lines of the emulator's dialogue.
        expect(page.locator("#transcript li.final").nth(3)).to_be_visible(timeout=30_000)
        page.click("#stop-form button")
        expect(page.locator("#status")).to_have_text("completed", timeout=45_000)
        # Zoom's notification that the recording is ready: its TIMELINE goes to Symbl's Speakers API.
        reply = json.loads(urllib.request.urlopen(urllib.request.Request(
            f"http://127.0.0.1:{zoom_port}/emulator/meetings/{MEETING}/recording.completed", method="POST")).read())
        assert reply["status"] == 200 and json.loads(reply["body"]) == {"sessions": 1}
        page.reload()
        page.click("#review-link")
        page.wait_for_url(re.compile(r"/meetings/\d+/review/$"))
        assert "Taylor Jennings" in page.locator("#transcript").inner_text()
