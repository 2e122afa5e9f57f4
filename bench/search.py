"""Benchmark of search and the review page on a large corpus resampled from real meetings.

    .venv/bin/python -m bench.search [--sqlite-size 100000] [--postgres-size 1000000]
                                     [--postgres-url postgres://postgres@127.0.0.1:5432/parley_bench]
                                     [--only sqlite|postgres] [--repeat 5] [--keep] [--json]

For each database (a fresh SQLite file in a temporary folder; a PostgreSQL database created, and
dropped afterwards unless ``--keep``, at ``--postgres-url``) it migrates, then builds a corpus by
resampling the utterances of the five QMSum meetings in tests/data/meetings (cleaned, with their
speakers) into meetings of 2,000 utterances each, with the insights the local text pipeline finds in
them and their topics; half the meetings belong to the user who searches, half to another. Rows are
loaded in bulk (COPY on PostgreSQL), with the search index off.

It prints:
- index build time: writing the search entries of every row (the same INSERT … SELECT as migration
  0003) and building the full-text index (PostgreSQL: tsvector trigger, GIN index, ANALYZE; SQLite:
  FTS5 'rebuild');
- p50/p95 latency of 20 representative queries through :func:`meetings.search.search` (common word,
  rare word, phrase, OR, exclusion: two of each, with and without filters), each run ``--repeat``
  times after one warm-up;
- the review page's server time (view + template) for one 2,000-utterance meeting;
- the 1-minute load average before and after the measurements.

Queries are chosen from the corpus's own word statistics and printed. A benchmark, not a test:
it prints figures and never fails on them.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timedelta, timezone as dt_timezone
from pathlib import Path
from urllib.parse import urlparse, urlunparse

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "meetings"
SOURCES = ["ES2004a", "ES2004b", "ES2004c", "Bed008", "education_13"]
MEETING_SIZE = 2000
SLOT_MS = 3600
TARGET_MS = {"postgresql": 50, "sqlite": 20}
REVIEW_TARGET_MS = 300


# --- the parent: one child process per database ----------------------------------------------

def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.search", description=__doc__.split("\n")[0])
    parser.add_argument("--sqlite-size", type=int, default=100_000)
    parser.add_argument("--postgres-size", type=int, default=1_000_000)
    parser.add_argument("--postgres-url", default="postgres://postgres@127.0.0.1:5432/parley_bench")
    parser.add_argument("--only", choices=["sqlite", "postgres"])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="keep the PostgreSQL benchmark database")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--child", choices=["sqlite", "postgresql"], help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(run(args.child, args.size, args.repeat)))
        return
    reports = []
    with tempfile.TemporaryDirectory(prefix="parley-bench-") as tmp:
        if args.only in (None, "sqlite"):
            env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
            env["PARLEY_DATA_DIR"] = tmp
            reports.append(_child("sqlite", args.sqlite_size, args.repeat, env))
        if args.only in (None, "postgres"):
            _create_database(args.postgres_url)
            env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
            env.update(DATABASE_URL=args.postgres_url, PARLEY_DATA_DIR=tmp)
            try:
                reports.append(_child("postgresql", args.postgres_size, args.repeat, env))
            finally:
                if not args.keep:
                    _drop_database(args.postgres_url)
    if args.json:
        print(json.dumps(reports, indent=1))
    else:
        for report in reports:
            _print(report)


def _child(vendor, size, repeat, env):
    print(f"== {vendor}: building {size:,} utterances …", file=sys.stderr, flush=True)
    out = subprocess.run([sys.executable, "-m", "bench.search", "--child", vendor, "--size", str(size),
                          "--repeat", str(repeat)], env=env, check=True, stdout=subprocess.PIPE, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _admin_url(url):
    parts = urlparse(url)
    return urlunparse(parts._replace(path="/postgres")), parts.path.lstrip("/")


def _create_database(url):
    import psycopg

    admin, name = _admin_url(url)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')


def _drop_database(url):
    import psycopg

    admin, name = _admin_url(url)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')


def _print(r):
    print(f"\n{r['vendor']}: {r['utterances']:,} utterances in {r['meetings']} meetings, "
          f"{r['entries']:,} search entries ({r['insights']:,} insights, {r['topics']:,} topics)")
    print(f"  bulk load {r['load_s']:.1f} s; index build {r['index_build_s']:.1f} s")
    print(f"  {'query':<34} {'filters':<8} {'hits':>5} {'p50 ms':>8} {'p95 ms':>8}")
    for q in r["queries"]:
        print(f"  {q['kind'] + ': ' + q['q']:<34} {q['filters'] or '-':<8} {q['hits']:>5} {q['p50_ms']:>8.1f} "
              f"{q['p95_ms']:>8.1f}")
    print(f"  all queries: p50 {r['p50_ms']:.1f} ms, p95 {r['p95_ms']:.1f} ms "
          f"(target p95 < {TARGET_MS[r['vendor']]} ms)")
    print(f"  review page, {r['review']['utterances']} utterances ({r['review']['duration']}): "
          f"p50 {r['review']['p50_ms']:.0f} ms, p95 {r['review']['p95_ms']:.0f} ms (target < {REVIEW_TARGET_MS} ms)")
    print(f"  1-minute load average {r['load_average'][0]:.2f} before the queries, "
          f"{r['load_average'][1]:.2f} after (this machine has {os.cpu_count()} CPUs)")


# --- the child: build, index, measure ---------------------------------------------------------

def run(vendor, size, repeat):
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    assert connection.vendor == vendor, (connection.vendor, vendor)
    call_command("migrate", verbosity=0)
    sources = _sources()
    started = time.perf_counter()
    users, counts, review_meeting = _load(vendor, size, sources)
    load_s = time.perf_counter() - started
    started = time.perf_counter()
    _build_index(vendor)
    index_s = time.perf_counter() - started
    from meetings.models import SearchEntry

    report = {"vendor": vendor, "load_s": load_s, "index_build_s": index_s, "entries": SearchEntry.objects.count(),
              **counts}
    # The machine may be shared: the figures mean little without how busy it was.
    load_before = os.getloadavg()[0]
    report.update(_measure_queries(users[0], sources, repeat))
    report["review"] = _measure_review(users[0], review_meeting, repeat)
    report["load_average"] = [load_before, os.getloadavg()[0]]
    return report


def _sources():
    """Per QMSum meeting: cleaned utterances and what the local text pipeline finds in them."""
    from meetings.importers import parse
    from streaming.insights import InsightPipeline, Utterance

    out = []
    for name in SOURCES:
        transcript = parse((DATA / f"{name}.json").read_bytes(), name=name)
        pipeline = InsightPipeline(reference_time=datetime(2026, 1, 5, 9, tzinfo=dt_timezone.utc), topic_every=0)
        index = {u[0]: n for n, u in enumerate(transcript.utterances)}
        insights = {}
        for message_id, speaker, text, start_ms, end_ms in transcript.utterances:
            for event in pipeline.add(Utterance(message_id, speaker, text, start_ms, end_ms)):
                for item in event.get("insights", []):
                    insights.setdefault(index[message_id], []).append((item["type"], item["payload"]["content"]))
        topics = [t["phrases"] for e in pipeline.finish() for t in e.get("topics", [])]
        out.append({"name": name, "utterances": transcript.utterances, "insights": insights, "topics": topics})
    return out


def _load(vendor, size, sources):
    from django.contrib.auth.models import User
    from django.db import connection, transaction

    from meetings.models import Insight, Meeting, Speaker, Topic
    from meetings.workspaces import create_workspace

    rng = random.Random(20261121)
    searcher = User.objects.create_user("bench-reviewer")
    other = User.objects.create_user("bench-other")
    mine, theirs = create_workspace("Bench", searcher), create_workspace("Bench other", other)
    n_meetings = max(1, -(-size // MEETING_SIZE))
    source_kinds = ["upload", "microphone", "zoom", "import", "dial_in", "bot"]
    engines = ["local", "symbl", "deepgram", "assemblyai"]
    epoch = datetime(2025, 1, 1, 9, tzinfo=dt_timezone.utc)
    plans = [(rng.choice(sources), min(MEETING_SIZE, size - i * MEETING_SIZE)) for i in range(n_meetings)]
    with transaction.atomic():
        meetings = Meeting.objects.bulk_create([
            Meeting(title=f"{src['name']} replay {i}", source=source_kinds[i % len(source_kinds)],
                    engine=engines[i % len(engines)], owner=searcher if i % 2 == 0 else other,
                    workspace=mine if i % 2 == 0 else theirs, status="completed",
                    started_at=epoch + timedelta(days=730 * i / n_meetings),
                    ended_at=epoch + timedelta(days=730 * i / n_meetings, hours=2))
            for i, (src, _) in enumerate(plans)
        ])
        speakers = {}
        speaker_rows = []
        for meeting, (src, _) in zip(meetings, plans):
            for name in sorted({u[1] for u in src["utterances"]}):
                speaker_rows.append(Speaker(meeting=meeting, key=name.lower().replace(" ", "-"), name=name))
        for s in Speaker.objects.bulk_create(speaker_rows):
            speakers[(s.meeting_id, s.name)] = s.pk
        rows, insight_rows, links, topic_rows = [], [], [], []
        next_id = 1
        for meeting, (src, count) in zip(meetings, plans):
            clock = 0
            for k in range(count):
                n = rng.randrange(len(src["utterances"]))
                _, speaker, text, start, end = src["utterances"][n]
                # QMSum keeps no times: every utterance gets a 3.6 s slot, so 2,000 make a 2-hour meeting.
                length = min(end - start, SLOT_MS - 200)
                rows.append((next_id, meeting.pk, speakers[(meeting.pk, speaker)], clock, clock + length, text,
                             f"b{next_id}", True))
                for kind, insight_text in src["insights"].get(n, []):
                    insight_rows.append(Insight(meeting=meeting, type=kind, text=insight_text,
                                                provider_id=f"i{next_id}-{len(insight_rows)}",
                                                done=rng.random() < 0.5))
                    links.append(next_id)
                clock += SLOT_MS
                next_id += 1
            Meeting.objects.filter(pk=meeting.pk).update(duration_ms=clock)
            topic_rows += [Topic(meeting=meeting, phrase=p[:200], score=1 - j / 20) for j, p in enumerate(src["topics"])]
        columns = "id, meeting_id, speaker_id, start_ms, end_ms, text, message_id, is_final"
        with connection.cursor() as cursor:
            if vendor == "postgresql":
                with cursor.cursor.copy(f"COPY meetings_utterance ({columns}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
                cursor.execute("SELECT setval(pg_get_serial_sequence('meetings_utterance', 'id'), %s)", [next_id])
            else:
                cursor.executemany(f"INSERT INTO meetings_utterance ({columns}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
        insights = Insight.objects.bulk_create(insight_rows, batch_size=5000)
        Through = Insight.utterances.through
        Through.objects.bulk_create([Through(insight_id=i.pk, utterance_id=u) for i, u in zip(insights, links)],
                                    batch_size=5000)
        Topic.objects.bulk_create(topic_rows, batch_size=5000)
    counts = {"utterances": len(rows), "meetings": len(meetings), "insights": len(insight_rows),
              "topics": len(topic_rows)}
    return (searcher, other), counts, meetings[0]


def _build_index(vendor):
    """Search entries for every row, then the full-text index, as one timed step."""
    import importlib

    from django.db import connection, transaction

    migration = importlib.import_module("meetings.migrations.0003_search_index")
    with transaction.atomic(), connection.cursor() as cursor:
        if vendor == "postgresql":
            cursor.execute("DROP INDEX IF EXISTS searchentry_vector_gin")
        else:
            for statement in migration.SQLITE_BACKWARD[:3]:
                cursor.execute(statement)
        # The benchmark's bulk load fired no save signals: the entries are all written here.
        cursor.execute("DELETE FROM meetings_searchentry")
        for statement in migration.BACKFILL:
            cursor.execute(statement)
        if vendor == "sqlite":
            cursor.execute("INSERT INTO meetings_searchentry_fts(meetings_searchentry_fts) VALUES ('rebuild')")
            for statement in migration.SQLITE_TRIGGERS:
                cursor.execute(statement)
    # After the commit: PostgreSQL's deferred foreign-key checks must have run before CREATE INDEX.
    with connection.cursor() as cursor:
        if vendor == "postgresql":
            cursor.execute(migration.POSTGRES_FORWARD[2])
        cursor.execute("ANALYZE")


def _queries(sources):
    """(kind, query) pairs chosen from the corpus's word statistics; two of each kind."""
    from streaming.insights.text import stopwords, words

    common_words = stopwords()
    df, bigrams = Counter(), Counter()
    for src in sources:
        for u in src["utterances"]:
            tokens = [w for w in words(u[2]) if w not in common_words and len(w) > 2 and "'" not in w]
            df.update(set(tokens))
            bigrams.update({(a, b) for a, b in zip(tokens, tokens[1:]) if a != b})
    common, stems = [], set()
    for w, _ in df.most_common(100):
        if len(w) > 4 and w[:5] not in stems:  # "things" and "thing" would exclude each other
            stems.add(w[:5])
            common.append(w)
    common = common[:4]
    rare = sorted(w for w, c in df.items() if c == 1 and len(w) >= 8 and w.isalpha())
    rng = random.Random(7)
    rare = rng.sample(rare, 2)
    phrases = [" ".join(b) for b, _ in bigrams.most_common(2)]
    return [
        ("common", common[0]), ("common", common[1]),
        ("rare", rare[0]), ("rare", rare[1]),
        ("phrase", f'"{phrases[0]}"'), ("phrase", f'"{phrases[1]}"'),
        ("or", f"{rare[0]} OR {common[2]}"), ("or", f"{common[3]} OR {rare[1]}"),
        ("exclusion", f"{common[0]} -{common[1]}"), ("exclusion", f"{common[2]} -{common[3]}"),
    ]


FILTERS = {
    "source": {"source": "upload", "date_from": datetime(2025, 3, 1).date(), "date_to": datetime(2026, 6, 30).date()},
    "speaker": {"speaker": "Marketing", "open_actions": True},
}


def _measure_queries(user, sources, repeat):
    from meetings.search import search

    results, everything = [], []
    names = list(FILTERS)
    for n, (kind, q) in enumerate(_queries(sources)):
        # Each query runs without filters and with one of the two filter sets, alternating.
        for label in (None, names[n % 2]):
            filters = FILTERS.get(label, {})
            hits = len(search(user, q, filters).hits)  # warm-up
            times = []
            for _ in range(repeat):
                started = time.perf_counter()
                search(user, q, filters)
                times.append((time.perf_counter() - started) * 1000)
            everything += times
            results.append({"kind": kind, "q": q, "filters": label, "hits": hits, "p50_ms": statistics.median(times),
                            "p95_ms": _p95(times)})
    return {"queries": results, "p50_ms": statistics.median(everything), "p95_ms": _p95(everything)}


def _measure_review(user, meeting, repeat):
    from django.test import RequestFactory

    from meetings.templatetags.parley import clock
    from meetings.views import review

    meeting.refresh_from_db()
    factory = RequestFactory()
    times = []
    for n in range(repeat * 2 + 1):
        request = factory.get(f"/meetings/{meeting.pk}/review/")
        request.user = user
        started = time.perf_counter()
        response = review(request, meeting.pk)
        elapsed = (time.perf_counter() - started) * 1000
        assert response.status_code == 200
        if n:
            times.append(elapsed)
    return {"utterances": meeting.utterances.count(), "duration": clock(meeting.duration_ms),
            "p50_ms": statistics.median(times), "p95_ms": _p95(times)}


def _p95(values):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


if __name__ == "__main__":
    main()
