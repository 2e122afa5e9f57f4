"""The review page plays the kept recording: a click on a line seeks there, the transcript follows playback."""
import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import start_upload

pytestmark = pytest.mark.e2e


def test_clicking_a_line_seeks_the_recording_and_the_transcript_follows(page, data_dir):
    start_upload(page, data_dir / "audio" / "two_cities.flac", title="Two cities review")
    expect(page.locator("#status")).to_have_text("completed", timeout=60_000)
    page.click("#review-link")
    page.wait_for_url(re.compile(r"/meetings/\d+/review/$"))

    player = page.locator("audio#player")
    expect(player).to_have_count(1)
    # The recording loads through the access-checked view (the browser asks with Range).
    page.wait_for_function("document.getElementById('player').readyState >= 1", timeout=20_000)
    duration = page.evaluate("document.getElementById('player').duration")
    assert 40 < duration < 50

    lines = page.locator("#transcript p[data-start-ms]")
    assert lines.count() >= 3
    target = lines.nth(2)
    start_ms = int(target.get_attribute("data-start-ms"))
    target.click()
    expect(target).to_have_class(re.compile(r"\bplaying\b"))
    position = page.evaluate("document.getElementById('player').currentTime")
    assert abs(position - start_ms / 1000) < 0.5
    assert re.search(rf"\?t={start_ms}#u\d+$", page.url)

    # Playback moves on: the line being spoken is the one highlighted.
    last = lines.nth(lines.count() - 1)
    last_ms = int(last.get_attribute("data-start-ms"))
    page.evaluate(f"document.getElementById('player').pause(); document.getElementById('player').currentTime = {last_ms / 1000 + 0.2}")
    expect(last).to_have_class(re.compile(r"\bplaying\b"))
    expect(page.locator("#transcript p.playing")).to_have_count(1)
