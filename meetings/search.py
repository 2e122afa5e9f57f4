"""Full-text search over the meetings a user may see: one interface, two engines.

What is searched: final utterances, insights, topics, meeting titles and participant names, one
:class:`~meetings.models.SearchEntry` row each, kept current by the ``post_save`` handlers below
and ``m2m_changed`` for rows saved through the ORM (imports, renames, action-item edits, the
persister's corrections), by :func:`index_new` for the rows the persister creates in bulk, and
removed with their source row by ``ON DELETE CASCADE``. Only final utterances are indexed.

The query language is web-search syntax, parsed here once for both engines (:func:`parse`):
words are ANDed, ``OR`` between two terms, ``"quoted phrases"``, ``-word`` / ``-"phrase"``
excludes. English stemming and stop words on both.

Each search first resolves what the user may see, and the filters, to a :class:`Scope`: a list
of meeting ids (and speaker ids, an insight type), computed once; each match is then tested
against that list, never against a join of meetings, workspaces and memberships.

- PostgreSQL: ``websearch_to_tsquery('english', …)`` against the stored, trigger-maintained
  ``vector`` column (GIN index); ``ts_rank`` over at most :data:`RANK_CANDIDATES` matches and
  ``ts_headline`` over the page of hits, in one statement (the functions Django's SearchRank and
  SearchHeadline write; raw SQL because the ORM cannot fence the scope out of the index scan,
  see :data:`_CANDIDATES`). See https://www.postgresql.org/docs/current/textsearch-controls.html
- SQLite: an FTS5 ``MATCH`` expression built from the same parse, ranked by ``bm25()`` (FTS5's
  ``rank`` column), snippets by ``snippet()``. See https://www.sqlite.org/fts5.html

Bad queries raise :class:`QueryError` with a message meant for the person who typed them.
"""
import re
from dataclasses import dataclass, field

from django import forms
from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Q
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


def index_new(kind, rows, said_by=None):
    """Entries for ``rows`` of ``kind`` (``"utterance"``, ``"insight"`` or ``"topic"``) just created
    with ``bulk_create``, which sends no ``post_save``: one INSERT for all of them. ``said_by`` maps
    a row's id to the speaker it is attributed to (absent: nobody)."""
    said_by = said_by or {}
    SearchEntry.objects.bulk_create([
        SearchEntry(**{kind: row}, meeting_id=row.meeting_id, kind=kind, text=row.phrase if kind == "topic" else row.text,
                    said_by_id=said_by.get(row.pk)) for row in rows])


def _on_utterance(sender, instance, created, raw=False, **kwargs):
    if raw:
        return
    _entry("utterance", instance, instance.text, instance.meeting_id, created, said_by_id=instance.speaker_id)


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


@dataclass(frozen=True)
class Scope:
    """The entries a search may return: those of ``meeting_ids`` (visible to the user and passing
    the meeting-level filters), only those said by one of ``speaker_ids`` when given, only
    insights of ``insight_type`` when given."""

    meeting_ids: tuple
    speaker_ids: tuple | None = None
    insight_type: str = ""

    def where(self, alias, arrays=False):
        """SQL conditions on the search-entry table ``alias`` and their parameters. ``arrays``:
        PostgreSQL's ``= ANY(%s)``, one parameter however many ids (else ``IN (%s, …)``)."""
        def member(column, ids):
            if arrays:
                return f"{alias}.{column} = ANY(%s)", [list(ids)]
            return f"{alias}.{column} IN ({', '.join(['%s'] * len(ids))})", list(ids)

        parts = [member("meeting_id", self.meeting_ids)]
        if self.speaker_ids is not None:
            parts.append(member("said_by_id", self.speaker_ids))
        if self.insight_type:
            parts.append((f"EXISTS (SELECT 1 FROM meetings_insight i WHERE i.id = {alias}.insight_id AND i.type = %s)",
                          [self.insight_type]))
        return " AND ".join(sql for sql, _ in parts), [p for _, params in parts for p in params]


def _filtered(user, workspace, f):
    """The :class:`Scope` the filters allow; None when no meeting passes them.

    The meeting-level filters are resolved to a list of meeting ids once per search (a user sees
    a few workspaces: tens to hundreds of meetings), so each engine tests a match against a
    list instead of joining meetings, workspaces and memberships for every match.
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
        # Per meeting, the first open action item found by the insight's meeting index settles
        # it; "pk IN (all open action items)" would read every insight of every meeting.
        meetings = meetings.filter(Exists(Insight.objects.filter(meeting=OuterRef("pk"), type="action_item",
                                                                 done=False)))
    meeting_ids = tuple(meetings.order_by().values_list("pk", flat=True))
    speaker_ids = None
    if f.get("speaker") and meeting_ids:
        speakers = list(Speaker.objects.filter(meeting_id__in=meeting_ids, name__iexact=f["speaker"].strip())
                        .order_by().values_list("pk", "meeting_id"))
        speaker_ids = tuple(pk for pk, _ in speakers)
        meeting_ids = tuple(sorted({meeting_id for _, meeting_id in speakers}))
    if not meeting_ids:
        return None
    return Scope(meeting_ids, speaker_ids, f.get("insight_type") or "")


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


# ts_headline's options: the markers _highlight turns into <mark>, and a snippet of 12 to 30 words.
_HEADLINE = f"StartSel='{_START}', StopSel='{_STOP}', MaxWords=30, MinWords=12, ShortWord=2"
_TSQUERY = "websearch_to_tsquery('english', %(q)s)"
# Where the candidates come from. A broad scope (a large share of all entries: a user's
# workspaces): the GIN index alone, the scope tested on the rows it yields, for the planner
# would AND in a bitmap of the meeting_id index (hundreds of thousands of entries, to skip a few
# thousand rows); the inner SELECT … OFFSET 0 is a fence that keeps the scope out of the scan.
# A narrow scope (a few meetings or one speaker, after filters): ANDing the meeting_id or
# said_by_id index is what finds a few matches among many; the planner chooses.
_CANDIDATES = {
    "broad": f"""SELECT e.id, e.vector FROM (
                     SELECT id, meeting_id, said_by_id, insight_id, vector FROM meetings_searchentry
                     WHERE vector @@ {_TSQUERY} OFFSET 0) e
                 WHERE {{scope}}""",
    "narrow": f"SELECT e.id, e.vector FROM meetings_searchentry e WHERE e.vector @@ {_TSQUERY} AND {{scope}}",
}
# Below this share of all entries a scope is narrow.
NARROW_SHARE = 0.2
# One statement: the candidates, ts_rank over them, ts_headline over the page only (it is the
# costliest call).
_POSTGRES_SEARCH = f"""
    WITH candidates AS ({{candidates}} LIMIT %(candidates)s),
    page AS (
        SELECT id, ts_rank(vector, {_TSQUERY}) AS rank FROM candidates
        ORDER BY rank DESC, id LIMIT %(limit)s OFFSET %(offset)s)
    SELECT page.id, page.rank, ts_headline('english', entry.text, {_TSQUERY}, %(headline)s)
    FROM page JOIN meetings_searchentry entry ON entry.id = page.id
    ORDER BY page.rank DESC, page.id"""


def _share(cursor, where, params):
    """The planner's estimate of the share of all search entries that ``where`` keeps (0 to 1;
    1 for a table never analyzed: a new database is small)."""
    cursor.execute("SELECT reltuples FROM pg_class WHERE oid = 'meetings_searchentry'::regclass")
    total = cursor.fetchone()[0]
    if total <= 0:
        return 1.0
    cursor.execute(f"EXPLAIN (FORMAT JSON) SELECT 1 FROM meetings_searchentry e WHERE {where}", params)
    return min(1.0, cursor.fetchone()[0][0]["Plan"]["Plan Rows"] / total)


def _postgres(scope, query, limit, offset):
    # ts_rank reads each candidate's tsvector: for a word in 5 % of a million entries that is
    # 50,000 rows. So it orders at most RANK_CANDIDATES matches (the first the index yields
    # that pass the scope); rarer terms are ranked in full.
    where, params = scope.where("e", arrays=True)
    with transaction.atomic(), connection.cursor() as cursor:
        narrow = _share(cursor, where, params) < NARROW_SHARE
        # The statement names its parameters (the query is used three times): so must the scope.
        named = {f"scope{n}": value for n, value in enumerate(params)}
        where %= tuple(f"%({name})s" for name in named)
        candidates = _CANDIDATES["narrow" if narrow else "broad"].replace("{scope}", where)
        # Local to this transaction, rolled back below (it only read). Reading the table (or
        # its primary key) in order until RANK_CANDIDATES rows in scope match is what the
        # planner picks for a word it thinks common; for a word common only in meetings out of
        # scope, that reads most of the table. An index costs what the matches cost.
        cursor.execute("SELECT set_config('enable_seqscan', 'off', true), set_config('enable_indexscan', 'off', true)")
        cursor.execute(_POSTGRES_SEARCH.replace("{candidates}", candidates),
                       {"q": query.websearch(), "candidates": RANK_CANDIDATES, "limit": limit, "offset": offset,
                        "headline": _HEADLINE, **named})
        rows = cursor.fetchall()
        transaction.set_rollback(True)
    return rows


def _sqlite(scope, query, limit, offset):
    # The scope goes in a correlated EXISTS: "rowid IN (subquery)" would make FTS5 run the MATCH
    # once per id of the subquery (seconds at 100,000 entries), and "+rowid IN" builds the whole
    # visible set each time. As on PostgreSQL, bm25() scores at most RANK_CANDIDATES matches, the
    # newest (FTS5 walks rowids backwards without sorting). Two steps, because SQLite would
    # compute snippet() for every match before sorting.
    where, params = scope.where("e")
    expression = query.fts5()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT rowid, -rank FROM (SELECT rowid, rank FROM meetings_searchentry_fts "
            "WHERE meetings_searchentry_fts MATCH %s AND EXISTS (SELECT 1 FROM meetings_searchentry e "
            f"WHERE e.id = meetings_searchentry_fts.rowid AND {where}) ORDER BY rowid DESC LIMIT %s) "
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
    scope = _filtered(user, workspace, filters or {})
    offset = (page - 1) * per_page
    run = _postgres if connection.vendor == "postgresql" else _sqlite
    rows = run(scope, query, per_page + 1, offset) if scope is not None else []
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
