"""Search over real meetings (QMSum ES2004a and education_13), on SQLite FTS5 and PostgreSQL FTS.

`make test` runs this module on both databases. The corpus (tests/meetings/conftest.py) is imported
once per module: ana owns the AMI product-design meeting, ben the Welsh Parliament committee session.
"""
import re

import pytest

from meetings import search
from meetings.models import ApiToken, Insight, SearchEntry, Speaker, Utterance
from streaming import events
from streaming.insights.text import clean
from streaming.persist import persist_event

pytestmark = pytest.mark.django_db


def plain(snippet):
    return re.sub(r"</?mark>", "", str(snippet))


def marked(snippet):
    return [m.lower() for m in re.findall(r"<mark>(.*?)</mark>", str(snippet))]


def test_words_are_stemmed_ranked_highlighted_and_link_to_the_moment(corpus):
    results = search.search(corpus["ana"], "designs")
    assert results.hits
    assert all(hit.meeting.pk == corpus["ami"].pk for hit in results.hits)
    ranks = [hit.rank for hit in results.hits]
    assert ranks == sorted(ranks, reverse=True)
    # "designs" finds "design", "designer", "designing": the stem, highlighted.
    assert all(any(m.startswith("design") for m in marked(hit.snippet)) for hit in results.hits)
    utterance_hit = next(hit for hit in results.hits if hit.entry.kind == "utterance")
    u = Utterance.objects.get(pk=utterance_hit.utterance_id)
    assert utterance_hit.url == f"/meetings/{corpus['ami'].pk}/review/?t={u.start_ms}#u{u.pk}"
    assert utterance_hit.speaker == u.speaker.name


def test_a_quoted_phrase_matches_the_words_in_order_and_exclusion_removes(corpus):
    ana = corpus["ana"]
    loose = search.search(ana, "remote control", per_page=100).hits
    phrase = search.search(ana, '"remote control"', per_page=100).hits
    assert phrase and all("remote control" in plain(h.entry.text).lower() for h in phrase)
    assert {h.entry.pk for h in phrase} <= {h.entry.pk for h in loose}
    design = search.search(ana, "design", per_page=100).hits
    excluded = search.search(ana, "design -remote", per_page=100).hits
    assert excluded and all("remote" not in h.entry.text.lower() for h in excluded)
    assert {h.entry.pk for h in excluded} == {h.entry.pk for h in design if "remote" not in h.entry.text.lower()}
    assert len(excluded) < len(design)


def test_or_finds_either_word_across_the_meetings_one_may_see(corpus):
    staff = search.search(corpus["staff"], "prosecution OR euro", per_page=100).hits
    assert {h.meeting.pk for h in staff} == {corpus["ami"].pk, corpus["senedd"].pk}
    # Each owner sees only their own meeting; a word only the other meeting has finds nothing.
    assert {h.meeting.pk for h in search.search(corpus["ana"], "prosecution OR euro", per_page=100).hits} == {
        corpus["ami"].pk}
    assert search.search(corpus["ana"], "prosecution").hits == []
    assert {h.meeting.pk for h in search.search(corpus["ben"], "prosecution").hits} == {corpus["senedd"].pk}


def test_titles_and_participant_names_are_searched(corpus):
    kinds = {h.entry.kind for h in search.search(corpus["ana"], "kick-off").hits}
    assert "title" in kinds
    names = search.search(corpus["ana"], '"industrial designer"').hits
    assert any(h.entry.kind == "speaker" and h.speaker == "Industrial Designer" for h in names)


def test_filters_speaker_insight_type_source_and_open_action_items(corpus):
    ana = corpus["ana"]
    by_marketing = search.search(ana, "remote", {"speaker": "marketing"}, per_page=100).hits
    assert by_marketing and {h.speaker for h in by_marketing} == {"Marketing"}
    questions = search.search(ana, "remote", {"insight_type": "question"}, per_page=100).hits
    assert questions and all(h.entry.insight.type == "question" for h in questions)
    assert all(plain(h.snippet).endswith("?") or "?" in h.entry.text for h in questions)
    asked = search.search(ana, "remote", {"insight_type": "question", "speaker": "Marketing"}, per_page=100).hits
    assert asked and len(asked) < len(questions)
    assert all(h.speaker == "Marketing" and h.entry.insight.utterances.order_by("start_ms").first().speaker.name
               == "Marketing" for h in asked)
    assert search.search(ana, "remote", {"source": "upload"}).hits == []
    assert search.search(ana, "remote", {"source": "import", "engine": "local"}).hits
    assert Insight.objects.filter(meeting=corpus["ami"], type="action_item").exists()
    assert search.search(ana, "remote", {"open_actions": True}).hits
    Insight.objects.filter(meeting=corpus["ami"], type="action_item").update(done=True)
    assert search.search(ana, "remote", {"open_actions": True}).hits == []


def test_date_filters_use_the_meeting_date(corpus):
    day = corpus["ami"].started_at.date()
    assert search.search(corpus["ana"], "remote", {"date_from": day, "date_to": day}).hits
    assert search.search(corpus["ana"], "remote", {"date_to": day.replace(year=day.year - 1)}).hits == []


def test_the_index_follows_renames_edits_and_deletes(corpus):
    ana = corpus["ana"]
    speaker = Speaker.objects.get(meeting=corpus["ami"], name="Marketing")
    speaker.name = "Zoltan Marketingsson"
    speaker.save()
    assert any(h.entry.kind == "speaker" for h in search.search(ana, "zoltan").hits)
    assert {h.speaker for h in search.search(ana, "remote", {"speaker": "Zoltan Marketingsson"}).hits} == {
        "Zoltan Marketingsson"}
    action = Insight.objects.filter(meeting=corpus["ami"], type="action_item").first()
    action.text = "Order the quokka prototypes"
    action.save()
    assert [h.entry.insight_id for h in search.search(ana, "quokka").hits] == [action.pk]
    utterance = Utterance.objects.filter(meeting=corpus["ami"]).first()
    utterance_id = utterance.pk
    assert SearchEntry.objects.filter(utterance_id=utterance_id).exists()
    utterance.delete()
    assert not SearchEntry.objects.filter(utterance_id=utterance_id).exists()
    # Provisional text is not searchable; it becomes so when final.
    who = events.user_ref("x", "X")
    persist_event(corpus["ami"].pk, events.recognition_result("wombat", is_final=False, user=who, time_offset_ms=0))
    assert search.search(ana, "wombat").hits == []
    persist_event(corpus["ami"].pk, events.message_response("m-wombat", "Wombat.", user=who, start_ms=0, end_ms=900))
    final = Utterance.objects.get(meeting=corpus["ami"], message_id="m-wombat")
    assert [h.utterance_id for h in search.search(ana, "wombat").hits] == [final.pk]


@pytest.mark.parametrize("query, message", [
    ("", "Type one or more words"),
    ("   ", "Type one or more words"),
    ("the and of", "too common"),
    ('"remote control', "quote is not closed"),
    ("OR - \"\"", "only operators"),
    ("-remote -control", "Every word is excluded"),
])
def test_bad_queries_get_a_helpful_message(corpus, query, message):
    with pytest.raises(search.QueryError, match=message):
        search.search(corpus["ana"], query)


def test_the_search_page_shows_highlighted_hits_and_messages(client, corpus):
    client.force_login(corpus["ana"])
    page = client.get("/search/", {"q": '"remote control"'})
    html = page.content.decode()
    assert page.status_code == 200 and "<mark>" in html and f"/meetings/{corpus['ami'].pk}/review/?t=" in html
    bad = client.get("/search/", {"q": '"unbalanced'})
    assert bad.status_code == 400 and "quote is not closed" in bad.content.decode()
    assert client.get("/search/", {"q": "prosecution"}).content.decode().count('class="hit') == 0


def test_the_search_api_answers_json_with_snippets_links_and_errors(client, corpus):
    _, token = ApiToken.issue(corpus["ben"], corpus["ben_ws"], "t")
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    assert client.get("/api/v1/search", {"q": "prosecution"}).status_code == 401
    data = client.get("/api/v1/search", {"q": "crown prosecution", "speaker": ""}, **auth).json()
    assert data["results"] and all(r["meeting"]["id"] == corpus["senedd"].pk for r in data["results"])
    first = data["results"][0]
    assert "<mark>" in first["snippet"] and first["url"].startswith("http://testserver/meetings/")
    assert client.get("/api/v1/search", {"q": "the"}, **auth).json()["error"].startswith("Every word is too common")
    assert client.get("/api/v1/search", {"q": "x", "date_from": "yesterday"}, **auth).status_code == 400
    one = client.get("/api/v1/search", {"q": "prosecution OR evidence"}, **auth).json()
    two = client.get("/api/v1/search", {"q": "prosecution OR evidence", "page": 2}, **auth).json()
    assert one["has_more"] and two["page"] == 2 and len(one["results"]) == 20 and two["results"]
    key = lambda r: (r["kind"], r["utterance_id"], r["snippet"])  # noqa: E731
    assert not {key(r) for r in one["results"]} & {key(r) for r in two["results"]}


def test_snippets_are_escaped_html(corpus):
    meeting = corpus["ami"]
    Utterance.objects.create(meeting=meeting, start_ms=1, end_ms=2, text="<script>alert(1)</script> platypus",
                             message_id="xss")
    hit = search.search(corpus["ana"], "platypus").hits[0]
    # SQLite's snippet() keeps the text (escaped here); PostgreSQL's ts_headline drops tags itself.
    assert "<script>" not in str(hit.snippet) and "alert(1)" in str(hit.snippet)
    assert marked(hit.snippet) == ["platypus"]


def test_imported_text_is_indexed_clean(corpus):
    # The corpus annotation never reaches the index.
    assert not SearchEntry.objects.filter(meeting=corpus["ami"], text__contains="{vocalsound}").exists()
    assert search.search(corpus["ana"], "disfmarker").hits == []
    assert clean("{vocalsound} Okay .") == "Okay."


def test_postgres_ranks_a_bounded_number_of_candidates(corpus, monkeypatch):
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("the candidate bound is PostgreSQL's; FTS5 ranks every match")
    everything = search.search(corpus["ana"], "remote", per_page=100).hits
    monkeypatch.setattr(search, "RANK_CANDIDATES", 3)
    bounded = search.search(corpus["ana"], "remote", per_page=100).hits
    assert len(everything) > 3 and len(bounded) == 3
    assert [h.rank for h in bounded] == sorted((h.rank for h in bounded), reverse=True)


def test_open_action_items_filter_follows_each_meeting(corpus):
    # Only ana's meeting has its action items closed: staff, who sees both, keeps the other's.
    staff = corpus["staff"]
    for meeting in (corpus["ami"], corpus["senedd"]):
        assert Insight.objects.filter(meeting=meeting, type="action_item", done=False).exists()
    assert {h.meeting.pk for h in search.search(staff, "remote OR evidence", {"open_actions": True},
                                                per_page=100).hits} == {corpus["ami"].pk, corpus["senedd"].pk}
    Insight.objects.filter(meeting=corpus["ami"], type="action_item").update(done=True)
    assert {h.meeting.pk for h in search.search(staff, "remote OR evidence", {"open_actions": True},
                                                per_page=100).hits} == {corpus["senedd"].pk}


def _postgres_only():
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's candidate plans and planner settings")
    return connection


def test_postgres_finds_the_same_hits_whether_the_scope_is_broad_or_narrow(corpus, monkeypatch):
    connection = _postgres_only()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE meetings_searchentry")
    cases = [
        (corpus["staff"], "remote OR evidence", {}),
        (corpus["ana"], "remote", {"speaker": "Marketing"}),
        (corpus["ana"], '"remote control" -button', {}),
        (corpus["staff"], "design OR prosecution", {"insight_type": "question"}),
    ]
    for user, q, filters in cases:
        found = {}
        for share in (0, 2):  # below 0 of all entries nothing is narrow; below twice all, everything
            monkeypatch.setattr(search, "NARROW_SHARE", share)
            found[share] = [(h.entry.pk, h.rank, str(h.snippet)) for h in search.search(user, q, filters,
                                                                                       per_page=100).hits]
        assert found[0] and found[0] == found[2], q


def test_postgres_measures_the_share_of_entries_in_scope(corpus):
    connection = _postgres_only()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE meetings_searchentry")
        everything = search._filtered(corpus["staff"], None, {})
        one_speaker = search._filtered(corpus["ana"], None, {"speaker": "Marketing"})
        shares = [search._share(cursor, *scope.where("e", arrays=True)) for scope in (everything, one_speaker)]
    exact = SearchEntry.objects.filter(meeting=corpus["ami"], said_by__name="Marketing").count() / \
        SearchEntry.objects.count()
    # Estimates: the planner multiplies the meeting's share by the speaker's.
    assert shares[0] > 0.9
    assert exact / 4 < shares[1] < exact * 2 < 0.5


def test_postgres_planner_settings_end_with_the_search(corpus):
    connection = _postgres_only()
    assert search.search(corpus["ana"], "remote").hits
    with connection.cursor() as cursor:
        cursor.execute("SHOW enable_seqscan")
        assert cursor.fetchone()[0] == "on"
