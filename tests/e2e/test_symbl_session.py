"""A session on the symbl engine, against the Symbl emulator run as its own process, as a developer would.

Parley is started like ``make run`` with ``SYMBL_*`` pointing at ``python -m tests.fakes.symbl``
(``ensure_admin`` seeds the first workspace's Symbl account from ``SYMBL_APP_ID``/``SYMBL_APP_SECRET``,
as a headless set-up does); a person uploads the Endgame dialogue at real-time pace on the symbl engine,
watches the transcript, questions and topics arrive, then reads the summary reconciled from the
Conversation API on the review page.
"""
import re
import sys
import time

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import parley_server, signed_in_page, start_upload, started
from tests.net import free_port
from tests.fakes.symbl import load_script

pytestmark = pytest.mark.e2e

ENDGAME = load_script()


@pytest.fixture(scope="module")
def symbl_server(tmp_path_factory):
    data = tmp_path_factory.mktemp("parley-e2e-symbl")
    symbl_port = free_port()
    emulator = [sys.executable, "-m", "tests.fakes.symbl", "--port", str(symbl_port),
                "--app-id", "e2e-app", "--app-secret", "e2e-secret"]
    with started(emulator, f"http://127.0.0.1:{symbl_port}/v1/job/none", data / "symbl.log"), parley_server(
        data, SYMBL_API_URL=f"http://127.0.0.1:{symbl_port}", SYMBL_WS_URL=f"ws://127.0.0.1:{symbl_port}",
        SYMBL_APP_ID="e2e-app", SYMBL_APP_SECRET="e2e-secret",
    ) as url:
        yield url


@pytest.fixture
def symbl_page(browser, symbl_server):
    with signed_in_page(browser, symbl_server) as page:
        yield page


def test_a_symbl_session_is_live_then_reviewed_with_the_reconciled_summary(symbl_page, data_dir):
    page = symbl_page
    # The environment seeded the workspace's account: the admin sees it set, its secret not shown.
    page.goto("/workspace/accounts/symbl/")
    expect(page.locator("#set-app_secret")).to_have_text("set")
    expect(page.locator("#id_app_id")).to_have_value("e2e-app")
    assert "e2e-secret" not in page.content()
    start_upload(page, data_dir / "audio" / "endgame_nagg_nell.flac", title="Endgame on Symbl", engine="symbl",
                 realtime=True)
    expect(page.locator("#status")).to_have_text("live")

    # Live: the transcript grows while the recording plays, questions and topics arrive.
    sizes = []
    deadline = time.monotonic() + 45
    while time.monotonic() < deadline and page.locator("#status").inner_text() != "completed":
        count = page.locator("#transcript li.final").count()
        if not sizes or count != sizes[-1]:
            sizes.append(count)
        time.sleep(0.2)
    assert len([s for s in sizes if 0 < s < len(ENDGAME)]) >= 2, f"the transcript did not grow live: {sizes}"
    expect(page.locator("#status")).to_have_text("completed", timeout=30_000)
    expect(page.locator("#transcript li.final")).to_have_count(len(ENDGAME))
    transcript = page.locator("#transcript").inner_text()
    assert "Do you remember the day I went and fetched you from that ditch?" in transcript
    questions = page.locator("#insights-question").inner_text()
    assert "What are you talking about?" in questions
    expect(page.locator("#topics li")).not_to_have_count(0)
    assert "heartily" in page.locator("#topics").inner_text()

    page.click("#review-link")
    page.wait_for_url(re.compile(r"/meetings/\d+/review/$"))
    summary = page.locator("#summary").inner_text()
    # The Conversation API's summary: Symbl's sentences, taken from the conversation's own messages.
    assert "We laugh less heartily, so we have still that resource." in summary
    expect(page.locator("#transcript .turn")).not_to_have_count(0)
