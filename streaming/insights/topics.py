"""Keyphrase topics of a conversation with YAKE (unsupervised, statistical, runs offline)."""
import inspect
import re
from functools import lru_cache

import yake

from .text import FILLERS, clean, is_filler, stopwords, words

# Spoken English is full of words YAKE ranks highly because they are frequent and spread over
# the whole meeting, yet they name no topic.
_SPOKEN = set(
    "gonna wanna gotta kinda sorta thing things stuff sort kind bit lot lots really actually just mean "
    "guess pretty probably maybe basically obviously good great fine nice lovely make put get got go "
    "going say said think know see look want need yes thank thanks hello hi bye "
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety "
    "hundred thousand million first second third point time main true way fact case moment part sense "
    "idea ideas whole able".split()
)


@lru_cache(maxsize=8)
def _extractor(top):
    # yake 0.4 calls the deduplication threshold ``dedupLim``, yake 0.6+ ``dedup_lim``.
    params = inspect.signature(yake.KeywordExtractor).parameters
    dedup = "dedup_lim" if "dedup_lim" in params else "dedupLim"
    return yake.KeywordExtractor(lan="en", n=3, top=top, stopwords=stopwords() | _SPOKEN, **{dedup: 0.7})


def extract_topics(utterances, max_topics=10):
    """The conversation's top keyphrases, best first.

    ``utterances``: objects with ``id`` and ``text`` (e.g. :class:`~.pipeline.Utterance`).
    Returns ``[(phrase, score, message_ids)]``: ``score`` is 1.0 for the best phrase and falls
    towards 0 for weaker ones; ``message_ids`` are the utterances that contain the phrase
    (case-insensitive, plural included), in the order given.
    """
    texts = [(u.id, clean(u.text)) for u in utterances]
    texts = [(mid, text) for mid, text in texts if text and not is_filler(text)]
    if not texts or max_topics <= 0:
        return []
    # Every utterance ends a sentence, so phrases never run across two speakers.
    document = " ".join(text if text[-1] in ".?!" else text + "." for _, text in texts)
    candidates = _extractor(max_topics * 5).extract_keywords(document)

    topics, seen = [], set()
    for phrase, raw_score in sorted(candidates, key=lambda c: c[1]):
        tokens = words(phrase)
        key = " ".join(t.rstrip("s") for t in tokens)
        if not tokens or key in seen or _mostly_fillers(tokens):
            continue
        pattern = re.compile(r"(?<!\w)" + re.escape(phrase) + r"(?:e?s)?(?!\w)", re.IGNORECASE)
        ids = [mid for mid, text in texts if pattern.search(text)]
        if not ids:
            continue
        seen.add(key)
        topics.append((phrase, float(raw_score), ids))

    topics = _distinct(_prefer_longer(topics))[:max_topics]
    if not topics:
        return []
    # YAKE scores are lower-is-better and unbounded; best/score maps them onto (0, 1].
    best = max(topics[0][1], 1e-9)
    return [(phrase, min(1.0, best / max(score, 1e-9)), ids) for phrase, score, ids in topics]


def _mostly_fillers(tokens):
    content = [t for t in tokens if t not in stopwords()]
    return not content or sum(t in FILLERS for t in tokens) * 2 >= len(tokens)


def _prefer_longer(topics):
    """Drop a single word that only repeats part of a kept phrase ("remote" beside "remote control")."""
    multi = [set(words(p)) for p, _, _ in topics if len(words(p)) > 1]
    kept = []
    for phrase, score, ids in topics:
        tokens = words(phrase)
        if len(tokens) == 1 and any(tokens[0] in m or tokens[0].rstrip("s") in m for m in multi):
            continue
        kept.append((phrase, score, ids))
    return kept


def _distinct(topics):
    """Keep the better of two phrases that share half their content words ("remote control" and
    "top remote control", "allowed to dim" and "dim the lights")."""
    kept, kept_words = [], []
    for phrase, score, ids in topics:
        content = {t.rstrip("s") for t in words(phrase) if t not in stopwords()}
        if any(len(content & other) * 2 >= min(len(content), len(other)) for other in kept_words):
            continue
        kept.append((phrase, score, ids))
        kept_words.append(content)
    return kept
