"""A person signs in, uploads a real recording at real-time pace, watches it live, then reviews it."""
import re
import time

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import start_upload

pytestmark = pytest.mark.e2e


def test_an_upload_at_real_time_pace_grows_live_then_has_a_summary(page, data_dir):
    start_upload(page, data_dir / "audio" / "beckett.flac", title="Worstward Ho reading", realtime=True)
    expect(page.locator("h1")).to_have_text("Worstward Ho reading")
    expect(page.locator("#status")).to_have_text("live")

    # The transcript grows while the recording plays: record its size as it changes.
    sizes = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        lines = page.locator("#transcript li.final").count()
        if not sizes or lines != sizes[-1]:
            sizes.append(lines)
        if page.locator("#status").inner_text() == "completed":
            break
        time.sleep(0.2)
    assert len([s for s in sizes if s > 0]) >= 2, f"the transcript did not grow live: {sizes}"
    assert sizes == sorted(sizes)
    expect(page.locator("#progress-text")).to_contain_text("%")

    expect(page.locator("#status")).to_have_text("completed", timeout=30_000)
    expect(page.locator("#transcript li.provisional")).to_have_count(0)
    transcript = page.locator("#transcript").inner_text().lower()
    assert "fail better" in transcript

    page.click("#review-link")
    page.wait_for_url(re.compile(r"/meetings/\d+/review/$"))
    summary = page.locator("#summary")
    expect(summary).not_to_be_empty()
    assert "fail" in summary.inner_text().lower()
    expect(page.locator("#transcript .turn")).not_to_have_count(0)


def test_a_corrupt_file_gets_a_message_on_the_form(page, tmp_path):
    bad = tmp_path / "minutes.wav"
    bad.write_text("these are the minutes, typed, not recorded")
    page.goto("/meetings/new/")
    page.set_input_files("#id_file", str(bad))
    page.click("#start-form button[type=submit]")
    expect(page.get_by_role("alert")).to_contain_text("Could not read this file as audio or video")
