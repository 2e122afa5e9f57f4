"""Live fan-out on the production topology: event-to-browser latency, errors and memory.

``python -m bench.live`` starts the production topology on this machine (two Daphne processes,
a Redis of its own on a free port, a throwaway PostgreSQL database on 127.0.0.1:5432), then for
each S×V: S live sessions whose engine events (a partial ``recognition_result`` every 300 ms, a
final one with its ``message_response`` every 3 s, an ``insight_response`` now and then) go
through the real persister (PostgreSQL, sequence numbers) and the Redis channel layer, from
runner processes, to V browser sockets per session spread over both Daphne processes. Latency
is from the moment the engine hands the event over to the moment a browser socket has it.

It then measures one plain ``websockets`` broadcast server doing only the fan-out of the same
events (no database, no channel layer) as the reference for what this machine can do, and
finally a soak at 50×10 printing the memory of each process at its start and end.

Sessions start at random phases of their 3-s cycle, as independent meetings do; ``--aligned``
starts them within 300 ms of each other, so that every session's final result (the heavier
events) lands in the same 300 ms, every 3 s: a worst case, for comparison.

Options: ``--configs 10x10,50x10,…``, ``--seconds`` per measurement, ``--runners`` (producer
processes), ``--soak-seconds`` (600; 0 skips), ``--no-reference``, ``--aligned``, ``--json``.
"""
import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.net import free_port, wait_port

ROOT = Path(__file__).resolve().parent.parent
PARTIAL_MS, FINAL_MS = 300, 3000
INSIGHT_CHANCE = 0.15  # per final utterance: an insight every ~20 s per session
TARGET_P99_MS = 250
DEFAULT_CONFIGS = "10x10,25x10,50x10,100x10,100x20,150x20,200x20"

# --------------------------------------------------------------------------- the events


def session_events(rng, clock_ms):
    """The engine's events due at ``clock_ms`` (ms since the session started), in order."""
    out = []
    if clock_ms % FINAL_MS == 0 and clock_ms:
        from streaming import events

        user = events.user_ref("speaker-1", "Speaker 1")
        text = "we should ship the release on friday and ask the team to review the plan"
        message_id = events.new_id()
        out.append(events.recognition_result(text, is_final=True, user=user, time_offset_ms=clock_ms - FINAL_MS))
        out.append(events.message_response(message_id, text, user=user, start_ms=clock_ms - FINAL_MS,
                                           end_ms=clock_ms - 100))
        if rng.random() < INSIGHT_CHANCE:
            out.append(events.insight_response([events.insight(
                events.new_id(), "action_item", "Ask the team to review the plan.", message_ids=[message_id])]))
    elif clock_ms % PARTIAL_MS == 0:
        from streaming import events

        words = "we should ship the release on friday and ask the team".split()
        n = 1 + (clock_ms % FINAL_MS) // PARTIAL_MS
        out.append(events.recognition_result(" ".join(words[:n]), is_final=False,
                                             user=events.user_ref("speaker-1", "Speaker 1"),
                                             time_offset_ms=clock_ms - clock_ms % FINAL_MS))
    return out


async def drive_session(emit, seconds, rng, lag=None):
    """Call ``emit(event)`` for one session's events at their real pace for ``seconds``.

    ``lag`` (a one-item list) gets the largest delay, in ms, behind the schedule: a producer
    that cannot keep up shows here, not as browser latency.
    """
    loop = asyncio.get_running_loop()
    # Independent meetings: their utterances end at random phases of the 3-s cycle. --aligned
    # starts them within one partial's period instead, so every session's final lands in the same
    # 300 ms: a worst case that independent meetings do not produce.
    phase_ms = PARTIAL_MS if os.environ.get("PARLEY_BENCH_ALIGNED") else FINAL_MS
    await asyncio.sleep(rng.random() * phase_ms / 1000)
    start = loop.time()
    clock_ms = 0
    # A producer that falls behind stops at the deadline anyway (its lag is reported).
    while clock_ms < seconds * 1000 and loop.time() < start + seconds + 5:
        clock_ms += PARTIAL_MS  # every event falls on this tick; a finer one only wakes the loop for nothing
        delay = start + clock_ms / 1000 - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        elif lag is not None:
            lag[0] = max(lag[0], -delay * 1000)
        for event in session_events(rng, clock_ms):
            event["benchSentAt"] = time.time()
            await emit(event)


# --------------------------------------------------------------------------- subprocess roles


def role_producer(meeting_ids, seconds):
    """A runner process: the events of ``meeting_ids`` through the one persister."""
    import django

    django.setup()
    from streaming.persist import apersist_event

    errors = 0
    lag = [0.0]

    async def main():
        async def one(meeting_id):
            rng = random.Random(meeting_id)

            async def emit(event):
                nonlocal errors
                try:
                    if await apersist_event(meeting_id, event) is None:
                        errors += 1
                except Exception:
                    errors += 1

            await drive_session(emit, seconds, rng, lag)

        await asyncio.gather(*(one(m) for m in meeting_ids))

    asyncio.run(main())
    print(json.dumps({"errors": errors, "lag_ms": lag[0]}), flush=True)


def role_reference(port, sessions, seconds, start_file):
    """One plain websockets server: the same events, broadcast to each session's sockets."""
    from websockets.asyncio.server import broadcast, serve

    subscribers = {i: set() for i in range(sessions)}

    async def handler(ws):
        session = int(ws.request.path.strip("/"))
        subscribers[session].add(ws)
        await ws.send(json.dumps({"type": "snapshot", "seq": 0}))
        try:
            await ws.wait_closed()
        finally:
            subscribers[session].discard(ws)

    async def main():
        async with serve(handler, "127.0.0.1", port, max_queue=None):
            while not os.path.exists(start_file):
                await asyncio.sleep(0.05)

            async def one(session):
                seq = 0
                rng = random.Random(session)

                async def emit(event):
                    nonlocal seq
                    seq += 1
                    broadcast(subscribers[session], json.dumps({"type": "event", "seq": seq, "event": event}))

                await drive_session(emit, seconds, rng)

            await asyncio.gather(*(one(s) for s in range(sessions)))
            await asyncio.sleep(1)

    asyncio.run(main())


# --------------------------------------------------------------------------- the topology


def rss_mb(pid):
    """Resident memory of one process in MB (from /proc)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


class Topology:
    def __init__(self, runners):
        self.tmp = Path(tempfile.mkdtemp(prefix="parley-live-"))
        self.database = f"parley_live_{os.getpid()}"
        self.redis_port = free_port()
        self.web_ports = [free_port(), free_port()]
        self.runners = runners
        self.processes = {}

    def env(self):
        env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
        env.update(DJANGO_SETTINGS_MODULE="config.settings", PARLEY_DATA_DIR=str(self.tmp),
                   DATABASE_URL=f"postgres://postgres@127.0.0.1:5432/{self.database}",
                   REDIS_URL=f"redis://127.0.0.1:{self.redis_port}/0", PARLEY_RUNNERS_IN_PROCESS="false", DEBUG="false",
                   LOG_LEVEL="WARNING")
        return env

    def manage(self, *args):
        result = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=self.env(),
                                capture_output=True, text=True)
        if result.returncode:
            raise RuntimeError(result.stderr[-2000:])
        return result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""

    def psql(self, sql):
        import psycopg

        with psycopg.connect("postgres://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
            conn.execute(sql)

    def start(self):
        self.processes["redis"] = subprocess.Popen(
            [shutil.which("redis-server"), "--port", str(self.redis_port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.tmp)], stdout=subprocess.DEVNULL)
        self.psql(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
        self.psql(f'CREATE DATABASE "{self.database}"')
        self.manage("migrate", "--noinput")
        for i, port in enumerate(self.web_ports, 1):
            self.processes[f"daphne-{i}"] = subprocess.Popen(
                [sys.executable, "manage.py", "serve", "--port", str(port)], cwd=ROOT, env=self.env(),
                stdout=subprocess.DEVNULL, stderr=open(self.tmp / f"daphne-{i}.log", "w"))
        for port in [self.redis_port, *self.web_ports]:
            wait_port(port, timeout=60)
        self.cookie = "sessionid=" + self.manage("shell", "-c", (
            "from django.contrib.auth import get_user_model, SESSION_KEY, BACKEND_SESSION_KEY, HASH_SESSION_KEY;"
            "from django.contrib.sessions.backends.db import SessionStore;"
            "from meetings.workspaces import create_workspace;"
            "u = get_user_model().objects.create_user('bench', password='bench-pass-1'); create_workspace('Bench', u);"
            "s = SessionStore(); s[SESSION_KEY] = str(u.pk);"
            "s[BACKEND_SESSION_KEY] = 'django.contrib.auth.backends.ModelBackend';"
            "s[HASH_SESSION_KEY] = u.get_session_auth_hash(); s.create(); print(s.session_key)"))

    def server_errors(self):
        """ERROR lines the Daphne processes logged so far."""
        return sum(log.read_text().count(" ERROR ") for log in self.tmp.glob("daphne-*.log"))

    def create_meetings(self, n):
        out = self.manage("shell", "-c", (
            "from django.contrib.auth import get_user_model; from meetings.models import Meeting;"
            "from django.utils import timezone; u = get_user_model().objects.get(username='bench');"
            f"ms = Meeting.objects.bulk_create([Meeting(title='bench', source='microphone', engine='local', owner=u,"
            f" workspace=u.memberships.first().workspace, status='live', started_at=timezone.now()) for _ in range({n})]);"
            "print(','.join(str(m.pk) for m in ms))"))
        return [int(x) for x in out.split(",")]

    def stop(self):
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
        try:
            self.psql(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
        except Exception as exc:
            print(f"could not drop {self.database}: {exc}", file=sys.stderr)
        shutil.rmtree(self.tmp, ignore_errors=True)


# --------------------------------------------------------------------------- browsers


class Watchers:
    """V sockets per session; records event-to-browser latency, gaps, duplicates and failures."""

    def __init__(self):
        self.latencies = []
        self.errors = 0
        self.received = 0
        self.recording = True
        self.failures = []

    async def watch(self, url, headers, ready):
        import websockets

        last = None
        try:
            async with websockets.connect(url, additional_headers=headers, open_timeout=30, max_size=None,
                                          ping_interval=None) as ws:
                async for raw in ws:
                    now = time.time()
                    message = json.loads(raw)
                    if message["type"] == "snapshot":
                        last = message["seq"]
                        ready.release()
                        continue
                    if message["seq"] != last + 1:
                        self.errors += 1  # a gap or a duplicate
                    last = message["seq"]
                    self.received += 1
                    sent = message["event"].get("benchSentAt")
                    if sent and self.recording:
                        self.latencies.append((now - sent) * 1000)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.errors += 1
            if len(self.failures) < 3:
                self.failures.append(repr(exc)[:200])
            ready.release()


async def measure(urls_headers, sessions, viewers, start_producers, seconds):
    """Connect every socket, start the producers, collect for ``seconds`` (+ drain)."""
    watchers = Watchers()
    ready = asyncio.Semaphore(0)
    tasks = []
    for s in range(sessions):
        for v in range(viewers):
            url, headers = urls_headers(s, v)
            tasks.append(asyncio.create_task(watchers.watch(url, headers, ready)))
            if len(tasks) % 50 == 0:
                await asyncio.sleep(0.05)  # do not stampede the accept queue
    for _ in tasks:
        await asyncio.wait_for(ready.acquire(), timeout=120)
    sample, finish = await start_producers()
    await asyncio.sleep(seconds / 2)
    memory = sample()  # mid-run, with every process busy
    await asyncio.sleep(seconds / 2 + 2)
    extra = {"memory_mb": memory, **await finish()}
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return watchers, extra


def summary(latencies):
    if not latencies:
        return float("nan"), float("nan"), float("nan")
    qs = statistics.quantiles(latencies, n=100, method="inclusive")
    return qs[49], qs[98], max(latencies)


# --------------------------------------------------------------------------- runs


async def run_parley(top, sessions, viewers, seconds, runners):
    meeting_ids = top.create_meetings(sessions)
    headers = {"Cookie": top.cookie}

    def urls_headers(s, v):
        port = top.web_ports[(s * viewers + v) % len(top.web_ports)]
        return (f"ws://127.0.0.1:{port}/ws/meetings/{meeting_ids[s]}/",
                {**headers, "Origin": f"http://127.0.0.1:{port}"})

    producers = []
    errors_before = top.server_errors()

    async def start():
        for i in range(runners):
            share = meeting_ids[i::runners]
            if share:
                producers.append(subprocess.Popen(
                    [sys.executable, "-m", "bench.live", "--role", "producer", "--meetings",
                     ",".join(map(str, share)), "--seconds", str(seconds)],
                    cwd=ROOT, env=top.env(), stdout=subprocess.PIPE, text=True))

        def sample():
            memory = {name: rss_mb(p.pid) for name, p in top.processes.items()}
            memory.update({f"runner-{i + 1}": rss_mb(p.pid) for i, p in enumerate(producers)})
            memory["browsers (this process)"] = rss_mb(os.getpid())
            return memory

        async def finish():
            errors, lag = 0, 0.0
            for p in producers:
                out, _ = await asyncio.to_thread(p.communicate)
                lines = out.strip().splitlines()
                result = json.loads(lines[-1]) if lines else {"errors": 1, "lag_ms": float("nan")}
                errors += result["errors"]
                lag = max(lag, result["lag_ms"])
            server_errors = top.server_errors() - errors_before
            return {"producer_errors": errors + server_errors, "runner_lag_ms": lag}

        return sample, finish

    watchers, extra = await measure(urls_headers, sessions, viewers, start, seconds)
    return watchers, extra


async def run_reference(sessions, viewers, seconds):
    port = free_port()
    start_file = Path(tempfile.mkdtemp()) / "go"
    server = subprocess.Popen([sys.executable, "-m", "bench.live", "--role", "reference", "--port", str(port),
                               "--sessions", str(sessions), "--seconds", str(seconds), "--start-file",
                               str(start_file)], cwd=ROOT)
    await asyncio.to_thread(wait_port, port, 60)

    async def start():
        start_file.touch()

        def sample():
            return {"websockets server": rss_mb(server.pid), "browsers (this process)": rss_mb(os.getpid())}

        async def finish():
            await asyncio.to_thread(server.wait)
            return {"producer_errors": 0}

        return sample, finish

    try:
        return await measure(lambda s, v: (f"ws://127.0.0.1:{port}/{s}", {}), sessions, viewers, start, seconds)
    finally:
        if server.poll() is None:
            server.kill()


def report(name, sessions, viewers, watchers, extra):
    p50, p99, worst = summary(watchers.latencies)
    row = {"target": name, "S": sessions, "V": viewers, "sockets": sessions * viewers, "deliveries": watchers.received,
           "p50_ms": round(p50, 1), "p99_ms": round(p99, 1), "max_ms": round(worst, 1),
           "errors": watchers.errors + extra["producer_errors"], "memory_mb": {k: round(v, 1) for k, v in
                                                                                 extra["memory_mb"].items()}}
    if "runner_lag_ms" in extra:
        row["runner_lag_ms"] = round(extra["runner_lag_ms"], 1)
    memory = ", ".join(f"{k} {v:.0f}" for k, v in extra["memory_mb"].items())
    print(f"{name:9} {sessions:4}×{viewers:<3} {watchers.received:8} deliveries  p50 {p50:7.1f} ms  p99 {p99:7.1f} ms"
          f"  max {worst:7.1f} ms  errors {row['errors']}"
          + (f"  runner lag {row['runner_lag_ms']:.0f} ms" if "runner_lag_ms" in row else "")
          + f"  | RSS MB: {memory}", flush=True)
    for failure in watchers.failures:
        print(f"    socket failure: {failure}", flush=True)
    return row


def parse_configs(text):
    return [tuple(int(x) for x in item.lower().split("x")) for item in text.split(",") if item]


async def ladder(run, name, configs, seconds):
    """Each S×V in order. Returns the rows and the largest S×V whose p99 met the target with no error."""
    rows, best = [], None
    for sessions, viewers in configs:
        watchers, extra = await run(sessions, viewers, seconds)
        row = report(name, sessions, viewers, watchers, extra)
        rows.append(row)
        if row["p99_ms"] < TARGET_P99_MS and row["errors"] == 0 and (
                best is None or row["sockets"] > best["sockets"]):
            best = row
    return rows, best


async def soak(top, seconds, runners):
    """50×10 for ``seconds``: memory of every process after the warm-up and at the end."""
    sessions, viewers = 50, 10
    meeting_ids = top.create_meetings(sessions)
    watchers = Watchers()
    ready = asyncio.Semaphore(0)
    tasks = []
    for s in range(sessions):
        for v in range(viewers):
            port = top.web_ports[(s * viewers + v) % len(top.web_ports)]
            tasks.append(asyncio.create_task(watchers.watch(
                f"ws://127.0.0.1:{port}/ws/meetings/{meeting_ids[s]}/",
                {"Cookie": top.cookie, "Origin": f"http://127.0.0.1:{port}"}, ready)))
            if len(tasks) % 50 == 0:
                await asyncio.sleep(0.05)
    for _ in tasks:
        await asyncio.wait_for(ready.acquire(), timeout=120)
    errors_before = top.server_errors()
    producers = [subprocess.Popen(
        [sys.executable, "-m", "bench.live", "--role", "producer", "--meetings",
         ",".join(map(str, meeting_ids[i::runners])), "--seconds", str(seconds)],
        cwd=ROOT, env=top.env(), stdout=subprocess.PIPE, text=True) for i in range(runners)]

    def snapshot():
        memory = {name: rss_mb(p.pid) for name, p in top.processes.items()}
        memory.update({f"runner-{i + 1}": rss_mb(p.pid) for i, p in enumerate(producers)})
        memory["browsers (this process)"] = rss_mb(os.getpid())
        return memory

    warmup = min(30, seconds / 10)
    await asyncio.sleep(warmup)
    start = snapshot()
    await asyncio.sleep(seconds - warmup - 1)
    end = snapshot()
    lag = 0.0
    for p in producers:
        out, _ = await asyncio.to_thread(p.communicate)
        lines = out.strip().splitlines()
        lag = max(lag, json.loads(lines[-1])["lag_ms"] if lines else float("nan"))
    await asyncio.sleep(1)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    p50, p99, worst = summary(watchers.latencies)
    errors = watchers.errors + top.server_errors() - errors_before
    print(f"\nSoak {sessions}×{viewers} for {seconds:.0f} s: {watchers.received} deliveries, p50 {p50:.1f} ms, "
          f"p99 {p99:.1f} ms, max {worst:.1f} ms, errors {errors}, runner lag {lag:.0f} ms")
    for failure in watchers.failures:
        print(f"    socket failure: {failure}")
    print(f"  {'process':24} {'start MB':>9} {'end MB':>9} {'growth':>8}")
    rows = {}
    for name in start:
        growth = (end[name] - start[name]) / start[name] * 100
        rows[name] = {"start_mb": round(start[name], 1), "end_mb": round(end[name], 1), "growth_pct": round(growth, 2)}
        print(f"  {name:24} {start[name]:9.1f} {end[name]:9.1f} {growth:7.2f} %")
    print(f"  (start = {warmup:.0f} s into the soak, end = 1 s before it ends)", flush=True)
    return {"seconds": seconds, "p50_ms": p50, "p99_ms": p99, "errors": errors, "runner_lag_ms": lag,
            "memory": rows}


async def main_async(args):
    configs = parse_configs(args.configs)
    result = {}
    top = Topology(args.runners)
    try:
        top.start()
        print(f"Parley: 2 Daphne, {args.runners} runner processes, Redis, PostgreSQL; {args.seconds} s per "
              f"measurement; latency = engine hands the event over → browser socket has it", flush=True)
        rows, best = await ladder(lambda s, v, t: run_parley(top, s, v, t, args.runners), "parley", configs,
                                  args.seconds)
        result["parley"] = rows
        result["parley_largest_under_target"] = best and f"{best['S']}x{best['V']}"
        print(f"largest S×V with p99 < {TARGET_P99_MS} ms and no error: "
              f"{best and str(best['S']) + '×' + str(best['V'])} (of those tried)\n", flush=True)
        if not args.no_reference:
            rows, best = await ladder(run_reference, "websockets", configs, args.seconds)
            result["reference"] = rows
            result["reference_largest_under_target"] = best and f"{best['S']}x{best['V']}"
            print(f"reference: largest S×V with p99 < {TARGET_P99_MS} ms: "
                  f"{best and str(best['S']) + '×' + str(best['V'])} (of those tried)", flush=True)
        if args.soak_seconds > 0:
            result["soak"] = await soak(top, args.soak_seconds, args.runners)
    finally:
        top.stop()
    if args.json:
        print(json.dumps(result, indent=2))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", default=DEFAULT_CONFIGS, help="S×V list, e.g. 10x10,50x10,100x20")
    parser.add_argument("--seconds", type=float, default=15, help="seconds of events per measurement")
    parser.add_argument("--runners", type=int, default=2, help="runner (producer) processes")
    parser.add_argument("--soak-seconds", type=float, default=600, help="soak at 50×10; 0 skips it")
    parser.add_argument("--no-reference", action="store_true", help="skip the plain websockets reference")
    parser.add_argument("--aligned", action="store_true",
                        help="every session's final in the same 300 ms (a worst case), not at random phases")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--role", choices=["producer", "reference"], help=argparse.SUPPRESS)
    parser.add_argument("--meetings", help=argparse.SUPPRESS)
    parser.add_argument("--sessions", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--start-file", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role == "producer":
        role_producer([int(m) for m in args.meetings.split(",")], args.seconds)
    elif args.role == "reference":
        role_reference(args.port, args.sessions, args.seconds, args.start_file)
    else:
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
        if args.aligned:
            os.environ["PARLEY_BENCH_ALIGNED"] = "1"  # the producer and reference processes read it
        asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
