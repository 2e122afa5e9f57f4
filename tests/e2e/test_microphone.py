"""The browser microphone, for real: Chromium's fake capture device plays a real recording into the
page's AudioWorklet, which streams 16 kHz PCM to the session; Stop ends it with what was said."""
import re

import av
import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import launch, login

pytestmark = pytest.mark.e2e


def wav_copy(flac, wav):
    """Chromium's fake capture device reads WAV only."""
    with av.open(str(flac)) as source, av.open(str(wav), "w", format="wav") as target:
        out = target.add_stream("pcm_s16le", rate=48000, layout="mono")
        resampler = av.AudioResampler(format="s16", layout="mono", rate=48000)
        for frame in source.decode(audio=0):
            for converted in resampler.resample(frame):
                target.mux(out.encode(converted))
        for converted in resampler.resample(None):
            target.mux(out.encode(converted))
        target.mux(out.encode(None))


def test_speaking_into_the_microphone_makes_a_live_transcript(playwright, server, data_dir, tmp_path):
    wav = tmp_path / "speech.wav"
    wav_copy(data_dir / "audio" / "two_cities.flac", wav)
    browser = launch(playwright, "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                     f"--use-file-for-fake-audio-capture={wav}")
    try:
        context = browser.new_context(base_url=server, permissions=["microphone"])
        page = context.new_page()
        page.set_default_timeout(30_000)
        login(page, server)
        page.goto("/meetings/new/")
        page.fill("#id_title", "Dictation")
        page.select_option("#id_source", "microphone")
        page.click("#start-form button[type=submit]")
        page.wait_for_url(re.compile(r"/meetings/\d+/live/$"))
        expect(page.locator("#status")).to_have_text("live")
        page.click("#mic-start")
        expect(page.locator("#mic-state")).to_have_text("Listening…")
        expect(page.locator("#transcript li.final").first).to_contain_text("best of times", timeout=40_000)
        page.click("#stop-form button")
        expect(page.locator("#status")).to_have_text("completed", timeout=30_000)
        assert "worst of times" in page.locator("#transcript").inner_text().lower()
        expect(page.locator("#transcript li.final .who").first).to_contain_text("admin")
    finally:
        browser.close()
