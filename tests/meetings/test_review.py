"""The review page on real meetings: turns, talk time, edits, the recording (HTTP Range) and exports."""
import json
import re

import pytest
from django.core.files import File

from meetings.models import ApiToken, Insight, Speaker, Utterance

pytestmark = pytest.mark.django_db


def test_the_review_page_groups_turns_charts_talk_time_and_links_moments(client, corpus):
    ami = corpus["ami"]
    client.force_login(corpus["ana"])
    html = client.get(f"/meetings/{ami.pk}/review/").content.decode()
    finals = list(ami.utterances.select_related("speaker"))
    expected_turns = 1 + sum(1 for a, b in zip(finals, finals[1:]) if a.speaker_id != b.speaker_id)
    assert html.count('<div class="turn">') == expected_turns
    assert html.count("data-start-ms=") == len(finals)
    # Talk time: one bar per speaker, longest first, widths proportional to the summed durations.
    totals = {}
    for u in finals:
        totals[u.speaker.name] = totals.get(u.speaker.name, 0) + u.end_ms - u.start_ms
    svg = html[html.index('<svg class="talk-chart"'):html.index("</svg>")]
    names = re.findall(r"<title>([^:<]+): ", svg)
    widths = [int(w) for w in re.findall(r'<rect x="\d+" y="[\d.]+" width="(\d+)"', svg)]
    assert names == [n for n, _ in sorted(totals.items(), key=lambda kv: -kv[1])]
    assert widths == sorted(widths, reverse=True) and len(widths) == len(totals)
    top = max(totals.values())
    assert all(abs(w - round(140 * ms / top)) <= 1 for w, ms in zip(widths, sorted(totals.values(), reverse=True)))
    # Insights and topics link to their first utterance's moment.
    question = ami.insights.filter(type="question").prefetch_related("utterances").first()
    first = question.utterances.first()
    assert f'href="?t={first.start_ms}#u{first.pk}" data-seek="{first.start_ms}"' in html
    assert 'src="/static/js/review.js"' in html
    assert "Rename" in html  # the owner may edit


def test_renaming_a_speaker_renames_every_utterance_of_the_meeting(client, corpus):
    ami = corpus["ami"]
    speaker = Speaker.objects.get(meeting=ami, name="Project Manager")
    client.force_login(corpus["ben"])
    assert client.post(f"/meetings/{ami.pk}/speakers/{speaker.pk}/rename", {"name": "X"}).status_code == 404
    client.force_login(corpus["ana"])
    response = client.post(f"/meetings/{ami.pk}/speakers/{speaker.pk}/rename", {"name": "Sarah (PM)"})
    assert response.status_code == 302
    html = client.get(response.url).content.decode()
    said = Utterance.objects.filter(meeting=ami, speaker=speaker).count()
    assert said > 10 and html.count("Sarah (PM)") >= 2 and "Project Manager <time>" not in html
    assert client.get(f"/meetings/{ami.pk}/transcript.srt").content.decode().count("Sarah (PM): ") == said
    assert client.post(f"/meetings/{ami.pk}/speakers/{speaker.pk}/rename", {"name": "  "}).status_code == 302
    speaker.refresh_from_db()
    assert speaker.name == "Sarah (PM)"


def test_editing_an_action_item(client, corpus):
    ami = corpus["ami"]
    action = Insight.objects.filter(meeting=ami, type="action_item").first()
    client.force_login(corpus["ana"])
    url = f"/meetings/{ami.pk}/insights/{action.pk}/edit"
    page = client.get(url).content.decode()
    assert f'value="{action.assignee}"' in page or not action.assignee
    assert url in client.get(f"/meetings/{ami.pk}/review/").content.decode()
    data = {"text": "Send the remote sketches", "assignee": "Industrial Designer", "due": "2026-12-01", "done": "on"}
    assert client.post(url, data).status_code == 302
    action.refresh_from_db()
    assert (action.text, action.assignee, action.due.isoformat(), action.done) == (
        "Send the remote sketches", "Industrial Designer", "2026-12-01", True)
    assert "Enter a valid date" in client.post(url, {**data, "due": "not a date"}).content.decode()
    action.refresh_from_db()
    assert action.due.isoformat() == "2026-12-01"  # refused, nothing changed
    client.post(url, {"text": "Send the remote sketches", "assignee": "", "due": ""})
    action.refresh_from_db()
    assert (action.assignee, action.due, action.done) == ("", None, False)
    question = Insight.objects.filter(meeting=ami, type="question").first()
    assert client.post(f"/meetings/{ami.pk}/insights/{question.pk}/edit", data).status_code == 404
    client.force_login(corpus["ben"])
    assert client.post(url, data).status_code == 404


def test_the_recording_is_served_to_those_who_may_see_it_with_range_requests(client, corpus, data_dir):
    ami = corpus["ami"]
    path = data_dir / "audio" / "beckett.flac"
    raw = path.read_bytes()
    with open(path, "rb") as handle:
        ami.recording.save("beckett.flac", File(handle), save=True)
    url = f"/meetings/{ami.pk}/recording"
    client.force_login(corpus["ben"])
    assert client.get(url).status_code == 404
    client.force_login(corpus["ana"])
    whole = client.get(url)
    assert whole.status_code == 200 and b"".join(whole.streaming_content) == raw
    assert whole["Accept-Ranges"] == "bytes" and whole["Content-Type"] == "audio/flac"
    part = client.get(url, HTTP_RANGE="bytes=100-1099")
    assert part.status_code == 206 and part["Content-Range"] == f"bytes 100-1099/{len(raw)}"
    assert b"".join(part.streaming_content) == raw[100:1100]
    tail = client.get(url, HTTP_RANGE="bytes=-500")
    assert b"".join(tail.streaming_content) == raw[-500:]
    open_ended = client.get(url, HTTP_RANGE=f"bytes={len(raw) - 10}-")
    assert b"".join(open_ended.streaming_content) == raw[-10:]
    assert client.get(url, HTTP_RANGE=f"bytes={len(raw)}-").status_code == 416
    page = client.get(f"/meetings/{ami.pk}/review/").content.decode()
    assert f'<audio id="player" controls preload="metadata" src="{url}">' in page


def test_exports_in_every_format(client, corpus):
    senedd = corpus["senedd"]
    finals = list(senedd.utterances.select_related("speaker"))
    client.force_login(corpus["ben"])
    base = f"/meetings/{senedd.pk}/transcript"
    txt = client.get(base + ".txt")
    assert txt["Content-Disposition"] == f'attachment; filename="committee-evidence-{senedd.pk}.txt"'
    text = txt.content.decode()
    assert text.startswith("Committee evidence\n") and all(u.text in text for u in finals)
    md = client.get(base + ".md").content.decode()
    assert md.startswith("# Committee evidence") and "## Summary" in md and "## Transcript" in md
    assert "## Questions" in md and f"**{finals[0].speaker.name}** [0:00]:" in md
    srt = client.get(base + ".srt").content.decode()
    cues = srt.strip().split("\n\n")
    assert len(cues) == len(finals)
    second = finals[1]
    start = f"00:{second.start_ms // 60000:02}:{second.start_ms // 1000 % 60:02},{second.start_ms % 1000:03}"
    assert cues[1].splitlines()[0] == "2" and cues[1].splitlines()[1].startswith(start + " --> ")
    assert cues[1].splitlines()[2] == f"{second.speaker.name}: {second.text}"
    vtt = client.get(base + ".vtt")
    assert vtt["Content-Type"].startswith("text/vtt")
    body = vtt.content.decode()
    assert body.startswith("WEBVTT\n\n") and body.count(" --> ") == len(finals)
    assert f"<v {finals[0].speaker.name}>" in body and re.search(r"\n00:00:00\.000 --> 00:00:\d\d\.\d{3}\n", body)
    data = json.loads(client.get(base + ".json").content)
    assert data["id"] == senedd.pk and len(data["utterances"]) == len(finals) and data["summary"]
    assert client.get(base + ".doc").status_code == 404
    client.force_login(corpus["ana"])
    assert client.get(base + ".txt").status_code == 404


def test_the_api_serves_exports_to_token_holders_only(client, corpus):
    senedd = corpus["senedd"]
    _, token = ApiToken.issue(corpus["ben"], corpus["ben_ws"], "t")
    _, other = ApiToken.issue(corpus["ana"], corpus["ana_ws"], "t")
    url = f"/api/v1/meetings/{senedd.pk}/transcript."
    assert client.get(url + "vtt").status_code == 401
    for fmt in ("txt", "md", "srt", "vtt", "json"):
        response = client.get(url + fmt, HTTP_AUTHORIZATION=f"Bearer {token}")
        assert response.status_code == 200 and len(response.content) > 1000
    assert client.get(url + "vtt", HTTP_AUTHORIZATION=f"Bearer {other}").json() == {"error": "No such meeting."}
    assert "use one of txt, md, srt, vtt, json" in client.get(url + "pdf", HTTP_AUTHORIZATION=f"Bearer {token}").json()["error"]
