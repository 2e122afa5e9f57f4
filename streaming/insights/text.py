"""Text helpers shared by the insight detectors, topics and summary (and the transcript importer).

Transcripts reach us in two styles: punctuated engine output, and corpus text such as AMI/ICSI
(via QMSum) with annotation tokens (``{vocalsound}``, ``{disfmarker}``, ``{gap}``), spelled
letters written ``T_V_`` and a space before every punctuation mark. :func:`clean` turns both
into plain display text.
"""
import re
from functools import lru_cache

_ANNOTATION = re.compile(r"\{[^{}]*\}")
# AMI spells letter sequences as "L_C_D_" and single letters as "T_"; readers expect "LCD", "T".
_SPELLED = re.compile(r"\b((?:[A-Za-z]_)+)")
# Corpus text puts a space before punctuation ("okay ,"), ICSI also before contractions ("we 're").
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([.,?!;:%)]|'(?:s|re|ve|ll|d|m)\b|n't\b)")
_REPEATED_COMMA = re.compile(r",(\s*,)+")
_LEADING_PUNCT = re.compile(r"^[\s,;:.]+")
_SENTENCE_END = re.compile(r"(?<=[.?!])\s+")
_WORD = re.compile(r"[a-z0-9]+(?:['_-][a-z0-9]+)*")

# Backchannels and hesitations: they carry no content, so topics and summaries ignore them.
FILLERS = frozenset(
    "um umm uh uhm uh-huh erm er ah oh hmm hm mm mm-hmm mhm yeah yep yes no nope okay ok kay "
    "alright right like well so sorry huh wow oops whoops sure cool anyway oh-oh".split()
)


def clean(text):
    """Plain text from an engine or corpus utterance: annotation tokens removed, spaces normalised.

    ``"Okay , um {vocalsound} the L_C_D_ {disfmarker} display ."`` → ``"Okay, um the LCD display."``
    """
    text = _ANNOTATION.sub(" ", text or "")
    text = _SPELLED.sub(lambda m: m.group(1).replace("_", ""), text)
    text = " ".join(text.split())
    text = _SPACE_BEFORE_PUNCT.sub(r"\1", text)
    text = _REPEATED_COMMA.sub(",", text)
    return _LEADING_PUNCT.sub("", text).strip()


def sentences(text):
    """The sentences of a (cleaned) utterance, split after ``.``, ``?`` and ``!``; never empty strings."""
    return [s.strip() for s in _SENTENCE_END.split(text) if s.strip(" .,?!")]


def words(text):
    """Lowercase word tokens, keeping contractions and hyphenated words whole ("mm-hmm", "don't")."""
    return _WORD.findall(text.lower().replace("’", "'"))


def is_filler(text, threshold=0.5):
    """True when at least ``threshold`` of the words are fillers (or there are no words at all)."""
    tokens = words(text)
    if not tokens:
        return True
    return sum(t in FILLERS for t in tokens) / len(tokens) >= threshold


@lru_cache(maxsize=1)
def stopwords():
    """English function words (YAKE's list, loaded on first use) plus :data:`FILLERS`."""
    import yake

    return frozenset(yake.KeywordExtractor(lan="en").stopword_set | FILLERS)
