"""The on-device insight pipeline: final utterances in, protocol events out.

An engine hands every final utterance to :meth:`InsightPipeline.add` and emits what comes back;
at the end of the session it emits :meth:`InsightPipeline.finish`. Nothing leaves the machine.
"""
import re
import uuid
from collections import Counter
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Iterable

from streaming import events

from .detect import detect
from .summary import summarize
from .text import clean
from .topics import extract_topics

# Fixed forever: insight ids derive from it, and the persister deduplicates insights by id.
_INSIGHT_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://parley.invalid/insights")


@dataclass(frozen=True)
class Utterance:
    """One final utterance. ``id``: the provider message id; times are ms since stream start."""

    id: str
    speaker: str
    text: str
    start_ms: int
    end_ms: int


def insight_id(message_id, kind, index=0):
    """The stable id of the ``index``-th insight of type ``kind`` found in message ``message_id``."""
    name = f"{message_id}:{kind}" if index == 0 else f"{message_id}:{kind}:{index}"
    return str(uuid.uuid5(_INSIGHT_NAMESPACE, name))


def speaker_key(name):
    """The ``user_ref`` key for a speaker name: "Speaker 1" → "speaker-1"."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "speaker"


class InsightPipeline:
    """Questions, action items, follow-ups, topics and a summary for one session.

    ``reference_time``: when the meeting started (an aware datetime); "tomorrow" and "by Friday"
    resolve against it. ``speakers``: known participant names, so "John, can you …" finds its
    assignee; names seen on utterances are added as they come. ``topic_every``: emit the
    current topics after every that many utterances with text (0: only at :meth:`finish`).
    """

    def __init__(self, *, reference_time: datetime, speakers: Iterable[str] = (), topic_every: int = 5,
                 max_topics: int = 10):
        self.reference_time = reference_time
        self.topic_every = topic_every
        self.max_topics = max_topics
        self._speakers = dict.fromkeys(s for s in speakers if s)
        self._utterances = {}

    def add(self, utterance: Utterance) -> list[dict]:
        """Take one final utterance; return the events to emit now.

        An ``insight_response`` when the utterance holds insights, and a ``topic_response``
        every ``topic_every`` utterances. Adding the same message id again re-detects it under
        the same insight ids, so a redelivered utterance is stored once.
        """
        is_new = utterance.id not in self._utterances
        current = self._remember(utterance)
        if current is None:
            return []
        out = []
        insights = self._insights(current)
        if insights:
            out.append(events.insight_response(insights))
        if is_new and self.topic_every > 0 and len(self._utterances) % self.topic_every == 0:
            out.extend(self._topic_events())
        return out

    def finish(self) -> list[dict]:
        """End of session: the final ``topic_response`` and the ``summary_response``, when there is text."""
        out = self._topic_events()
        sentences = summarize(self._in_order())
        if sentences:
            out.append(events.summary_response(sentences))
        return out

    def restore(self, utterances: Iterable[Utterance]) -> None:
        """Load earlier utterances without emitting anything, so topics and the summary cover them."""
        for utterance in utterances:
            self._remember(utterance)

    def _remember(self, utterance):
        text = clean(utterance.text)
        if not text:
            return None
        if utterance.speaker:
            self._speakers.setdefault(utterance.speaker, None)
        current = replace(utterance, text=text)
        self._utterances[utterance.id] = current
        return current

    def _insights(self, utterance):
        found = detect(utterance.text, utterance.speaker, reference_time=self.reference_time,
                       speakers=list(self._speakers))
        user = events.user_ref(speaker_key(utterance.speaker), utterance.speaker) if utterance.speaker else None
        seen = Counter()
        insights = []
        for detection in found:
            index = seen[detection.kind]
            seen[detection.kind] += 1
            insights.append(events.insight(
                insight_id(utterance.id, detection.kind, index),
                detection.kind,
                detection.text,
                message_ids=[utterance.id],
                user=user,
                assignee=detection.assignee,
                due=detection.due,
            ))
        return insights

    def _topic_events(self):
        topics = extract_topics(self._in_order(), max_topics=self.max_topics)
        if not topics:
            return []
        return [events.topic_response(events.topic(phrase, score, ids) for phrase, score, ids in topics)]

    def _in_order(self):
        # Restored and live utterances may interleave; sorted() is stable for equal start times.
        return sorted(self._utterances.values(), key=lambda u: u.start_ms)


def transcript_insights(utterances, *, reference_time):
    """Parley's insights over a finished transcript (``utterances``: :class:`Utterance` in time
    order, e.g. a vendor's): the ``insight_response``, ``topic_response`` and ``summary_response``
    events to emit, as a live session would have emitted them."""
    utterances = list(utterances)
    pipeline = InsightPipeline(reference_time=reference_time, speakers={u.speaker for u in utterances},
                               topic_every=0)
    out = []
    for utterance in utterances:
        out.extend(pipeline.add(utterance))
    out.extend(pipeline.finish())
    return out
