"""Helpers shared by the session tests."""
from channels.db import database_sync_to_async
from django.core.files import File

from meetings.models import Meeting
from streaming.audio import probe
from tests.conftest import home_workspace


@database_sync_to_async
def make_meeting(owner, source="upload", recording=None, engine="local", title="Test session", **fields):
    """A meeting as the start form makes it: ``recording`` (a path) is stored and probed for its length."""
    fields.setdefault("workspace", home_workspace(owner))
    meeting = Meeting(title=title, source=source, engine=engine, owner=owner, **fields)
    if recording:
        with open(recording, "rb") as handle:
            meeting.recording.save(recording.name, File(handle), save=False)
        meeting.duration_ms = probe(recording).duration_ms
    meeting.save()
    return meeting
