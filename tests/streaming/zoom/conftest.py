"""Fixtures for the Zoom tests: the Zoom emulator with Parley's settings pointed at it, Acme's Zoom
account set to the emulator's app, and the RTMP ingest on a free loopback port."""
import pytest

from meetings.models import Provider
from streaming.zoom import client as zoom_client
from tests.accounts import provider_account
from tests.fakes.zoom import ZoomFake
from tests.net import free_port

MEETING = "85746065432"


def point_settings(settings, fake):
    settings.ZOOM_API_URL, settings.ZOOM_OAUTH_URL = fake.api_url, fake.oauth_url
    zoom_client._TOKENS.clear()


@pytest.fixture
async def zoom(settings):
    """The Zoom emulator (async tests), knowing meeting :data:`MEETING`."""
    fake = await ZoomFake(meetings=[MEETING]).start()
    point_settings(settings, fake)
    yield fake
    await fake.stop()
    zoom_client._TOKENS.clear()


@pytest.fixture
def zoom_served(settings):
    """The Zoom emulator served from a thread (sync tests: views, the API)."""
    with ZoomFake(meetings=[MEETING]).serving() as fake:
        point_settings(settings, fake)
        yield fake
    zoom_client._TOKENS.clear()


def zoom_account_for(workspace, fake):
    """``workspace``'s Zoom account set to the emulator ``fake``'s app."""
    return provider_account(workspace, Provider.ZOOM, {"account_id": fake.account_id, "client_id": fake.client_id},
                            client_secret=fake.client_secret, webhook_secret_token=fake.webhook_secret_token)


@pytest.fixture
def rtmp(settings):
    """The RTMP ingest on a free loopback port; returns the port."""
    port = free_port()
    settings.ZOOM_RTMP_PORT, settings.ZOOM_RTMP_BIND = port, "127.0.0.1"
    settings.ZOOM_RTMP_PUBLIC_URL = f"rtmp://127.0.0.1:{port}/live"
    return port


@pytest.fixture
async def ingest(rtmp):
    """:func:`rtmp`, and the ingests the test's sessions started closed after it; returns the port."""
    from streaming.zoom.rtmp import stop_ingest

    yield rtmp
    await stop_ingest()


from tests.streaming.symbl_fixtures import symbl, symbl_account  # noqa: E402,F401  (the Symbl emulator)


async def publish(path, port, key, *, start=0, seconds=None, app="live"):
    """ffmpeg publishes the recording at ``path`` (from ``start`` s, ``seconds`` long) to Parley's
    ingest on ``port`` as Zoom does (FLV, AAC), as fast as it can; returns (exit status, stderr)."""
    import asyncio

    cut = [*(["-ss", str(start)] if start else []), "-i", str(path), *(["-t", str(seconds)] if seconds else [])]
    process = await asyncio.create_subprocess_exec(
        "ffmpeg", "-nostdin", "-loglevel", "error", *cut, "-vn", "-c:a", "aac", "-f", "flv",
        f"rtmp://127.0.0.1:{port}/{app}/{key}", stdin=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    _, stderr = await process.communicate()
    return process.returncode, stderr.decode(errors="replace")
