"""Extractive summary: the sentences closest to what the whole conversation is about.

Each sentence is a TF-IDF vector; the conversation's centroid is their mean. Sentences most
similar to the centroid carry its main subject matter. A sentence too similar to one already
chosen is passed over, so the summary does not say the same thing twice.
"""
import math
from collections import Counter

from .text import clean, is_filler, sentences, stopwords, words

MIN_WORDS = 6
_REDUNDANT = 0.5


def summarize(utterances, max_sentences=None):
    """Pick the summary sentences of a conversation.

    ``utterances``: objects with ``id`` and ``text``, in meeting order. ``max_sentences``:
    how many to pick; by default a tenth of all sentences, at least 2 and at most 8.
    Returns ``[(sentence, [message_id])]`` in meeting order; ``[]`` when there is no text.
    """
    units = [(s, u.id) for u in utterances for s in sentences(clean(u.text))]
    if not units:
        return []
    k = max_sentences if max_sentences is not None else min(8, max(2, round(len(units) / 10)))
    candidates = [i for i, (s, _) in enumerate(units) if _informative(s)]
    # A short exchange may have no sentence long enough; any non-filler line beats no summary.
    candidates = candidates or [i for i, (s, _) in enumerate(units) if not is_filler(s)]
    if not candidates or k <= 0:
        return []

    vectors = _tfidf([_terms(units[i][0]) for i in candidates])
    centroid = _unit(sum((Counter(v) for v in vectors), Counter()))
    ranked = sorted(range(len(candidates)), key=lambda j: -_dot(vectors[j], centroid))

    chosen = []
    for j in ranked:
        if len(chosen) == k:
            break
        if all(_dot(vectors[j], vectors[c]) < _REDUNDANT for c in chosen):
            chosen.append(j)
    return [(units[candidates[j]][0], [units[candidates[j]][1]]) for j in sorted(chosen)]


def _informative(sentence):
    # Questions ask rather than tell; a summary reports what was said.
    return len(words(sentence)) >= MIN_WORDS and not is_filler(sentence, 0.4) and not sentence.endswith("?")


def _terms(sentence):
    stop = stopwords()
    return [t for t in words(sentence) if t not in stop and len(t) > 1 and not t.isdigit()]


def _tfidf(documents):
    """Unit-length TF-IDF vectors (``{term: weight}``) of tokenised documents."""
    df = Counter(term for doc in documents for term in set(doc))
    n = len(documents)
    vectors = []
    for doc in documents:
        vectors.append(_unit({t: c * (math.log((1 + n) / (1 + df[t])) + 1) for t, c in Counter(doc).items()}))
    return vectors


def _unit(vector):
    norm = math.sqrt(sum(w * w for w in vector.values())) or 1.0
    return {t: w / norm for t, w in vector.items()}


def _dot(a, b):
    """Cosine similarity of two unit vectors."""
    if len(a) > len(b):
        a, b = b, a
    return sum(w * b.get(t, 0.0) for t, w in a.items())
