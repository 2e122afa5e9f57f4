"""Shared fixtures: alice (member), charlie (admin) and dana (reviewer) of Acme; bob of Globex."""
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
        for layer in settings.CHANNEL_LAYERS.values():
            layer["CONFIG"]["prefix"] = f"test-{os.getpid()}"
    else:
        memory = {"BACKEND": "streaming.layers.InProcessChannelLayer", "CONFIG": {"capacity": 5000}}
        settings.CHANNEL_LAYERS = {"default": memory, "live": memory}
    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


@pytest.fixture
def data_dir():
    return DATA


def join(user, workspace, role="member"):
    """Make ``user`` a ``role`` of ``workspace``; returns ``user``."""
    from meetings.models import Membership

    Membership.objects.create(user=user, workspace=workspace, role=role)
    return user


def home_workspace(user):
    """``user``'s first workspace."""
    from meetings.models import Workspace

    return Workspace.objects.filter(memberships__user=user).order_by("pk").first()


def new_meeting(owner, **fields):
    """A meeting of ``owner``'s first workspace (unless ``workspace`` is given)."""
    from meetings.models import Meeting

    fields.setdefault("workspace", home_workspace(owner))
    fields.setdefault("source", "upload")
    fields.setdefault("title", "Planning")
    return Meeting.objects.create(owner=owner, **fields)


@pytest.fixture
def workspace(db):
    """Acme: alice is a member, charlie its admin, dana a reviewer."""
    from meetings.models import Workspace

    return Workspace.objects.create(name="Acme")


@pytest.fixture
def other_workspace(db):
    """Globex: bob's workspace, which Acme's people do not belong to."""
    from meetings.models import Workspace

    return Workspace.objects.create(name="Globex")


@pytest.fixture
def alice(django_user_model, workspace):
    return join(django_user_model.objects.create_user("alice", password="alice-pass-1", first_name="Alice"), workspace)


@pytest.fixture
def bob(django_user_model, other_workspace):
    return join(django_user_model.objects.create_user("bob", password="bob-pass-1"), other_workspace)


@pytest.fixture
def charlie(django_user_model, workspace):
    return join(django_user_model.objects.create_user("charlie", password="charlie-pass-1"), workspace, "admin")


@pytest.fixture
def dana(django_user_model, workspace):
    return join(django_user_model.objects.create_user("dana", password="dana-pass-1"), workspace, "reviewer")


@pytest.fixture
def meeting(alice):
    return new_meeting(alice, title="Planning", engine="local")
