"""Fixtures for the Symbl tests: the emulator on loopback, with Parley's settings pointed at it, and
the workspace's Symbl account set to the emulator's app (as an admin sets it under Workspace →
Provider accounts)."""
import pytest

from meetings.models import Provider
from streaming.engines.symbl import client as symbl_client
from streaming.engines.symbl.client import SymblClient
from streaming.engines.symbl.streaming import StreamingSession
from tests.accounts import provider_account
from tests.fakes.symbl import SymblEmulator

APP_ID, APP_SECRET = "parley-test-app", "parley-test-secret"


@pytest.fixture
async def symbl(settings):
    emulator = SymblEmulator(app_id=APP_ID, app_secret=APP_SECRET, job_seconds=0.2)
    await emulator.start()
    settings.SYMBL_API_URL, settings.SYMBL_WS_URL = emulator.api_url, emulator.ws_url
    symbl_client._TOKENS.clear()
    fast = (SymblClient.backoff_s, SymblClient.job_poll_s, StreamingSession.backoff_s)
    SymblClient.backoff_s, SymblClient.job_poll_s, StreamingSession.backoff_s = 0.02, 0.05, 0.02
    yield emulator
    SymblClient.backoff_s, SymblClient.job_poll_s, StreamingSession.backoff_s = fast
    symbl_client._TOKENS.clear()
    await emulator.stop()


@pytest.fixture
async def client(symbl):
    async with SymblClient(symbl.api_url, symbl.ws_url, APP_ID, APP_SECRET) as client:
        yield client


@pytest.fixture
def symbl_account(workspace):
    """Acme's (alice's workspace's) Symbl account: the emulator's app id and secret."""
    return provider_account(workspace, Provider.SYMBL, {"app_id": APP_ID}, app_secret=APP_SECRET)
