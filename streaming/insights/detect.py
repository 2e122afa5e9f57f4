"""Per-sentence detection of questions, action items and follow-ups in meeting speech.

Input is one final utterance, punctuated or not (engine output is often lowercase with no
punctuation at all), so every rule works on word patterns rather than on punctuation alone.
Each sentence yields at most one insight, in this order of precedence: a follow-up, a request
("John, can you …", "please …"), a question, then any other action item. Rules are tuned for
precision: a missed insight costs less than a feed full of "I'll have a go".
"""
import calendar
import re
from dataclasses import dataclass
from datetime import date, timedelta

from .text import FILLERS, clean, is_filler, sentences, words

QUESTION, ACTION_ITEM, FOLLOW_UP = "question", "action_item", "follow_up"

_LEAD = r"^(?:(?:so|and|but|okay|ok|um|uh|well|now|then|oh|right|also|sorry|yeah|alright)\b[\s,]*)*"
_PRONOUN = r"(?:i|you|we|they|he|she|it|that|this|there)"
_AUX_WORDS = set(
    "can could would will should shall do does did is are was were have has had am may might must isn't aren't "
    "wasn't weren't don't doesn't didn't won't can't couldn't wouldn't shouldn't haven't hasn't".split()
)
_AUX = "(?:" + "|".join(sorted(_AUX_WORDS, key=len, reverse=True)) + ")"
_SUBJECT = (
    r"(?:i|you|we|they|he|she|it|there|that|this|these|those|anyone|anybody|everyone|everybody|"
    r"someone|somebody|any|all|your|our|my|his|her|their)"
)
_INVERTED = re.compile(_LEAD + _AUX + r"\s+" + _SUBJECT + r"\b")
# "Is the room free", "Does the remote need a screen" — but not the imperative "do the slides".
_INVERTED_THE = re.compile(_LEAD + r"(?:is|are|was|were|does|did|can|could|will|would|should|has|have)\s+the\b")
_WH = re.compile(_LEAD + r"(what|how|why|when|where|who|whom|whose|which)(?:'s|'re)?\b(?:\s+(\S+))?")
# After a wh-word a subject pronoun means a relative clause: "when you've got the main things …".
_RELATIVE = re.compile(_PRONOUN + r"(?:'s|'re|'ve|'ll|'d|'m)?$")
_WHICH_FOLLOWERS = {"one", "ones", "of", "way", "do", "does", "did", "would", "should", "could", "can", "will"}
_TAG = re.compile(r",\s*(?:right|yeah|okay|ok|you know|isn't it|no|eh|huh)\s*\?$")

_FOLLOW_UP = re.compile(
    r"\bfollow(?:s|ing)?[- ]?up\b|\bget(?:ting)? back to (?:you|him|her|them|us|me|everyone)\b"
    r"|\bcircle back\b|\btouch base\b|\breach(?:ing)? out\b|\bcatch(?:ing)? up\b|\blet(?:'s| us) meet\b"
    r"|\b(?:schedule|set up|setup|book|arrange|organi[sz]e)\s+(?:a|an|another|the|our|some)?\s*(?:\S+\s+)?"
    r"(?:call|meeting|sync|demo|chat|session|catch-up)s?\b"
    r"|\bsend (?:you|them|him|her|me|us|everyone|everybody) (?:an? |the )?(?:e-?mail|invite|note)\b"
    r"|\b(?:talk|speak|meet|liaise|reconvene) (?:again|soon|later|next|tomorrow|on \w+day)\b"
)
_COMMIT_I = re.compile(r"\b(?:i'll|i will|i'm going to|i am going to|i'm gonna|i shall|let me)\s+(?:just\s+)?(\S+)")
_COMMIT_WE = re.compile(
    r"\b(?:we need to|we have to|we've got to|we must|we should|we'll|we will|we're going to|we're gonna"
    r"|let's|let us)\s+(?:just\s+)?(\S+)"
)
_IMPERATIVE = re.compile(
    r"\bmake sure\b|\bdon't forget\b|\bdo not forget\b|\bremember to\b|\bthe next steps? (?:is|are|will be)\b"
    r"|\baction items?\b|\bplease,?\s+(?!thanks?\b)[a-z]"
)
_YOU_REQUEST = re.compile(r"\b(?:can|could|would|will) you (?:please )?\S+")
# Verbs that follow "I'll"/"we'll" in talk about talk, not in commitments: "I'll tell you", "we'll see".
_NONCOMMITTAL = {"think", "say", "tell", "guess", "assume", "admit", "bet", "see", "not", "never"}
_NEGATED = re.compile(r"\b(?:no|not|never|if|whether|unless|\w+n't)\b[^,;]{0,20}$")
_MODAL_AFTER_NAME = r"(?:\s+(?:will|should|needs to|need to|has to|must|is going to|is gonna|can|could)|'ll)\b"
_FILLER_WORDS = "|".join(re.escape(f) for f in sorted(FILLERS, key=len, reverse=True))
_DETERMINERS = {"the", "a", "an", "our", "your", "my", "this", "that", "their", "his", "her", "its"}

_WEEKDAYS = [d.lower() for d in calendar.day_name]
_MONTHS = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?"
    r"|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)
_NOT_NAMES = (
    FILLERS
    | set(_WEEKDAYS)
    | {m.lower() for m in calendar.month_name if m}
    | set(
        "i you we they he she it this that these those there here which who what when where why how "
        "everyone everybody someone somebody nobody anyone anybody one all both each and but or then also "
        "maybe please thanks thank hi hello hey now today tomorrow tonight god jesus guys team let if "
        "just actually the a an our your my their his her its".split()
    )
)

# dateparser reads plenty of ordinary words as dates ("we", "may", "now", "second"): a match
# only counts when its text has one of these unmistakable date shapes.
_DATE_SHAPES = re.compile(
    r"\b(?:today|tomorrow|tonight|next (?:week|month|year)|" + "|".join(_WEEKDAYS) + r")\b"
    r"|\b" + _MONTHS + r"\.?\s+(?:the\s+)?\d|\d(?:st|nd|rd|th)?\s+(?:of\s+)?" + _MONTHS + r"\b"
    r"|\d{1,4}[-/.]\d{1,2}|\d\s*(?:am|pm|a\.m\.|p\.m\.)|\d{1,2}:\d{2}"
    r"|\bin (?:\d+|a|an|one|two|three|four|five|six|seven|eight|nine|ten|a couple of) (?:days?|weeks?|months?)\b"
)
_END_OF = re.compile(r"\b(?:end of (?:the )?(day|week|month)|(eod|eow|tonight|today))\b")
_ORDINAL_DAY = re.compile(r"\bthe (\d{1,2})(?:st|nd|rd|th)\b(?!\s+(?:of\s+)?" + _MONTHS + r")")
_MONTH_BEFORE = re.compile(_MONTHS + r"\.?\s+$")


@dataclass(frozen=True)
class Detection:
    """One insight found in a sentence. ``due`` is a calendar date, ``assignee`` a display name."""

    kind: str
    text: str
    assignee: str | None = None
    due: date | None = None


def detect(text, speaker, *, reference_time, speakers=()):
    """Insights in one utterance, in sentence order.

    ``text``: the utterance (cleaned here, so corpus text is fine); ``speaker``: its speaker's
    display name; ``reference_time``: the meeting start, against which "tomorrow" or "by Friday"
    resolve; ``speakers``: known participant names, for "John, can you …".
    """
    found = []
    for sentence in sentences(clean(text)):
        kind = classify(sentence, speakers)
        if kind == QUESTION:
            found.append(Detection(QUESTION, sentence))
        elif kind:
            found.append(Detection(
                kind,
                sentence,
                assignee=find_assignee(sentence, speaker, speakers),
                due=find_due(sentence, reference_time),
            ))
    return found


def classify(sentence, speakers=()):
    """``"follow_up"``, ``"action_item"``, ``"question"`` or None for one sentence."""
    lowered = _normalise(sentence)
    if len(words(lowered)) < 3 or is_filler(lowered, 0.75):
        return None
    if _FOLLOW_UP.search(lowered):
        return FOLLOW_UP
    if _is_request(sentence, lowered, speakers):
        return ACTION_ITEM
    if is_question(sentence):
        return QUESTION
    if _is_commitment(lowered) or _named_person(sentence, speakers, shapes=("modal",)):
        return ACTION_ITEM
    return None


def is_question(sentence):
    """True for a question of at least three words that is not a filler tag ("right?", "you know?")."""
    lowered = _normalise(sentence)
    if lowered.endswith("?"):
        lowered = _TAG.sub("", lowered)
    tokens = words(lowered)
    if len(tokens) < 3 or is_filler(lowered, 0.75):
        return False
    if lowered.endswith("?"):
        return True
    if _INVERTED.match(lowered) or _INVERTED_THE.match(lowered):
        return True
    wh = _WH.match(lowered)
    if not wh:
        return False
    follower = (wh.group(2) or "").strip(",.")
    if wh.group(1) == "which":
        return follower in _WHICH_FOLLOWERS
    return not _RELATIVE.match(follower)


def find_assignee(sentence, speaker, speakers=()):
    """Who an action belongs to: a person addressed or named, else the speaker when they commit.

    "John, can you book the room" → John; "Sarah will send it" → Sarah; "I'll send it" → the
    speaker; "we/let's …" and unaddressed requests → None.
    """
    named = _named_person(sentence, speakers)
    if named:
        return named
    if _COMMIT_I.search(_normalise(sentence)):
        return speaker or None
    return None


def find_due(sentence, reference_time):
    """The date a sentence sets for its action ("tomorrow", "by Friday", "March 12"), or None."""
    base = reference_time.replace(tzinfo=None)
    lowered = _normalise(sentence)
    end = _END_OF.search(lowered)
    if end:
        return _end_of(end.group(1) or end.group(2), base.date())
    ordinal = _ORDINAL_DAY.search(lowered)
    if ordinal and not _MONTH_BEFORE.search(lowered[: ordinal.start()]):
        return _next_day_of_month(int(ordinal.group(1)), base.date())
    if not _DATE_SHAPES.search(lowered):
        return None
    from dateparser.search import search_dates  # slow import; only action sentences need it

    settings = {"PREFER_DATES_FROM": "future", "RELATIVE_BASE": base, "RETURN_AS_TIMEZONE_AWARE": False}
    for matched, when in search_dates(sentence, languages=["en"], settings=settings) or []:
        if _DATE_SHAPES.search(matched.lower()):
            return when.date()
    return None


def _normalise(sentence):
    return " ".join(sentence.lower().replace("’", "'").split())


def _is_request(sentence, lowered, speakers):
    imperative = _IMPERATIVE.search(lowered)
    if imperative:
        return not _negated(lowered, imperative.start())
    # "Can you see that?" is a question; "John, can you …" and "John, book …" ask for work.
    return bool(_named_person(sentence, speakers, shapes=("addressed", "trailing")))


def _is_commitment(lowered):
    for pattern in (_COMMIT_I, _COMMIT_WE):
        for match in pattern.finditer(lowered):
            verb = match.group(1).strip(",.?!")
            if verb not in _NONCOMMITTAL and not _negated(lowered, match.start()):
                return True
    return False


def _negated(lowered, position):
    return bool(_NEGATED.search(lowered[:position]))


def _named_person(sentence, speakers, shapes=("addressed", "modal", "trailing")):
    """A person the sentence addresses ("John, can you …", "… by Friday, John?") or names before
    a modal ("Sarah will …"); known speakers first, then any capitalised first name."""
    text = sentence.replace("’", "'")
    asks = bool(_YOU_REQUEST.search(text.lower())) or "please" in text.lower()
    for pattern, flags, display in _name_patterns(speakers):
        rules = {
            "addressed": r"^(?i:\W*(?:" + _FILLER_WORDS + r")\b[\s,]*)*(" + pattern + r")\s*,",
            "modal": r"(?:^|(?<=[\s,]))(" + pattern + r")" + _MODAL_AFTER_NAME,
            "trailing": r",\s*(" + pattern + r")\s*[?.!]?$",
        }
        for shape in shapes:
            rule = rules[shape]
            for match in re.finditer(rule, text, flags):
                word = match.group(1)
                before = words(text[: match.start(1)])
                if word.lower() in _NOT_NAMES or (before and before[-1] in _DETERMINERS):
                    continue
                # A name only makes someone the assignee when the sentence asks them for something.
                if shape == "addressed" and not (asks or _starts_imperative(text[match.end():])):
                    continue
                if shape == "trailing" and not asks:
                    continue
                return display or word
    return None


def _name_patterns(speakers):
    """``(regex, flags, display name)`` for each known speaker, then for any capitalised word."""
    for name in speakers:
        name = " ".join(str(name).split())
        if not name:
            continue
        yield re.escape(name), re.IGNORECASE, name
        first = name.split()[0]
        if first != name and first.lower() not in _NOT_NAMES:
            # Case-sensitive: a lowercase "project will" is a noun, not "Project Manager".
            yield re.escape(first), 0, name
    yield r"[A-Z][a-z]+", 0, None


def _starts_imperative(rest):
    # "John, book the room" — an addressed name followed by a bare verb, not "John, I think …".
    tokens = words(rest)
    return bool(tokens) and tokens[0] not in _NOT_NAMES | _AUX_WORDS and not tokens[0].endswith("ing")


def _end_of(unit, today):
    if unit in ("day", "eod", "tonight", "today"):
        return today
    if unit in ("week", "eow"):
        return today + timedelta(days=(4 - today.weekday()) % 7)
    return today.replace(day=calendar.monthrange(today.year, today.month)[1])


def _next_day_of_month(day, today):
    year, month = today.year, today.month
    for _ in range(13):
        if day <= calendar.monthrange(year, month)[1] and date(year, month, day) >= today:
            return date(year, month, day)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return None
