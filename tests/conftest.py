"""Shared fixtures: alice owns meetings, bob is another member, charlie is staff."""
import os
from pathlib import Path

import pytest
from channels.layers import channel_layers

DATA = Path(__file__).parent / "data"


@pytest.fixture(autouse=True)
def _isolated(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    # Tests start the runners they need themselves.
    settings.RUNNERS_IN_PROCESS = False
    # The production run of the suite (REDIS_URL set) keeps the Redis channel layer, on a
    # prefix of its own so that test runs never hear each other.
    if settings.REDIS_URL:
        settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"] = f"test-{os.getpid()}"
    else:
        settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer", "CONFIG": {"capacity": 5000}}}
    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


@pytest.fixture
def data_dir():
    return DATA


@pytest.fixture
def alice(django_user_model):
    return django_user_model.objects.create_user("alice", password="alice-pass-1", first_name="Alice")


@pytest.fixture
def bob(django_user_model):
    return django_user_model.objects.create_user("bob", password="bob-pass-1")


@pytest.fixture
def charlie(django_user_model):
    return django_user_model.objects.create_user("charlie", password="charlie-pass-1", is_staff=True)


@pytest.fixture
def meeting(alice):
    from meetings.models import Meeting

    return Meeting.objects.create(title="Planning", source="upload", engine="local", owner=alice)
