"""The MeetStream emulator and Acme's MeetStream account for the bot tests."""
import pytest

from meetings.models import Provider
from tests.accounts import provider_account
from tests.fakes.meetstream import MeetStreamFake

API_KEY = "meetstream-key-5150"
SECRET = "whsec-meetstream-acme"


def account(workspace, secret=SECRET):
    """Acme's MeetStream account with the emulator's API key and ``secret`` ("": none, so callbacks
    are not signed)."""
    signing = {"webhook_secret": secret} if secret else {}
    return provider_account(workspace, Provider.MEETSTREAM, api_key=API_KEY, **signing)


@pytest.fixture
def meetstream_account(workspace):
    """Acme's MeetStream account, with a webhook secret: its callbacks must be signed."""
    return account(workspace)


@pytest.fixture
def meetstream(settings):
    """The emulator, served from a thread; ``MEETSTREAM_API_URL`` points at it."""
    with MeetStreamFake(api_key=API_KEY, webhook_secret=SECRET).serving() as fake:
        settings.MEETSTREAM_API_URL = fake.api_url
        yield fake
