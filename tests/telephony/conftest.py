"""Fixtures for the telephony tests: Acme's Twilio account (the emulator's), the emulator, and
Parley served on loopback in the test's event loop."""
import pytest

from meetings.models import Provider
from tests.accounts import provider_account
from tests.fakes.twilio import DEV_SID, TwilioFake

AUTH_TOKEN = "acme-twilio-auth-token"


@pytest.fixture
def twilio_account(workspace, charlie):
    """Acme's Twilio account, as charlie (its admin) sets it under Workspace → Provider accounts."""
    return provider_account(workspace, Provider.TWILIO, {"account_sid": DEV_SID}, auth_token=AUTH_TOKEN)


@pytest.fixture
async def twilio():
    fake = TwilioFake(account_sid=DEV_SID, auth_token=AUTH_TOKEN)
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def parley():
    from tests.telephony.loopback import LoopbackASGI, asgi_app

    server = await LoopbackASGI(asgi_app()).start()
    yield server
    await server.stop()
