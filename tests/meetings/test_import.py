"""import_transcript: real QMSum meetings and Parley JSON exports become completed meetings."""
import json

import pytest
from django.core.management import CommandError, call_command

from meetings.exports import export
from meetings.importers import TranscriptFormatError, import_file, parse
from tests.conftest import home_workspace
from meetings.models import Insight, Meeting, MeetingEvent
from streaming.insights.text import clean

pytestmark = pytest.mark.django_db


def qmsum_turns(path):
    turns = json.loads(path.read_text())["meeting_transcripts"]
    return [(t["speaker"], clean(t["content"])) for t in turns if clean(t["content"])]


def test_a_qmsum_meeting_is_imported_whole_with_clean_text_speakers_and_insights(alice, data_dir):
    path = data_dir / "meetings" / "education_13.json"
    out = []
    call_command("import_transcript", str(path), "--owner", "alice", stdout=type("W", (), {"write": out.append})())
    meeting = Meeting.objects.get()
    assert out and out[0].startswith(f"{meeting.pk}\t/meetings/{meeting.pk}/review/")
    assert (meeting.title, meeting.status, meeting.source, meeting.owner) == ("education_13", "completed", "import", alice)
    expected = qmsum_turns(path)
    got = [(u.speaker.name, u.text) for u in meeting.utterances.select_related("speaker")]
    assert got == expected
    assert {s.name for s in meeting.speakers.all()} == {name for name, _ in expected}
    assert not meeting.utterances.filter(text__contains="{").exists()
    # Times are estimated, strictly increasing, and the meeting's length is the last end.
    starts = [u.start_ms for u in meeting.utterances.all()]
    assert starts == sorted(starts) and len(set(starts)) == len(starts)
    assert meeting.duration_ms == meeting.utterances.last().end_ms
    # The local text pipeline ran: insights linked to utterances, topics and a summary.
    assert meeting.insights.filter(type="question").exists()
    assert all(i.utterances.exists() for i in meeting.insights.all())
    assert meeting.topics.count() > 0 and meeting.summary.text
    # Everything went through the persister: a gap-free event log ending in "completed".
    seqs = list(meeting.events.values_list("seq", flat=True))
    assert seqs == list(range(1, meeting.last_seq + 1))
    assert meeting.events.last().payload == {"type": "session_status", "status": "completed", "reason": ""}


def test_a_parley_json_export_imports_back_with_its_edits(alice, bob, data_dir, tmp_path):
    original = import_file(data_dir / "meetings" / "ES2004a.json", alice, home_workspace(alice))
    action = original.insights.filter(type="action_item").first()
    action.done, action.assignee = True, "Industrial Designer"
    action.save()
    body, _, _ = export(original, "json")
    path = tmp_path / "export.json"
    path.write_text(body)
    copy = import_file(path, bob, home_workspace(bob))
    assert copy.pk != original.pk and copy.title == original.title and copy.status == "completed"
    assert [(u.speaker.name, u.text, u.start_ms, u.end_ms) for u in copy.utterances.select_related("speaker")] == [
        (u.speaker.name, u.text, u.start_ms, u.end_ms) for u in original.utterances.select_related("speaker")]
    assert copy.summary.text == original.summary.text
    assert sorted(copy.topics.values_list("phrase", flat=True)) == sorted(original.topics.values_list("phrase", flat=True))
    moved = copy.insights.get(provider_id=action.provider_id)
    assert (moved.text, moved.done, moved.assignee) == (action.text, True, "Industrial Designer")
    assert [u.text for u in moved.utterances.all()] == [u.text for u in action.utterances.all()]
    assert copy.insights.count() == original.insights.count()


@pytest.mark.parametrize("content, expected", [
    (b"speaker,text\nA,hello\n", "is not JSON"),
    (b'[{"speaker": "A", "content": "hi"}]', "unknown format"),
    (b'{"transcript": "hello"}', "unknown format"),
    (b'{"meeting_transcripts": [{"speaker": "A"}]}', 'turn 0 has no "content"'),
    (b'{"title": "x", "utterances": [{"speaker": "A", "text": "hi", "start_ms": 5, "end_ms": 1}]}', "malformed"),
])
def test_an_unknown_or_broken_file_is_refused_naming_what_was_expected(alice, tmp_path, content, expected):
    path = tmp_path / "meeting.json"
    path.write_bytes(content)
    with pytest.raises(CommandError, match=expected) as caught:
        call_command("import_transcript", str(path), "--owner", "alice")
    assert "Nothing was imported" in str(caught.value)
    if "malformed" not in expected and "content" not in expected:
        assert "expected a QMSum meeting file" in str(caught.value)
    assert not Meeting.objects.exists() and not MeetingEvent.objects.exists()


def test_a_failure_midway_leaves_nothing_half_imported(alice, data_dir, monkeypatch):
    from meetings import importers

    real, calls = importers.persist_event, []

    def failing(meeting_id, event, runner_id=None):
        calls.append(event["type"])
        if len(calls) == 50:
            return None  # the persister refused an event
        return real(meeting_id, event, runner_id)

    monkeypatch.setattr(importers, "persist_event", failing)
    with pytest.raises(TranscriptFormatError, match="could not be stored"):
        import_file(data_dir / "meetings" / "ES2004a.json", alice, home_workspace(alice))
    assert not Meeting.objects.exists() and not Insight.objects.exists() and not MeetingEvent.objects.exists()


def test_parse_recognises_formats_by_shape_not_name(data_dir):
    assert parse((data_dir / "meetings" / "ES2004a.json").read_bytes(), name="x").format == "qmsum"
    with pytest.raises(TranscriptFormatError, match="expected a QMSum meeting file"):
        parse(b"{}")
