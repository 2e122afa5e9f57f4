"""Question, action-item and follow-up detection on real meeting speech (QMSum / AMI ES2004a)."""
import json
import re
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from streaming.insights.detect import ACTION_ITEM, FOLLOW_UP, QUESTION, detect, is_question
from streaming.insights.text import clean, sentences

MEETINGS = Path(__file__).resolve().parent.parent / "data" / "meetings"
WEDNESDAY = datetime(2024, 3, 6, 9, 30, tzinfo=timezone.utc)


def load_turns(name):
    """``[(speaker, cleaned text)]`` of a QMSum meeting, kept in turn order (indices match the file)."""
    data = json.loads((MEETINGS / f"{name}.json").read_text())
    return [(t["speaker"], clean(t["content"])) for t in data["meeting_transcripts"]]


@pytest.fixture(scope="module")
def es2004a():
    return load_turns("ES2004a")


def found(text, speaker="Ann", speakers=(), reference_time=WEDNESDAY):
    return detect(text, speaker, reference_time=reference_time, speakers=speakers)


def kinds_by_sentence(turns, index):
    speaker, text = turns[index]
    return {d.text: d.kind for d in found(text, speaker)}


# --- cleaning ---------------------------------------------------------------------------------

def test_clean_strips_corpus_annotation():
    raw = "{vocalsound} Are we {disfmarker} we're not allowed to dim the lights so people can see that a bit better ?"
    assert clean(raw) == "Are we we're not allowed to dim the lights so people can see that a bit better?"
    raw = "we had three videos , a T_V_ and a sort of amp {gap} ."
    assert clean(raw) == "we had three videos, a TV and a sort of amp."
    assert clean("so let 's make a new node , we 're done") == "so let's make a new node, we're done"
    assert clean("{vocalsound}") == ""


def test_clean_leaves_no_annotation_in_the_real_meeting(es2004a):
    for _, text in es2004a:
        assert "{" not in text and "}" not in text
        assert not re.search(r"\s[.,?!]", text), text
        assert "_" not in text, text


# --- questions --------------------------------------------------------------------------------

@pytest.mark.parametrize("index, question", [
    (25, "Now, who would like to go next?"),
    (145, "Should we be making notes of this?"),
    (184, "What are your experiences with remote controls?"),
    (233, "What about the older generation?"),
    (237, "Can he programme his remote control or is it basic with that too?"),
    (317, "Do we go back to our room?"),
])
def test_real_questions_are_found(es2004a, index, question):
    assert kinds_by_sentence(es2004a, index).get(question) == QUESTION


@pytest.mark.parametrize("index, excerpt", [
    (216, "When they're when you've got the main things"),  # a "when" clause, not a question
    (235, "Um, my grandad can answer his mobile phone"),
    (282, "And there's no reason we need to make it look"),  # ends in the tag "you know?"
    (14, "Um I'm Sarah, the Project Manager"),  # "what needs need to be fulfilled" mid-sentence
])
def test_real_statements_are_not_questions(es2004a, index, excerpt):
    speaker, text = es2004a[index]
    assert excerpt in text
    for sentence in sentences(text):
        assert not is_question(sentence), sentence


@pytest.mark.parametrize("index", [38, 168, 274, 313])  # "Sorry?", "which is uh", "Yeah?", "Okay?"
def test_fillers_and_fragments_are_not_questions(es2004a, index):
    assert QUESTION not in kinds_by_sentence(es2004a, index).values()


@pytest.mark.parametrize("asr_text", [
    "okay what are your experiences with remote controls",
    "now who would like to go next",
    "is that your lapel then",
    "does it look like a dog actually",
])
def test_unpunctuated_lowercase_questions(asr_text):
    assert [d.kind for d in found(asr_text)] == [QUESTION]


@pytest.mark.parametrize("text", ["right?", "Yeah?", "You know?", "Okay, right?", "Sorry?",
                                  "The budget was approved last year.", "what I mean is the price is fine"])
def test_non_questions(text):
    assert found(text) == []


# --- action items and follow-ups in the real meeting -------------------------------------------

def test_real_action_items(es2004a):
    assert kinds_by_sentence(es2004a, 313)["Okay, so let's break it up there."] == ACTION_ITEM
    assert kinds_by_sentence(es2004a, 49)["Please, please leave me a space at the bottom, I'm little,"] == ACTION_ITEM

    speaker, text = es2004a[16]  # "... I'll go first, and um sum up the characteristics of that animal."
    [item] = found(text, speaker)
    assert (item.kind, item.assignee) == (ACTION_ITEM, "Project Manager")


def test_real_follow_up(es2004a):
    speaker, text = es2004a[290]
    [item] = found(text, speaker)
    assert item.kind == FOLLOW_UP
    assert "we'll come back and liaise again" in item.text


@pytest.mark.parametrize("index", [180, 282])  # "I don't think we have to …", "no reason we need to …"
def test_negated_obligations_are_not_action_items(es2004a, index):
    assert ACTION_ITEM not in kinds_by_sentence(es2004a, index).values()


# --- assignees and due dates ---------------------------------------------------------------------

def test_speaker_commitment_with_relative_date():
    [item] = found("I'll send the minutes tomorrow", speaker="Ann")
    assert item.kind == ACTION_ITEM
    assert item.text == "I'll send the minutes tomorrow"
    assert item.assignee == "Ann"
    assert item.due == WEDNESDAY.date() + timedelta(days=1)


def test_addressed_request_is_an_action_for_that_person_not_a_question():
    [item] = found("John, can you book the room by Friday?", speaker="Ann", speakers=["Ann", "John"])
    assert item.kind == ACTION_ITEM
    assert item.assignee == "John"
    assert item.due == date(2024, 3, 8)  # the Friday after Wednesday 6 March


def test_first_name_of_a_known_speaker_gives_the_full_name():
    [item] = found("John, please send the report", speakers=["John Smith"])
    assert item.assignee == "John Smith"


def test_lowercase_known_speaker_before_a_modal():
    [item] = found("john can you send the slides to everyone", speakers=["John"])
    assert (item.kind, item.assignee) == (ACTION_ITEM, "John")


def test_capitalised_name_before_will_with_ordinal_day():
    [item] = found("Sarah will draft the proposal by the 15th", speaker="Ann")
    assert (item.kind, item.assignee, item.due) == (ACTION_ITEM, "Sarah", date(2024, 3, 15))


def test_addressed_imperative_and_trailing_name():
    [item] = found("John, book the room for Monday", speakers=["Ann"])
    assert (item.kind, item.assignee, item.due) == (ACTION_ITEM, "John", date(2024, 3, 11))
    [item] = found("Could you send it by Friday, Jane?", speakers=["Ann"])
    assert (item.kind, item.assignee) == (ACTION_ITEM, "Jane")


def test_a_name_alone_does_not_take_over_the_speakers_commitment():
    [item] = found("I'll send it to you, Jane.", speaker="Ann")
    assert item.assignee == "Ann"
    [item] = found("Sarah, are you coming to the review?", speakers=["Sarah"])
    assert item.kind == QUESTION


def test_generic_speaker_label_is_still_the_assignee():
    [item] = found("I will share the slides on Monday", speaker="Speaker 1")
    assert (item.assignee, item.due) == ("Speaker 1", date(2024, 3, 11))


def test_we_and_unaddressed_requests_have_no_assignee():
    [item] = found("can you please send me the deck by end of the week")
    assert (item.kind, item.assignee, item.due) == (ACTION_ITEM, None, date(2024, 3, 8))
    [item] = found("We need to finish the report by March 12", speaker="Ann")
    assert (item.kind, item.assignee, item.due) == (ACTION_ITEM, None, date(2024, 3, 12))


def test_follow_up_is_not_also_an_action_item():
    [item] = found("let's schedule a call next week to go over the budget")
    assert item.kind == FOLLOW_UP
    assert item.assignee is None
    assert date(2024, 3, 11) <= item.due <= date(2024, 3, 17)  # within the next calendar week


def test_follow_up_by_the_speaker():
    [item] = found("I'll get back to you on Monday about the quote", speaker="Ann")
    assert (item.kind, item.assignee, item.due) == (FOLLOW_UP, "Ann", date(2024, 3, 11))


@pytest.mark.parametrize("text", [
    "we need to march on now",  # "march" and "now" are not dates
    "We need to decide in May which supplier to use",  # a bare month name is too ambiguous
    "we need to get a second opinion",
])
def test_ordinary_words_are_not_due_dates(text):
    [item] = found(text)
    assert item.kind == ACTION_ITEM
    assert item.due is None
