"""What the review page shows beyond the rows themselves: speaker turns, talk time, and edits.

Edits (a speaker's name, an action item) save through the ORM, so the search index follows
(:mod:`meetings.search`).
"""
from dataclasses import dataclass, field


@dataclass(slots=True)
class Line:
    """A final utterance as the review page and the exports need it (lighter than a model row)."""

    pk: int
    speaker: object
    start_ms: int
    end_ms: int
    text: str


@dataclass
class Turn:
    """Consecutive final utterances of one speaker; ``start_ms`` is the first one's start."""

    speaker: object
    start_ms: int
    utterances: list = field(default_factory=list)


def lines(meeting):
    """The meeting's final utterances in time order, as :class:`Line` (speaker: a Speaker or None)."""
    speakers = {s.pk: s for s in meeting.speakers.all()}
    rows = meeting.utterances.values_list("pk", "speaker_id", "start_ms", "end_ms", "text")
    return [Line(pk, speakers.get(speaker_id), start, end, text) for pk, speaker_id, start, end, text in rows]


def turns(meeting, line_list=None):
    """The meeting's final utterances grouped into speaker turns, in time order."""
    out = []
    for line in lines(meeting) if line_list is None else line_list:
        if out and out[-1].speaker == line.speaker:
            out[-1].utterances.append(line)
        else:
            out.append(Turn(line.speaker, line.start_ms, [line]))
    return out


def with_moments(items, through, owner_field, line_list):
    """Set ``moment`` on each insight or topic: its earliest linked :class:`Line`, or None."""
    by_pk = {line.pk: line for line in line_list}
    items = list(items)
    first = {}
    links = through.objects.filter(**{f"{owner_field}__in": [i.pk for i in items]}).values_list(
        f"{owner_field}_id", "utterance_id")
    for owner, utterance in links:
        line = by_pk.get(utterance)
        if line and (owner not in first or (line.start_ms, line.pk) < (first[owner].start_ms, first[owner].pk)):
            first[owner] = line
    for item in items:
        item.moment = first.get(item.pk)
    return items


@dataclass
class TalkTime:
    name: str
    ms: int
    share: float  # 0 to 1 of all speech


def talk_time(turn_list):
    """Speech time per speaker (sum of utterance durations, ms), most first."""
    totals = {}
    for turn in turn_list:
        name = turn.speaker.name if turn.speaker else "Unknown speaker"
        totals[name] = totals.get(name, 0) + sum(max(0, u.end_ms - u.start_ms) for u in turn.utterances)
    whole = sum(totals.values()) or 1
    return [TalkTime(name, ms, ms / whole) for name, ms in sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))]


def chart(rows, *, width=320, bar=18, gap=6, label=130):
    """Geometry of the talk-time bar chart (an SVG drawn by the template), one bar per speaker."""
    span = width - label - 50
    longest = max((r.ms for r in rows), default=0) or 1
    return {
        "width": width,
        "height": len(rows) * (bar + gap) + gap,
        "bars": [
            {"row": r, "y": gap + n * (bar + gap), "text_y": gap + n * (bar + gap) + bar * 0.7,
             "w": max(1, round(span * r.ms / longest)), "x": label, "value_x": label + round(span * r.ms / longest) + 4}
            for n, r in enumerate(rows)
        ],
        "bar": bar,
    }


def rename_speaker(speaker, name):
    """Rename ``speaker``; every utterance refers to the row, so the whole meeting follows."""
    speaker.name = name.strip()[:200]
    speaker.save(update_fields=["name"])
    return speaker


def edit_insight(insight, *, text, assignee, due, done):
    insight.text, insight.assignee, insight.due, insight.done = text.strip(), assignee.strip()[:200], due, done
    insight.save(update_fields=["text", "assignee", "due", "done"])
    return insight


def transcript_html(turn_list):
    """The transcript's markup, built here rather than in the template: a 2-hour meeting has ~2,000
    utterances, and the template engine's per-variable cost would dominate the page's server time.

    Each utterance is ``<p id="u<id>" data-start-ms data-end-ms>`` with a timestamp link
    ``?t=<ms>#u<id>`` (what search results and insight links point at).
    """
    from django.utils.html import escape
    from django.utils.safestring import mark_safe

    from .templatetags.parley import clock

    parts = []
    for turn in turn_list:
        name = escape(turn.speaker.name) if turn.speaker else "Unknown speaker"
        parts.append(f'<div class="turn"><div class="who">{name} <time>{clock(turn.start_ms)}</time></div>')
        for u in turn.utterances:
            parts.append(f'<p id="u{u.pk}" data-start-ms="{u.start_ms}" data-end-ms="{u.end_ms}">'
                         f'<a class="ts" href="?t={u.start_ms}#u{u.pk}">{clock(u.start_ms)}</a> {escape(u.text)}</p>')
        parts.append("</div>")
    return mark_safe("\n".join(parts))


def insights_html(meeting, insights, *, can_write):
    """The questions, action items and follow-ups cards, built here for the reason
    :func:`transcript_html` is: a long meeting has hundreds of them. ``insights`` carry ``moment``
    (:func:`with_moments`); action items link to their edit page when ``can_write``."""
    from django.urls import reverse
    from django.utils.html import escape
    from django.utils.safestring import mark_safe

    from .models import Insight
    from .templatetags.parley import clock

    groups = {}
    for insight in insights:
        groups.setdefault(insight.type, []).append(insight)
    if not groups:
        return mark_safe('<section class="card"><h2>Insights</h2>'
                         '<p class="empty">No questions, action items or follow-ups.</p></section>')
    parts = []
    for kind, label in Insight.Type.choices:
        if kind not in groups:
            continue
        parts.append(f'<section class="card"><h2>{escape(label)}s</h2><ul class="insights">')
        for i in groups[kind]:
            item = [f'<li id="insight-{i.pk}" class="{"done" if i.done else ""}">']
            if kind == Insight.Type.ACTION_ITEM:
                item.append(f'<span class="state">{"☑" if i.done else "☐"}</span> ')
            item.append(escape(i.text))
            if i.assignee:
                item.append(f" <em>→ {escape(i.assignee)}</em>")
            if i.due:
                item.append(f" <em>by {i.due:%Y-%m-%d}</em>")
            if i.moment:
                m = i.moment
                item.append(f' <a href="?t={m.start_ms}#u{m.pk}" data-seek="{m.start_ms}" '
                            f'title="Go to the moment">↪ {clock(m.start_ms)}</a>')
            if kind == Insight.Type.ACTION_ITEM and can_write:
                url = reverse("meetings:edit_insight", args=[meeting.pk, i.pk])
                item.append(f' <a class="edit" href="{url}">Edit</a>')
            item.append("</li>")
            parts.append("".join(item))
        parts.append("</ul></section>")
    return mark_safe("\n".join(parts))
