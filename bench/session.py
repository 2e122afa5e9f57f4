"""Seconds from upload to completed, through the whole embedded path.

A recording is POSTed to ``/api/v1/meetings/`` with a bearer token (as fast as the engine
goes, ``realtime`` off), and the in-process runner pool runs the session; the clock stops when
the meeting's status is ``completed``. Runs against a throwaway SQLite database.
"""
import asyncio
import os
import tempfile
import time
from pathlib import Path

_ready = False


def _setup():
    global _ready
    if _ready:
        return
    os.environ["PARLEY_DATA_DIR"] = tempfile.mkdtemp(prefix="parley-bench-")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    for name in ("DATABASE_URL", "REDIS_URL"):
        os.environ.pop(name, None)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    _ready = True


def upload_to_completed_seconds(path, timeout=600):
    """Upload ``path`` through the API and return the seconds until its meeting completed.

    Raises RuntimeError when the session fails or does not complete within ``timeout`` s.
    """
    _setup()
    from django.contrib.auth.models import User
    from django.test import Client

    from meetings.models import ApiToken, Meeting
    from meetings.workspaces import create_workspace
    from streaming.runners import RunnerPool

    user, new = User.objects.get_or_create(username="bench")
    workspace = create_workspace("Bench", user) if new else user.memberships.first().workspace
    _, token = ApiToken.issue(user, workspace, "bench")

    async def run():
        pool = RunnerPool(embedded=True, poll_seconds=0.05)
        serving = asyncio.create_task(pool.serve())
        started = time.perf_counter()
        with open(path, "rb") as handle:
            response = await asyncio.to_thread(
                Client().post, "/api/v1/meetings/", {"file": handle}, HTTP_AUTHORIZATION=f"Bearer {token}"
            )
        if response.status_code != 201:
            raise RuntimeError(f"upload refused: {response.json()}")
        meeting_id = response.json()["id"]
        try:
            while True:
                meeting = await Meeting.objects.aget(pk=meeting_id)
                if meeting.status == Meeting.Status.COMPLETED:
                    return time.perf_counter() - started
                if meeting.status == Meeting.Status.FAILED:
                    raise RuntimeError(f"session failed: {meeting.failure_reason}")
                if time.perf_counter() - started > timeout:
                    raise RuntimeError("session did not complete in time")
                await asyncio.sleep(0.05)
        finally:
            serving.cancel()
            await asyncio.gather(serving, return_exceptions=True)

    return asyncio.run(run())


if __name__ == "__main__":
    import sys

    for name in sys.argv[1:] or [str(Path(__file__).parents[1] / "tests/data/audio/two_cities.flac")]:
        print(f"{Path(name).name}: {upload_to_completed_seconds(name):.2f} s from upload to completed")
