"""Fixtures for the security tests: Acme's provider accounts (:mod:`.credentials`), the superuser
root and the world of objects every URL is requested about (:mod:`.world`)."""
import pytest

from .credentials import SECRETS, configure
from .world import build


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    # Every test here creates several users; a deliberately slow hasher would dominate the run.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _no_real_provider(settings):
    # Pages here may call a provider ("test connection"): never a real host, a closed loopback port.
    from tests.net import free_port

    base = f"http://127.0.0.1:{free_port()}"
    for name in ("SYMBL_API_URL", "ZOOM_API_URL", "ZOOM_OAUTH_URL", "TWILIO_API_URL", "MEETSTREAM_API_URL",
                 "DEEPGRAM_API_URL", "ASSEMBLYAI_API_URL"):
        setattr(settings, name, base)
    settings.SYMBL_WS_URL = base.replace("http", "ws")


@pytest.fixture
def accounts(workspace):
    """Every provider account of Acme, configured with :data:`SECRETS`."""
    return {provider: configure(workspace, provider) for provider in SECRETS}


@pytest.fixture
def root(django_user_model):
    return django_user_model.objects.create_superuser("root", "root@example.com", "root-pass-1")


@pytest.fixture
def world(workspace, alice, bob, charlie, dana, root, accounts):
    """Acme's meeting, speaker, action item, invitation, bot and every persona's API token."""
    return build(workspace, alice, bob, charlie, dana, root)
