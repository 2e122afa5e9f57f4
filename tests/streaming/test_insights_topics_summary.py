"""Topics (YAKE) and the extractive summary on real meetings: AMI ES2004a and a Welsh Parliament committee."""
import json
import random
import re
from functools import lru_cache
from pathlib import Path
from types import SimpleNamespace

import pytest

from streaming import events
from streaming.insights.summary import summarize
from streaming.insights.text import FILLERS, clean, sentences, stopwords, words
from streaming.insights.topics import extract_topics

MEETINGS = Path(__file__).resolve().parent.parent / "data" / "meetings"


@lru_cache(maxsize=None)
def load(name):
    """(utterances with ``id``/``text`` in turn order, the human summary of the whole meeting)."""
    data = json.loads((MEETINGS / f"{name}.json").read_text())
    turns = data["meeting_transcripts"]
    utterances = tuple(SimpleNamespace(id=f"{name}-{i}", text=t["content"]) for i, t in enumerate(turns))
    return utterances, data["general_query_list"][0]["answer"]


@lru_cache(maxsize=None)
def topics_of(name):
    """YAKE takes most of a second on a long meeting: extract once per meeting for all tests."""
    return extract_topics(load(name)[0])


@pytest.fixture(scope="module")
def es2004a():
    return load("ES2004a")


# --- topics --------------------------------------------------------------------------------------

def test_topics_of_the_remote_control_meeting(es2004a):
    topics = topics_of("ES2004a")
    phrases = [p.lower() for p, _, _ in topics]
    assert 3 <= len(topics) <= 10
    assert "remote control" in phrases[:3]
    assert "mobile phone" in phrases  # the menu-display idea borrowed from phones


def test_topics_of_a_different_domain():
    phrases = [p.lower() for p, _, _ in topics_of("education_13")]
    assert "public interest" in phrases[:3]
    assert "crown prosecution service" in phrases


@pytest.mark.parametrize("name", ["ES2004a", "education_13"])
def test_every_topic_points_at_utterances_that_contain_it(name):
    utterances, _ = load(name)
    text_by_id = {u.id: clean(u.text).lower() for u in utterances}
    topics = topics_of(name)
    for phrase, score, ids in topics:
        assert ids, phrase
        for message_id in ids:
            assert phrase.lower() in text_by_id[message_id], (phrase, message_id)
        tokens = words(phrase)
        assert any(t not in FILLERS and t not in stopwords() for t in tokens), phrase
        assert 0 < score <= 1
    scores = [s for _, s, _ in topics]
    assert scores == sorted(scores, reverse=True) and scores[0] == 1.0
    events.validate(events.topic_response(events.topic(p, s, ids) for p, s, ids in topics))


def test_topics_respect_max_topics_and_ignore_fillers(es2004a):
    utterances, _ = es2004a
    assert len(extract_topics(utterances, max_topics=3)) == 3
    chatter = [SimpleNamespace(id=str(i), text=t)
               for i, t in enumerate(["Yeah.", "Mm-hmm.", "Okay , right .", "{vocalsound}"])]
    assert extract_topics(chatter) == []
    assert extract_topics([]) == []


# --- summary -------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["ES2004a", "education_13"])
def test_summary_sentences_are_real_in_meeting_order(name):
    utterances, _ = load(name)
    order = {u.id: i for i, u in enumerate(utterances)}
    text_by_id = {u.id: clean(u.text) for u in utterances}
    summary = summarize(utterances)

    assert 2 <= len(summary) <= 8
    positions = []
    for sentence, ids in summary:
        [message_id] = ids
        assert sentence in text_by_id[message_id]
        assert len(words(sentence)) >= 6
        positions.append((order[message_id], text_by_id[message_id].index(sentence)))
    assert positions == sorted(positions)
    assert len({s for s, _ in summary}) == len(summary)


def _density(sentence_list, reference):
    """Share of a text's content words that also occur in the human summary."""
    tokens = [t for s in sentence_list for t in words(s) if t not in stopwords()]
    return sum(t in reference for t in tokens) / max(1, len(tokens))


@pytest.mark.parametrize("name", ["ES2004a", "education_13"])
def test_summary_is_closer_to_the_human_summary_than_random_sentences(name):
    utterances, human = load(name)
    reference = {t for t in words(human) if t not in stopwords()}
    summary = [s for s, _ in summarize(utterances)]
    pool = [s for u in utterances for s in sentences(clean(u.text)) if len(words(s)) >= 6]
    rng = random.Random(2004)
    baseline = sum(_density(rng.sample(pool, len(summary)), reference) for _ in range(50)) / 50
    assert _density(summary, reference) > 1.3 * baseline


def test_summary_size_and_edge_cases(es2004a):
    utterances, _ = es2004a
    assert len(summarize(utterances, max_sentences=3)) == 3
    assert summarize([]) == []
    chatter = [SimpleNamespace(id="a", text="{vocalsound}"), SimpleNamespace(id="b", text="Yeah , okay .")]
    assert summarize(chatter) == []
    # A short exchange with no long sentence still gets a summary rather than none.
    short = [SimpleNamespace(id="a", text="The budget is fine."), SimpleNamespace(id="b", text="Yeah.")]
    assert summarize(short) == [("The budget is fine.", ["a"])]


def test_summary_skips_questions_and_filler(es2004a):
    utterances, _ = es2004a
    for sentence, _ in summarize(utterances):
        assert not sentence.endswith("?")
        assert not re.fullmatch(r"[\W\s]*", sentence)
