"""A meeting bot, end to end: a person sends a bot to a Zoom meeting from the bot page, watches it join
and transcribe live, sees it leave by everyone_left_timeout and the review page complete.

Parley runs as ``make run`` starts it, with ``MEETSTREAM_*`` pointing at ``python -m
tests.fakes.meetstream`` run as its own process (``ensure_admin`` seeds the workspace's MeetStream
account from ``MEETSTREAM_API_KEY``/``MEETSTREAM_WEBHOOK_SECRET``); the emulator plays the meeting
(the real AMI kick-off's first turns) against the bot's signed callback URLs.
"""
import re
import sys

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import parley_server, signed_in_page, started
from tests.fakes.meetstream import meeting_turns
from tests.net import free_port

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def bot_server(tmp_path_factory):
    data = tmp_path_factory.mktemp("parley-e2e-bots")
    vendor_port = free_port()
    emulator = [sys.executable, "-m", "tests.fakes.meetstream", "--port", str(vendor_port), "--api-key", "e2e-ms-key",
                "--webhook-secret", "e2e-ms-secret", "--autoplay", "true", "--pace", "0.15"]
    # No PARLEY_PUBLIC_URL: the bot's callback URLs name the origin the person's browser used.
    with started(emulator, f"http://127.0.0.1:{vendor_port}/api/v1/bots", data / "meetstream.log"), parley_server(
        data, MEETSTREAM_API_URL=f"http://127.0.0.1:{vendor_port}/api/v1", MEETSTREAM_API_KEY="e2e-ms-key",
        MEETSTREAM_WEBHOOK_SECRET="e2e-ms-secret",
    ) as url:
        yield url


def test_a_bot_joins_transcribes_leaves_and_the_meeting_is_reviewed(browser, bot_server):
    turns = meeting_turns(8)
    with signed_in_page(browser, bot_server) as page:
        page.goto("/bots/new/")
        page.fill("#id_title", "Remote control kick-off")
        page.fill("#id_meeting_url", "https://zoom.us/j/85122334455?pwd=aGVsbG8")
        page.select_option("#id_transcription", "deepgram_streaming")
        page.click("#bot-form button[type=submit]")
        page.wait_for_url(re.compile(r"/bots/\d+/$"))
        expect(page.locator("#bot-participants li")).to_have_count(3, timeout=30_000)

        page.click("text=Meeting page")
        expect(page.locator("#transcript li.final").first).to_be_visible(timeout=30_000)
        expect(page.locator("#status")).to_have_text("completed", timeout=60_000)
        expect(page.locator("#transcript li.final")).to_have_count(len(turns))
        expect(page.locator("#transcript")).to_contain_text("dim the lights")

        page.click("#review-link")
        page.wait_for_url(re.compile(r"/meetings/\d+/review/$"))
        for speaker, text in turns[:3]:
            expect(page.locator("body")).to_contain_text(text)

        page.goto("/bots/")
        expect(page.locator("#bots")).to_contain_text("Done")
