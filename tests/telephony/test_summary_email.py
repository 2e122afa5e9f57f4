"""Parley's summary e-mail when a session ends: to the session's recipients, with the summary, the
action items and a link to the review page, once."""
import pytest
from django.core import mail
from django.db import transaction

from meetings.models import Insight, Meeting, Summary
from telephony import notify
from telephony.models import SummaryEmail

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def eager():
    """The task runs here, as on the embedded default, also where a broker is configured."""
    from config.celery import app

    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = before


@pytest.fixture
def ended(alice, workspace, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.PUBLIC_URL = "https://parley.example.com"
    meeting = Meeting.objects.create(title="Weekly sync", source="dial_in", engine="symbl", owner=alice,
                                     workspace=workspace, status="completed")
    Summary.objects.create(meeting=meeting, text="The team agreed to ship the release on Friday.")
    Insight.objects.create(meeting=meeting, type="action_item", text="Ana will send the release notes.",
                           assignee="Ana", provider_id="a1")
    return meeting


def test_the_recipients_get_the_summary_action_items_and_the_review_link_once(ended):
    SummaryEmail.objects.create(meeting=ended, recipients=["ana@example.com", "ben@example.com"])
    with transaction.atomic():
        notify.session_ended(ended.pk)
        assert not mail.outbox  # only after the commit
    [sent] = mail.outbox
    assert sent.to == ["ana@example.com", "ben@example.com"] and sent.subject == "Summary: Weekly sync"
    assert "The team agreed to ship the release on Friday." in sent.body
    assert "- Ana will send the release notes. (Ana)" in sent.body
    assert f"https://parley.example.com/meetings/{ended.pk}/review/" in sent.body
    assert SummaryEmail.objects.get().sent_at is not None
    # The same end reported again (a retry, a second worker) sends nothing more.
    notify.session_ended(ended.pk)
    assert notify.send_summary_email(ended.pk) == 0
    assert len(mail.outbox) == 1


def test_a_failed_session_says_so(ended):
    Meeting.objects.filter(pk=ended.pk).update(status="failed", failure_reason="Symbl could not dial +16465588656.")
    SummaryEmail.objects.create(meeting=ended, recipients=["ana@example.com"])
    notify.session_ended(ended.pk)
    [sent] = mail.outbox
    assert sent.subject == "Session failed: Weekly sync"
    assert "The session failed: Symbl could not dial +16465588656." in sent.body


def test_no_recipients_no_email_and_an_active_session_waits(ended):
    notify.session_ended(ended.pk)
    assert not mail.outbox
    Meeting.objects.filter(pk=ended.pk).update(status="live")
    SummaryEmail.objects.create(meeting=ended, recipients=["ana@example.com"])
    assert notify.send_summary_email(ended.pk) == 0 and not mail.outbox


def test_recipients_are_set_per_session_and_checked(client, alice, ended, dana):
    client.force_login(alice)
    url = f"/telephony/meetings/{ended.pk}/summary-recipients"
    assert client.post(url, {"recipients": "ana@example.com, nope"}).json() == {
        "error": "“nope” is not an e-mail address."}
    response = client.post(url, {"recipients": "ana@example.com\nben@example.com"})
    assert response.json() == {"recipients": ["ana@example.com", "ben@example.com"]}
    assert SummaryEmail.objects.get(meeting=ended).recipients == ["ana@example.com", "ben@example.com"]
    client.force_login(dana)  # a reviewer may not change them
    assert client.post(url, {"recipients": "dana@example.com"}).status_code == 403
