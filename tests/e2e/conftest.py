"""A real Parley server (as `make run` starts it) on a free port, and Debian's chromium via Playwright."""
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.net import free_port

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
ADMIN_PASSWORD = "e2e-admin-password"


@contextmanager
def started(command, ready_url, log_path, env=None):
    """Run ``command`` from the repository root until the block ends; ready once ``ready_url`` answers."""
    log = open(log_path, "w")
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    try:
        while True:
            try:
                urllib.request.urlopen(ready_url, timeout=2)
                break
            except urllib.error.HTTPError:
                break  # an HTTP answer, even an error, means it is serving
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{command} did not start:\n" + Path(log_path).read_text())
                time.sleep(0.3)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@contextmanager
def parley_server(data, **extra_env):
    """Parley as `make run` starts it (migrate, ensure_admin, serve) on a fresh data dir; yields its URL."""
    port = free_port()
    env = {**os.environ, "PARLEY_DATA_DIR": str(data), "PARLEY_ADMIN_PASSWORD": ADMIN_PASSWORD, "PORT": str(port),
           "DJANGO_SETTINGS_MODULE": "config.settings", **extra_env}
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    for command in (["migrate", "--noinput"], ["ensure_admin"]):
        subprocess.run([sys.executable, "manage.py", *command], cwd=ROOT, env=env, check=True, capture_output=True)
    url = f"http://127.0.0.1:{port}"
    with started([sys.executable, "manage.py", "serve"], f"{url}/accounts/login/", data / "server.log", env):
        yield url


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    with parley_server(tmp_path_factory.mktemp("parley-e2e")) as url:
        yield url


CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


# Package scope: Playwright's sync API keeps an event loop running while it is open, which
# the asyncio tests after this package must not inherit.
@pytest.fixture(scope="package")
def playwright():
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (.ci/run does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        yield playwright


def launch(playwright, *extra_args):
    """Debian's chromium, headless; nothing downloads a browser."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS + list(extra_args))


@pytest.fixture(scope="package")
def browser(playwright):
    browser = launch(playwright)
    yield browser
    browser.close()


def login(page, server):
    page.goto("/accounts/login/")
    page.fill("#id_username", "admin")
    page.fill("#id_password", ADMIN_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{server}/")


def start_upload(page, recording, *, title, engine="local", realtime=False):
    """Start a session from the New session form, as a person does; returns on its live page."""
    page.goto("/meetings/new/")
    page.fill("#id_title", title)
    page.select_option("#id_source", "upload")
    page.select_option("#id_engine", engine)
    page.set_input_files("#id_file", str(recording))
    if realtime:
        page.check("#id_realtime")
    page.click("#start-form button[type=submit]")
    page.wait_for_url(re.compile(r"/meetings/\d+/live/$"))


@contextmanager
def signed_in_page(browser, server):
    """A fresh browser context signed in as the admin, its pages based at ``server``."""
    context = browser.new_context(base_url=server)
    page = context.new_page()
    page.set_default_timeout(30_000)
    login(page, server)
    try:
        yield page
    finally:
        context.close()


@pytest.fixture
def page(browser, server):
    with signed_in_page(browser, server) as page:
        yield page
