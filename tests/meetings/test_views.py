"""The dashboard: sign-in, the start form, live and review pages, API tokens, the first admin."""
import io
import os

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command

from tests.conftest import new_meeting
from meetings.models import ApiToken, Insight, Membership, Meeting, Speaker, Summary, Topic, Utterance

pytestmark = pytest.mark.django_db


def test_pages_require_sign_in(client):
    for url in ("/", "/meetings/new/", "/tokens/"):
        response = client.get(url)
        assert response.status_code == 302 and response.url.startswith("/accounts/login/")


def test_sign_in_then_the_meetings_list_shows_live_badges(client, alice):
    new_meeting(alice, title="Stand-up", source="microphone", status="live")
    response = client.post("/accounts/login/", {"username": "alice", "password": "alice-pass-1"}, follow=True)
    assert b"Stand-up" in response.content
    assert b"status-live" in response.content


def test_the_start_form_creates_an_upload_and_opens_its_live_page(client, alice, data_dir):
    client.force_login(alice)
    with open(data_dir / "audio" / "beckett.flac", "rb") as handle:
        response = client.post("/meetings/new/", {"source": "upload", "engine": "local", "file": handle, "title": ""})
    meeting = Meeting.objects.get()
    assert response.status_code == 302 and response.url == f"/meetings/{meeting.pk}/live/"
    assert meeting.title == "beckett" and meeting.recording.name.endswith(".flac")


def test_a_corrupt_file_gets_a_clear_message_on_the_form_and_nothing_is_created(client, alice, tmp_path):
    client.force_login(alice)
    path = tmp_path / "meeting.mp4"
    path.write_bytes(os.urandom(4096))
    with open(path, "rb") as handle:
        response = client.post("/meetings/new/", {"source": "upload", "engine": "local", "file": handle})
    assert response.status_code == 400
    assert b"Could not read this file as audio or video" in response.content
    assert not Meeting.objects.exists()


def test_a_microphone_session_needs_no_file(client, alice):
    client.force_login(alice)
    response = client.post("/meetings/new/", {"source": "microphone", "engine": "local", "title": "Dictation"})
    meeting = Meeting.objects.get()
    assert (meeting.source, meeting.title) == ("microphone", "Dictation")
    page = client.get(response.url)
    assert b"Start microphone" in page.content and b"mic.js" in page.content


def test_trackers_are_written_one_per_line_and_kept_on_the_meeting(client, alice):
    client.force_login(alice)
    bad = client.post("/meetings/new/", {"source": "microphone", "engine": "local", "trackers": "Pricing"})
    assert bad.status_code == 400 and "Line 1: write a tracker as" in bad.content.decode()
    client.post("/meetings/new/", {"source": "microphone", "engine": "local",
                                   "trackers": "Pricing: price, discount ,budget\n\nRisks: risk"})
    assert Meeting.objects.get().trackers == [{"name": "Pricing", "vocabulary": ["price", "discount", "budget"]},
                                              {"name": "Risks", "vocabulary": ["risk"]}]


def test_the_live_page_of_someone_elses_meeting_is_a_404(client, bob, meeting):
    client.force_login(bob)
    assert client.get(f"/meetings/{meeting.pk}/live/").status_code == 404
    assert client.post(f"/meetings/{meeting.pk}/stop/").status_code == 404


def test_the_review_page_shows_summary_turns_insights_and_topics(client, alice, meeting):
    ann = Speaker.objects.create(meeting=meeting, key="ann", name="Ann")
    first = Utterance.objects.create(meeting=meeting, speaker=ann, start_ms=65_000, end_ms=67_000, text="I'll send the deck.", message_id="m1")
    Utterance.objects.create(meeting=meeting, speaker=ann, start_ms=67_000, end_ms=69_000, text="It has the budget.", message_id="m2")
    action = Insight.objects.create(meeting=meeting, type="action_item", text="I'll send the deck.", assignee="Ann", provider_id="i1")
    action.utterances.add(first)
    Topic.objects.create(meeting=meeting, phrase="budget deck", score=0.8)
    Summary.objects.create(meeting=meeting, text="Ann will send the deck with the budget.")
    Meeting.objects.filter(pk=meeting.pk).update(status="completed")
    client.force_login(alice)
    html = client.get(f"/meetings/{meeting.pk}/review/").content.decode()
    assert "Ann will send the deck with the budget." in html
    assert html.count('class="turn"') == 1  # two utterances of one speaker make one turn
    assert "→ Ann" in html and f'href="?t=65000#u{first.pk}"' in html
    assert "budget deck" in html
    assert 'data-start-ms="65000"' in html and ">1:05<" in html


def test_the_detail_url_goes_to_live_or_review_by_status(client, alice, meeting):
    client.force_login(alice)
    assert client.get(f"/meetings/{meeting.pk}/").url.endswith("/live/")
    Meeting.objects.filter(pk=meeting.pk).update(status="completed")
    assert client.get(f"/meetings/{meeting.pk}/").url.endswith("/review/")


def test_a_token_made_in_the_ui_is_shown_once(client, alice):
    client.force_login(alice)
    response = client.post("/tokens/", {"name": "laptop"})
    token = response.context["created"]
    assert token.startswith("prl_") and token in response.content.decode()
    assert token not in client.get("/tokens/").content.decode()
    stored = ApiToken.objects.get()
    client.post(f"/tokens/{stored.pk}/revoke/")
    stored.refresh_from_db()
    assert stored.revoked_at is not None


def test_ensure_admin_creates_admin_once_with_the_given_password(monkeypatch):
    monkeypatch.setenv("PARLEY_ADMIN_PASSWORD", "s3cret-enough")
    call_command("ensure_admin", stdout=io.StringIO())
    call_command("ensure_admin", stdout=io.StringIO())
    admin = User.objects.get(username="admin")
    assert admin.is_superuser and admin.check_password("s3cret-enough")


def test_ensure_admin_prints_a_generated_password(monkeypatch):
    monkeypatch.delenv("PARLEY_ADMIN_PASSWORD", raising=False)
    out = io.StringIO()
    call_command("ensure_admin", stdout=out)
    line = next(line for line in out.getvalue().splitlines() if "with password: " in line)
    assert User.objects.get(username="admin").check_password(line.rsplit(": ", 1)[1])
    assert Membership.objects.get(user__username="admin").role == "admin"


def test_every_hub_model_is_in_the_admin(admin_client, meeting):
    for model in ("meeting", "speaker", "utterance", "insight", "topic", "summary", "meetingevent", "apitoken"):
        assert admin_client.get(f"/admin/meetings/{model}/").status_code == 200
