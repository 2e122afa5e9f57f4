"""Retention reaches the vendor: deleting a bot meeting deletes the bot's data at MeetStream."""
import pytest
from django.utils import timezone

from meetings import retention
from meetings.bots.retention import bot_copies
from meetings.models import Bot, DeletionRecord, Meeting, RemoteDeletion
from meetings.bots.meetstream import MeetStream

from .conftest import API_KEY

pytestmark = pytest.mark.django_db


@pytest.fixture
def registered(monkeypatch):
    """The line meetings/retention.py registers (``remote_copies(bot_copies)``), for this test only."""
    monkeypatch.setattr(retention, "_COPY_FINDERS", [*retention._COPY_FINDERS, bot_copies])


def test_deleting_a_bot_meeting_deletes_the_bots_data_at_the_vendor(alice, workspace, meetstream_account, meetstream,
                                                                     registered):
    meeting = Meeting.objects.create(title="Kick-off", source="bot", owner=alice, workspace=workspace,
                                     status="completed", ended_at=timezone.now())
    bot = Bot.objects.create(meeting=meeting, meeting_url="https://meet.google.com/abc-defg-hij", platform="google_meet",
                             callback_base="http://127.0.0.1:9")
    bot.vendor_bot_id = MeetStream(API_KEY).create(bot).bot_id
    bot.save()
    assert bot_copies(meeting) == [("meetstream", bot.vendor_bot_id)]

    record = retention.delete_meeting(meeting, DeletionRecord.Reason.RETENTION)

    remote = record.remote.get()
    assert (remote.provider, remote.remote_id, remote.status) == ("meetstream", bot.vendor_bot_id,
                                                                  RemoteDeletion.Status.DONE)
    assert ("DELETE", f"/api/v1/bots/{bot.vendor_bot_id}/delete", 200) in meetstream.requests
    assert bot.vendor_bot_id not in meetstream.data
    assert not Bot.objects.exists()


def test_a_bot_the_vendor_never_created_has_no_copy(alice, workspace):
    meeting = Meeting.objects.create(title="Cancelled", source="bot", owner=alice, workspace=workspace)
    Bot.objects.create(meeting=meeting, meeting_url="https://meet.google.com/abc-defg-hij", platform="google_meet",
                       status=Bot.Status.CANCELLED)
    assert bot_copies(meeting) == []
