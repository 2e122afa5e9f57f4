"""A live page applies the corrections Symbl's Conversation API makes to what it streamed.

The emulator runs as its own process with ``--live-raw-text``: its Streaming API sends each line of the
Endgame dialogue as a recognizer's raw text (lower case, no punctuation) and its Conversation API answers
the punctuated lines. The page that watched the session turns the raw lines into the corrected ones
without a reload, and shows each utterance once.
"""
import sys

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import parley_server, signed_in_page, start_upload, started
from tests.fakes.symbl import _raw_text, load_script
from tests.net import free_port

pytestmark = pytest.mark.e2e

ENDGAME = load_script()


@pytest.fixture(scope="module")
def raw_symbl_server(tmp_path_factory):
    data = tmp_path_factory.mktemp("parley-e2e-symbl-raw")
    symbl_port = free_port()
    emulator = [sys.executable, "-m", "tests.fakes.symbl", "--port", str(symbl_port), "--live-raw-text",
                "--app-id", "e2e-app", "--app-secret", "e2e-secret"]
    with started(emulator, f"http://127.0.0.1:{symbl_port}/v1/job/none", data / "symbl.log"), parley_server(
        data, SYMBL_API_URL=f"http://127.0.0.1:{symbl_port}", SYMBL_WS_URL=f"ws://127.0.0.1:{symbl_port}",
        SYMBL_APP_ID="e2e-app", SYMBL_APP_SECRET="e2e-secret",
    ) as url:
        yield url


def test_the_live_page_shows_the_reconciled_text_in_place_of_what_was_streamed(browser, raw_symbl_server, data_dir):
    with signed_in_page(browser, raw_symbl_server) as page:
        start_upload(page, data_dir / "audio" / "endgame_nagg_nell.flac", title="Endgame, corrected", engine="symbl",
                     realtime=True)
        raw = _raw_text(ENDGAME[4].text)  # "we laugh less heartily so we have still that resource"
        expect(page.locator("#transcript li.final .text").filter(has_text=raw).first).to_be_visible(timeout=45_000)
        shown_live = page.locator("#transcript li.final .text").all_inner_texts()
        assert _raw_text(ENDGAME[0].text) in shown_live and ENDGAME[0].text not in shown_live

        expect(page.locator("#status")).to_have_text("completed", timeout=60_000)
        # The same page, no reload: each raw line replaced by its correction, none added.
        expect(page.locator("#transcript li.final .text")).to_have_text([line.text for line in ENDGAME])
        page.reload()  # the snapshot agrees with what the page built from events
        expect(page.locator("#transcript li.final .text")).to_have_text([line.text for line in ENDGAME])
