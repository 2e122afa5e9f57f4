"""Fixtures for the telephony tests: Acme's Twilio account (the emulator's), the emulator, and
Parley served on loopback in the test's event loop."""
import pytest

from meetings.models import Provider, ProviderAccount
from tests.fakes.twilio import DEV_SID, TwilioFake

AUTH_TOKEN = "acme-twilio-auth-token"


@pytest.fixture
def twilio_account(workspace, charlie):
    """Acme's Twilio account, as charlie (its admin) sets it under Workspace → Provider accounts."""
    account = ProviderAccount(workspace=workspace, provider=Provider.TWILIO, config={"account_sid": DEV_SID})
    account.set_secrets({"auth_token": AUTH_TOKEN})
    account.save()
    return account


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
