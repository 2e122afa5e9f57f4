"""Full-text search over the meetings a user may see: one interface, two engines.

What is searched: final utterances, insights, topics, meeting titles and participant names, one
:class:`~meetings.models.SearchEntry` row each, kept current by the ``post_save`` handlers below
and ``m2m_changed`` (every write path saves through the ORM: the persister's projections,
imports, renames, action-item edits, Symbl reconciliation) and removed with their source row by
``ON DELETE CASCADE``. Only final utterances are indexed.

The query language is web-search syntax, parsed here once for both engines (:func:`parse`):
words are ANDed, ``OR`` between two terms, ``"quoted phrases"``, ``-word`` / ``-"phrase"``
excludes. English stemming and stop words on both.

- PostgreSQL: ``websearch_to_tsquery('english', …)`` against the stored, trigger-maintained
  ``vector`` column (GIN index), ranked by ``ts_rank`` (SearchRank, over at most
  :data:`RANK_CANDIDATES` matches), snippets by ``ts_headline`` (SearchHeadline). See
  https://www.postgresql.org/docs/current/textsearch-controls.html
- SQLite: an FTS5 ``MATCH`` expression built from the same parse, ranked by ``bm25()`` (FTS5's
  ``rank`` column), snippets by ``snippet()``. See https://www.sqlite.org/fts5.html

Bad queries raise :class:`QueryError` with a message meant for the person who typed them.
"""
import re
from dataclasses import dataclass, field

from django import forms
from django.contrib.postgres.search import SearchHeadline, SearchQuery, SearchRank
from django.db import connection
from django.db.models import F, Q
from django.db.models.expressions import RawSQL
from django.db.models.signals import m2m_changed, post_save
from django.urls import reverse
from django.utils.html import escape
from django.utils.safestring import mark_safe

from .access import visible_meetings
from .models import Insight, Meeting, SearchEntry, Speaker, Topic, Utterance

# PostgreSQL's 'english' configuration drops these (the Snowball English stop list); the SQLite
# side drops them too, so both engines answer a query alike.
STOP_WORDS = frozenset("""
i me my myself we our ours ourselves you your yours yourself yourselves he him his himself she her hers
herself it its itself they them their theirs themselves what which who whom this that these those am is
are was were be been being have has had having do does did doing a an the and but if or because as until
while of at by for with about against between into through during before after above below to from up
down in out on off over under again further then once here there when where why how all any both each
few more most other some such no nor not only own same so than too very s t can will just don should now
""".split())

# Highlight markers: never in transcript text, replaced by <mark> after HTML-escaping the snippet.
_START, _STOP = "\u27e6", "\u27e7"
# Each engine ranks at most this many matches of a query (see _postgres and _sqlite).
RANK_CANDIDATES = 2000
_TOKEN = re.compile(r'-?"[^"]*"|[^\s"]+')
_WORD = re.compile(r"\w+")


class QueryError(ValueError):
    """A query that cannot be searched; ``str()`` is a helpful message for the user."""


# --- keeping the index current -------------------------------------------------------------

def _entry(kind, instance, text, meeting_id, created, **extra):
    """Create or refresh the entry of ``instance`` (its one-to-one field is named ``kind``)."""
    fields = {"text": text, **extra}
    if created:
        SearchEntry.objects.create(**{kind: instance}, meeting_id=meeting_id, kind=kind, **fields)
    elif not SearchEntry.objects.filter(**{kind: instance}).update(**fields):
        SearchEntry.objects.get_or_create(**{kind: instance}, defaults={"meeting_id": meeting_id, "kind": kind,
                                                                       **fields})


def _on_utterance(sender, instance, created, raw=False, **kwargs):
    if raw:
        return
    if instance.is_final:
        _entry("utterance", instance, instance.text, instance.meeting_id, created, said_by_id=instance.speaker_id)
    elif not created:
        SearchEntry.objects.filter(utterance=instance).delete()


def _first_speaker(insight_id):
    return (Utterance.objects.filter(insights=insight_id).order_by("start_ms", "pk")
            .values_list("speaker_id", flat=True).first())


def _on_insight(sender, instance, created, raw=False, **kwargs):
    if not raw:
        said_by = None if created else _first_speaker(instance.pk)
        _entry("insight", instance, instance.text, instance.meeting_id, created, said_by_id=said_by)


def _on_insight_links(sender, instance, action, pk_set, **kwargs):
    """An insight's utterances changed: who said it may have too."""
    if action not in ("post_add", "post_remove", "post_clear"):
        return
    insight_ids = list(pk_set or ()) if kwargs["reverse"] else [instance.pk]
    for insight_id in insight_ids:
        SearchEntry.objects.filter(insight_id=insight_id).update(said_by_id=_first_speaker(insight_id))


def _on_topic(sender, instance, created, raw=False, **kwargs):
    if not raw:
        _entry("topic", instance, instance.phrase, instance.meeting_id, created)


def _on_speaker(sender, instance, created, raw=False, **kwargs):
    if not raw:
        _entry("speaker", instance, instance.name, instance.meeting_id, created, said_by_id=instance.pk)


def _on_meeting(sender, instance, created, raw=False, **kwargs):
    if raw:
        return
    if created or not SearchEntry.objects.filter(meeting=instance, kind="title").update(text=instance.title):
        SearchEntry.objects.get_or_create(meeting=instance, kind="title", defaults={"text": instance.title})


def connect():
    """Hook the index to every model save (called once from ``MeetingsConfig.ready``)."""
    post_save.connect(_on_utterance, sender=Utterance, dispatch_uid="search-utterance")
    post_save.connect(_on_insight, sender=Insight, dispatch_uid="search-insight")
    m2m_changed.connect(_on_insight_links, sender=Insight.utterances.through, dispatch_uid="search-insight-links")
    post_save.connect(_on_topic, sender=Topic, dispatch_uid="search-topic")
    post_save.connect(_on_speaker, sender=Speaker, dispatch_uid="search-speaker")
    post_save.connect(_on_meeting, sender=Meeting, dispatch_uid="search-meeting")


# --- the query language --------------------------------------------------------------------

@dataclass(frozen=True)
class Term:
    words: tuple
    phrase: bool = False
    negated: bool = False

    @property
    def content(self):
        """True when the term still means something after stop words are dropped."""
        return self.phrase and len(self.words) > 1 or any(w.lower() not in STOP_WORDS for w in self.words)


@dataclass(frozen=True)
class Query:
    """A parsed query: ``groups`` are ANDed, the terms of a group ORed; ``excluded`` are NOT."""

    groups: tuple
    excluded: tuple

    def websearch(self):
        """The query re-written for ``websearch_to_tsquery``."""
        def term(t):
            text = " ".join(t.words)
            return f'"{text}"' if t.phrase or len(t.words) > 1 else text

        parts = [" OR ".join(term(t) for t in group) for group in self.groups]
        parts += ["-" + term(t) for t in self.excluded]
        return " ".join(parts)

    def fts5(self):
        """The query as an FTS5 MATCH expression (every term a quoted string: no FTS5 syntax leaks)."""
        def term(t):
            return '"' + " ".join(t.words) + '"'

        groups = []
        for group in self.groups:
            kept = [t for t in group if t.content]
            if kept:
                groups.append("(" + " OR ".join(term(t) for t in kept) + ")")
        expression = "(" + " AND ".join(groups) + ")"
        for t in self.excluded:
            expression += " NOT " + term(t)
        return expression


def parse(text):
    """Parse web-search syntax; raise :class:`QueryError` for a query that cannot be searched."""
    text = (text or "").strip()
    if not text:
        raise QueryError("Type one or more words to search for.")
    if text.count('"') % 2:
        raise QueryError('A quote is not closed: put a second " after the phrase, or remove the first.')
    terms, pending_or = [], False
    groups = []
    for token in _TOKEN.findall(text):
        if token == "OR":
            pending_or = bool(groups)
            continue
        negated = token.startswith("-") and len(token) > 1
        body = token[1:] if negated else token
        phrase = body.startswith('"')
        words = tuple(_WORD.findall(body))
        if not words:
            continue
        item = Term(words, phrase=phrase, negated=negated)
        if negated:
            terms.append(item)
            pending_or = False
        elif pending_or and groups:
            groups[-1].append(item)
            pending_or = False
        else:
            groups.append([item])
    if not groups and not terms:
        raise QueryError("The query has only operators or punctuation: add a word to search for.")
    if not groups:
        raise QueryError("Every word is excluded (-word): add at least one word the results must contain.")
    if not any(t.content for group in groups for t in group):
        raise QueryError("Every word is too common to search for (such as 'the', 'and', 'was'): "
                         "add a more specific word, or quote a phrase.")
    return Query(tuple(tuple(g) for g in groups), tuple(terms))


# --- filters ---------------------------------------------------------------------------------

class SearchForm(forms.Form):
    """The query and its filters, from a query string (the page and the API share it)."""

    q = forms.CharField(required=False, max_length=500)
    source = forms.ChoiceField(required=False, choices=[("", "Any source")] + Meeting.Source.choices)
    engine = forms.ChoiceField(required=False, choices=[("", "Any engine")] + Meeting.Engine.choices)
    date_from = forms.DateField(required=False, label="From")
    date_to = forms.DateField(required=False, label="To")
    speaker = forms.CharField(required=False, max_length=200)
    insight_type = forms.ChoiceField(required=False, label="Insight type",
                                     choices=[("", "Any")] + Insight.Type.choices)
    open_actions = forms.BooleanField(required=False, label="Has open action items")
    page = forms.IntegerField(required=False, min_value=1, max_value=1000)


def _filtered(user, workspace, f):
    """The entries the filters allow, as a queryset; None when no meeting passes them.

    The meeting-level filters are resolved to a list of meeting ids first: the database can then
    combine ``meeting_id = ANY(…)`` with the full-text index instead of testing every match
    against a join.
    """
    meetings = visible_meetings(user, workspace)
    if f.get("source"):
        meetings = meetings.filter(source=f["source"])
    if f.get("engine"):
        meetings = meetings.filter(engine=f["engine"])
    for key, op in (("date_from", "gte"), ("date_to", "lte")):
        day = f.get(key)
        if day:
            # A meeting that never started (an import keeps no date) is dated by its creation.
            meetings = meetings.filter(Q(**{f"started_at__date__{op}": day})
                                       | Q(started_at__isnull=True, **{f"created_at__date__{op}": day}))
    if f.get("open_actions"):
        meetings = meetings.filter(pk__in=Insight.objects.filter(type="action_item", done=False).values("meeting"))
    meeting_ids = list(meetings.order_by().values_list("pk", flat=True))
    if f.get("speaker"):
        speaker_ids = list(Speaker.objects.filter(meeting_id__in=meeting_ids, name__iexact=f["speaker"].strip())
                           .values_list("pk", flat=True))
        meeting_ids = list(Speaker.objects.filter(pk__in=speaker_ids).values_list("meeting_id", flat=True).distinct())
    if not meeting_ids:
        return None
    entries = SearchEntry.objects.filter(meeting_id__in=meeting_ids)
    if f.get("speaker"):
        entries = entries.filter(said_by_id__in=speaker_ids)
    if f.get("insight_type"):
        entries = entries.filter(insight__type=f["insight_type"])
    return entries


# --- running a search ------------------------------------------------------------------------

@dataclass
class Hit:
    """One result: ``snippet`` is safe HTML with ``<mark>`` around matches; ``url`` opens the
    review page at the moment (``?t=<ms>#u<utterance id>``) when the hit has one."""

    entry: SearchEntry
    rank: float
    snippet: str
    utterance_id: int | None = None
    start_ms: int | None = None
    speaker: str | None = None

    @property
    def meeting(self):
        return self.entry.meeting

    @property
    def url(self):
        url = reverse("meetings:review", args=[self.entry.meeting_id])
        if self.utterance_id is not None:
            url += f"?t={self.start_ms}#u{self.utterance_id}"
        return url

    def as_json(self, request=None):
        link = request.build_absolute_uri(self.url) if request else self.url
        return {
            "meeting": {"id": self.entry.meeting_id, "title": self.entry.meeting.title},
            "kind": self.entry.kind,
            "insight_type": self.entry.insight.type if self.entry.insight_id else None,
            "speaker": self.speaker,
            "utterance_id": self.utterance_id,
            "start_ms": self.start_ms,
            "snippet": str(self.snippet),
            "rank": round(self.rank, 6),
            "url": link,
        }


@dataclass
class Results:
    query: Query
    hits: list = field(default_factory=list)
    page: int = 1
    has_more: bool = False


def _highlight(text):
    return mark_safe(escape(text).replace(_START, "<mark>").replace(_STOP, "</mark>"))


def _postgres(entries, query, limit, offset):
    # Ranking reads every candidate's tsvector from the heap: for a word in 5 % of a million
    # entries that is 50,000 rows and ~400 ms. So ts_rank orders at most RANK_CANDIDATES matches
    # (the first the GIN index yields that pass the filters); rarer terms are ranked in full.
    # ts_headline, the costliest call, runs only on the page of hits.
    tsquery = SearchQuery(query.websearch(), search_type="websearch", config="english")
    candidates = entries.filter(vector=tsquery).values("id")[:RANK_CANDIDATES]
    ranked = list(
        SearchEntry.objects.filter(pk__in=candidates)
        .annotate(rank=SearchRank(F("vector"), tsquery))
        .order_by("-rank", "id")
        .values_list("id", "rank")[offset:offset + limit]
    )
    if not ranked:
        return []
    snippets = dict(
        SearchEntry.objects.filter(pk__in=[r[0] for r in ranked])
        .annotate(headline=SearchHeadline("text", tsquery, config="english", start_sel=_START, stop_sel=_STOP,
                                          max_words=30, min_words=12, short_word=2))
        .values_list("id", "headline")
    )
    return [(pk, rank, snippets.get(pk)) for pk, rank in ranked]


def _sqlite(entries, query, limit, offset):
    # The filters go in a correlated EXISTS: "rowid IN (subquery)" would make FTS5 run the MATCH
    # once per id of the subquery (seconds at 100,000 entries), and "+rowid IN" builds the whole
    # visible set each time. As on PostgreSQL, bm25() scores at most RANK_CANDIDATES matches, the
    # newest (FTS5 walks rowids backwards without sorting). Two steps, because SQLite would
    # compute snippet() for every match before sorting.
    correlated = entries.filter(pk=RawSQL('"meetings_searchentry_fts"."rowid"', []))
    within, params = correlated.values("id").query.sql_with_params()
    expression = query.fts5()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT rowid, -rank FROM (SELECT rowid, rank FROM meetings_searchentry_fts "
            f"WHERE meetings_searchentry_fts MATCH %s AND EXISTS ({within}) ORDER BY rowid DESC LIMIT %s) "
            "ORDER BY rank, rowid LIMIT %s OFFSET %s",
            [expression, *params, RANK_CANDIDATES, limit, offset],
        )
        ranked = cursor.fetchall()
        if not ranked:
            return []
        ids = [row[0] for row in ranked]
        # FTS5 cannot seek to a list of rowids, but it can to a range: the BETWEEN spares it
        # walking every match of a common word.
        cursor.execute(
            f"SELECT rowid, snippet(meetings_searchentry_fts, 0, '{_START}', '{_STOP}', '…', 24) "
            "FROM meetings_searchentry_fts WHERE meetings_searchentry_fts MATCH %s "
            f"AND rowid BETWEEN %s AND %s AND rowid IN ({', '.join(['%s'] * len(ids))})",
            [expression, min(ids), max(ids), *ids],
        )
        snippets = dict(cursor.fetchall())
    return [(rowid, rank, snippets.get(rowid)) for rowid, rank in ranked]


def _first_moments(entries):
    """The earliest linked utterance of each insight and topic entry, as
    ``{"insight": {id: (start_ms, utterance id, speaker name)}, "topic": {…}}``: one small query
    per kind over the link tables, instead of loading every linked utterance."""
    moments = {}
    for kind, model in (("insight", Insight), ("topic", Topic)):
        ids = [getattr(e, f"{kind}_id") for e in entries if getattr(e, f"{kind}_id")]
        if not ids:
            continue
        links = model.utterances.through.objects.filter(**{f"{kind}_id__in": ids}).values_list(
            f"{kind}_id", "utterance__start_ms", "utterance_id", "utterance__speaker__name")
        best = moments.setdefault(kind, {})
        for owner, start_ms, utterance_id, speaker in links:
            if owner not in best or (start_ms, utterance_id) < best[owner][:2]:
                best[owner] = (start_ms, utterance_id, speaker)
    return moments


def search(user, text, filters=None, *, workspace=None, page=1, per_page=20):
    """Search the meetings ``user`` may see (in ``workspace`` only, when given); returns :class:`Results` of ranked :class:`Hit`.

    ``filters``: the cleaned data of :class:`SearchForm` (source, engine, date_from, date_to,
    speaker, insight_type, open_actions). Raises :class:`QueryError` for a bad query.
    """
    query = parse(text)
    entries = _filtered(user, workspace, filters or {})
    offset = (page - 1) * per_page
    run = _postgres if connection.vendor == "postgresql" else _sqlite
    rows = run(entries, query, per_page + 1, offset) if entries is not None else []
    has_more = len(rows) > per_page
    rows = rows[:per_page]
    found = SearchEntry.objects.select_related("meeting", "utterance__speaker", "insight", "speaker") \
        .in_bulk([r[0] for r in rows])
    first = _first_moments(found.values())
    hits = []
    for entry_id, rank, snippet in rows:
        entry = found.get(entry_id)
        if entry is None:
            continue
        hit = Hit(entry=entry, rank=float(rank or 0), snippet=_highlight(snippet or entry.text))
        if entry.utterance_id:
            u = entry.utterance
            hit.utterance_id, hit.start_ms = u.pk, u.start_ms
            hit.speaker = u.speaker.name if u.speaker_id else None
        elif (entry.insight_id or entry.topic_id) in first.get("insight" if entry.insight_id else "topic", {}):
            hit.start_ms, hit.utterance_id, hit.speaker = first["insight" if entry.insight_id else "topic"][
                entry.insight_id or entry.topic_id]
        elif entry.speaker_id:
            hit.speaker = entry.speaker.name
        hits.append(hit)
    return Results(query=query, hits=hits, page=page, has_more=has_more)


def speakers_of(user, workspace=None):
    """Distinct participant names across the user's meetings in ``workspace``, for the speaker filter."""
    meetings = visible_meetings(user, workspace)
    return sorted(set(Speaker.objects.filter(meeting__in=meetings).values_list("name", flat=True)))[:500]


__all__ = ["QueryError", "SearchForm", "Results", "Hit", "parse", "search", "connect"]
