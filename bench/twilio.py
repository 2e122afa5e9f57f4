"""Benchmark of Twilio calls into one Parley process, on the symbl engine, against the emulators.

    .venv/bin/python -m bench.twilio [--ns 1,10,50,100,200] [--seconds 20] [--ramp 0] [--no-peer] [--json]

For each N: N simultaneous calls (placed at the same instant, or one every ``ramp / N`` s) placed
by the Twilio emulator (``tests/fakes/twilio.py``: signed
voice webhook, signed media socket, 20 ms mu-law frames of a real recording at real-time pace,
``<Connect>`` calls, so the inbound track) into one Parley server process (Daphne with its
embedded session runners, the Twilio routes composed as proposed for ``config/asgi.py``), each
call's audio forwarded to the Symbl emulator's Streaming API. Printed per N:

* frames/s: media frames that reached Symbl per second of the load;
* p99 delay (ms): from a frame leaving the Twilio emulator to its bytes reaching the Symbl emulator
  (the same clock, in this process: an upper bound of Parley's arrival-to-forwarding delay, the
  two loopback hops included). ``all`` counts every frame, so Parley's ~100 ms aggregation
  (5 frames a send, as Symbl's guidance asks) shows as up to 80 ms of waiting; ``sent`` counts
  the frames that complete a send (for a relay that forwards each frame, every frame);
* CPU s per call-minute: the server process's user+system CPU time over the load, per minute of
  call; ``under way``: the same while every call is in progress (from 3 s after the last call was
  placed to 1 s before the first one ends), and ``setup ms/call``: what the rest of the load cost
  per call beyond that rate (answering the webhook, starting and ending the session; for Parley
  also reconciling the call with Symbl's Conversation API, eager on the embedded default);
* late: frames that had not reached Symbl 2 s after the last call ended;
* pace: whether every frame arrived and the p99 ``sent`` delay is under 50 ms.

Delays are those of a call in progress: frames of a call's first 2 s, which wait while the
session starts (Parley: a runner claims the meeting and opens Symbl; the relay: it opens Symbl),
are left out of them and shown apart (``p99 start``). One warm-up call runs before the loads.

Then the largest N that keeps pace. The same load then goes through two minimal relays that only
forward audio and drop what Symbl answers: the same relay as a bare ASGI app under Daphne
(``bench/peers/daphne_relay.py``: what Parley's server stack costs before Parley does anything),
and, with Node (``bench/peers``, ``npm ci`` on first use), a Node relay (Express and ws, the shape of
Symbl's Twilio post, forwarding each frame as it comes); all are printed side by side.

A benchmark, not a test: it prints figures and never fails on them. The load generator and the
Symbl emulator share this process; its own CPU is printed too, since on a small machine it can be
what saturates first.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PEERS = ROOT / "bench" / "peers"
RECORDING = ROOT / "tests" / "data" / "audio" / "two_cities.flac"
ACCOUNT_SID, AUTH_TOKEN = "AC" + "0123456789abcdef" * 2, "bench-auth-token"
APP_ID, APP_SECRET = "bench-app", "bench-secret"
TARGET_MS = 50
STARTUP_S = 2.0  # a call's first seconds: its frames wait while the session starts (counted apart)
FRAMES_PER_SEND = 5  # Parley's consumer: 800 bytes of mu-law (100 ms) a send


def cpu_seconds(pid):
    """User + system CPU seconds of process ``pid`` (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values, q):
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


# -- the Parley server ---------------------------------------------------------------------------


def serve(port):
    """Daphne with Parley's HTTP app, the Twilio media socket (without the browser Origin check:
    the proposed config/asgi.py) and the embedded session runners."""
    import daphne.server  # noqa: F401  (installs Twisted's asyncio reactor first)
    import django

    django.setup()
    from channels.routing import ProtocolTypeRouter, URLRouter
    from daphne.server import Server
    from django.core.asgi import get_asgi_application

    from streaming import gc_tuning
    from streaming.runners import ensure_embedded_pool
    from telephony.routing import websocket_urlpatterns

    application = ProtocolTypeRouter({"http": get_asgi_application(), "websocket": URLRouter(websocket_urlpatterns)})
    profile = os.environ.get("BENCH_PROFILE")  # a path: where the server's cProfile statistics go
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    def ready():
        gc_tuning.settle()  # as manage.py serve does
        asyncio.get_event_loop().call_soon(ensure_embedded_pool)

    Server(application=application, endpoints=[f"tcp:port={port}:interface=127.0.0.1"], ready_callable=ready,
           application_close_timeout=10, verbosity=0).run()
    if profile:
        profiler.disable()
        profiler.dump_stats(profile)


def free_port():
    from tests.net import free_port as free

    return free()


async def wait_port(port, timeout=60):
    deadline = time.monotonic() + timeout
    while True:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"nothing listens on {port}")
            await asyncio.sleep(0.2)


def start_parley(data, symbl):
    port = free_port()
    env = {**os.environ, "PARLEY_DATA_DIR": str(data), "DJANGO_SETTINGS_MODULE": "config.settings",
           "SYMBL_API_URL": symbl.api_url, "SYMBL_WS_URL": symbl.ws_url, "SYMBL_APP_ID": APP_ID,
           "SYMBL_APP_SECRET": APP_SECRET, "TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
           "PARLEY_ADMIN_PASSWORD": "bench-admin-pass", "PARLEY_MAX_SESSIONS": "1000", "LOG_LEVEL": "WARNING",
           "DEBUG": "false"}
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    for command in (["migrate", "--noinput"], ["ensure_admin"]):
        subprocess.run([sys.executable, "manage.py", *command], cwd=ROOT, env=env, check=True, capture_output=True)
    log = open(data / "server.log", "w")
    process = subprocess.Popen([sys.executable, "-m", "bench.twilio", "--serve", str(port)], cwd=ROOT, env=env,
                               stdout=log, stderr=subprocess.STDOUT)
    return process, port, f"http://127.0.0.1:{port}/telephony/twilio/voice?engine=symbl"


def start_daphne_relay(symbl):
    port = free_port()
    env = {**os.environ, "SYMBL_API_URL": symbl.api_url, "SYMBL_WS_URL": symbl.ws_url, "SYMBL_APP_ID": APP_ID,
           "SYMBL_APP_SECRET": APP_SECRET}
    process = subprocess.Popen([sys.executable, "-m", "bench.peers.daphne_relay", str(port)], cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return process, port, f"http://127.0.0.1:{port}/voice"


def start_node(symbl):
    if not shutil.which("node"):
        return None
    if not (PEERS / "node_modules").exists():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=PEERS, check=True, capture_output=True)
    port = free_port()
    env = {**os.environ, "PORT": str(port), "SYMBL_API_URL": symbl.api_url, "SYMBL_WS_URL": symbl.ws_url,
           "SYMBL_APP_ID": APP_ID, "SYMBL_APP_SECRET": APP_SECRET}
    process = subprocess.Popen(["node", "relay.js"], cwd=PEERS, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    return process, port, f"http://127.0.0.1:{port}/voice"


# -- the load ------------------------------------------------------------------------------------


def timed_symbl():
    from tests.fakes.symbl import SymblEmulator

    class TimedSymbl(SymblEmulator):
        """The Symbl emulator, noting when each connection's audio bytes arrive."""

        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.arrivals = defaultdict(list)  # connection id -> [(monotonic s, bytes received so far)]

        async def _advance(self, connection, request, flush=False):
            if request is not None:
                self.arrivals[connection.id].append((time.monotonic(), connection.received_bytes))
            return await super()._advance(connection, request, flush)

    return TimedSymbl(app_id=APP_ID, app_secret=APP_SECRET)


async def steady_cpu(pid, seconds, ramp):
    """``(CPU s, s)`` of process ``pid`` while every call is under way: from STARTUP_S + 1 s after
    the last was placed to 1 s before the first one's recording ends (setups and teardowns left out)."""
    start, end = ramp + STARTUP_S + 1, seconds - 1
    if end - start < 2:
        return 0.0, 0.0
    await asyncio.sleep(start)
    cpu, at = cpu_seconds(pid), time.monotonic()
    await asyncio.sleep(end - start)
    return cpu_seconds(pid) - cpu, time.monotonic() - at


async def load(twilio, symbl, voice_url, pid, n, seconds, offset, ramp=0.0):
    """Place ``n`` calls, at once or one every ``ramp / n`` s; returns the figures of this load."""
    symbl.arrivals.clear()
    numbers = [f"+1415{offset + i:07d}" for i in range(n)]
    cpu_before, cpu_self_before, began = cpu_seconds(pid), time.process_time(), time.monotonic()
    steady = asyncio.create_task(steady_cpu(pid, seconds, ramp))

    async def call(i, number):
        await asyncio.sleep(i * ramp / n)
        return await twilio.place_call(voice_url, account_sid=ACCOUNT_SID, from_=number, inbound=RECORDING,
                                       max_ms=seconds * 1000, speed=1.0)

    results = await asyncio.gather(*(call(i, number) for i, number in enumerate(numbers)), return_exceptions=True)
    ended = time.monotonic()
    steady_cpu_s, steady_s = await steady
    await asyncio.sleep(2)  # the last sends and the Symbl stops
    cpu_after, cpu_self_after = cpu_seconds(pid), time.process_time()
    by_caller = {}
    for connection in list(symbl.connections.values()):
        speaker = ((connection.start or {}).get("speaker") or {}).get("name")
        if speaker in numbers and connection.id in symbl.arrivals:
            by_caller[speaker] = symbl.arrivals[connection.id]
    delays_all, delays_sent, startup, sent_frames, arrived_frames, last_arrival = [], [], [], 0, 0, began
    for number, result in zip(numbers, results):
        if isinstance(result, BaseException) or not result.sent_at.get("inbound"):
            continue
        sent = result.sent_at["inbound"]
        sent_frames += len(sent)
        arrivals = by_caller.get(number, [])
        index = 0
        for k, at in enumerate(sent):
            needed = (k + 1) * 160
            while index < len(arrivals) and arrivals[index][1] < needed:
                index += 1
            if index == len(arrivals):
                break
            arrived_frames += 1
            delay = (arrivals[index][0] - at) * 1000
            if at - sent[0] < STARTUP_S:
                startup.append(delay)
                continue
            delays_all.append(delay)
            if arrivals[index][1] == needed:  # this frame's last byte ended a send
                delays_sent.append(delay)
        if arrivals:
            last_arrival = max(last_arrival, arrivals[-1][0])
    duration = max(last_arrival, ended) - began
    failures = sum(isinstance(r, BaseException) or r.status != 200 for r in results)
    p99_sent = percentile(delays_sent, 99)
    steady_rate = steady_cpu_s / (n * steady_s) if steady_s else float("nan")  # CPU s per call-second
    return {
        "n": n, "calls_failed": failures, "frames_sent": sent_frames, "frames_arrived": arrived_frames,
        "frames_per_s": arrived_frames / duration if duration else 0.0,
        "p50_ms": percentile(delays_all, 50), "p99_all_ms": percentile(delays_all, 99), "p99_sent_ms": p99_sent,
        "p99_startup_ms": percentile(startup, 99),
        "cpu_s_per_call_minute": (cpu_after - cpu_before) / (n * seconds / 60),
        "steady_cpu_s_per_call_minute": steady_rate * 60,
        "setup_cpu_ms_per_call": ((cpu_after - cpu_before) - steady_rate * n * seconds) / n * 1000,
        "bench_cpu_s": cpu_self_after - cpu_self_before,
        "keeps_pace": failures == 0 and arrived_frames == sent_frames and p99_sent < TARGET_MS,
    }


def table(name, rows):
    print(f"\n{name}")
    print(f"{'N':>5} {'frames/s':>9} {'p50 ms':>7} {'p99 all':>8} {'p99 sent':>9} {'p99 start':>10} {'CPU s/call-min':>15} "
          f"{'under way':>10} {'setup ms/call':>14} {'bench CPU s':>12} {'late':>6}  pace")
    for r in rows:
        print(f"{r['n']:>5} {r['frames_per_s']:>9.0f} {r['p50_ms']:>7.1f} {r['p99_all_ms']:>8.1f} {r['p99_sent_ms']:>9.1f} "
              f"{r['p99_startup_ms']:>10.1f} "
              f"{r['cpu_s_per_call_minute']:>15.3f} {r['steady_cpu_s_per_call_minute']:>10.3f} "
              f"{r['setup_cpu_ms_per_call']:>14.0f} {r['bench_cpu_s']:>12.1f} "
              f"{r['frames_sent'] - r['frames_arrived']:>6}  {'yes' if r['keeps_pace'] else 'no'}")
    largest = 0
    for r in rows:
        if not r["keeps_pace"]:
            break
        largest = r["n"]
    print(f"largest N that keeps pace (p99 < {TARGET_MS} ms, no frame late): {largest or 'none'}")
    return largest


async def bench(ns, seconds, peer, ramp=0.0):
    from tests.fakes.twilio import TwilioFake

    symbl = timed_symbl()
    await symbl.start()
    twilio = TwilioFake(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN)
    data = Path(tempfile.mkdtemp(prefix="parley-bench-twilio-"))
    servers = {"Parley": start_parley(data, symbl)}
    if peer:
        servers["Daphne relay (bare ASGI)"] = start_daphne_relay(symbl)
        node = start_node(symbl)
        if node:
            servers["Node relay (ws)"] = node
    figures = {}
    try:
        for name, (process, port, voice_url) in servers.items():
            await wait_port(port)
            # One call first: the server's first request, the first token, the first Symbl socket.
            await load(twilio, symbl, voice_url, process.pid, 1, 3, offset=9_000_000)
            rows = []
            for i, n in enumerate(ns):
                rows.append(await load(twilio, symbl, voice_url, process.pid, n, seconds, offset=i * 1000, ramp=ramp))
                print(f"{name} N={n}: {rows[-1]['frames_per_s']:.0f} frames/s, p99 {rows[-1]['p99_sent_ms']:.1f} ms",
                      file=sys.stderr, flush=True)
            figures[name] = rows
    finally:
        for process, _, _ in servers.values():
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:  # sessions still closing: the figures are taken
                process.kill()
                process.wait(10)
        await symbl.stop()
        shutil.rmtree(data, ignore_errors=True)
    return figures


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.twilio", description=__doc__.split("\n\n")[0])
    parser.add_argument("--ns", default="1,10,50,100,200", help="simultaneous calls, comma-separated")
    parser.add_argument("--seconds", type=int, default=20, help="length of each call (s of a real recording)")
    parser.add_argument("--ramp", type=float, default=0.0,
                        help="seconds over which each load's calls are placed (0: all at the same instant)")
    parser.add_argument("--no-peer", action="store_true", help="skip the relays Parley is compared with")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--serve", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    if args.serve:
        serve(args.serve)
        return
    ns = [int(n) for n in args.ns.split(",")]
    figures = asyncio.run(bench(ns, args.seconds, not args.no_peer, args.ramp))
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    placed = f"placed over {args.ramp:g} s" if args.ramp else "placed at the same instant"
    print(f"\n{len(ns)} loads of simultaneous {args.seconds}-s Twilio calls ({placed}) at real-time pace, symbl "
          f"engine, on {os.cpu_count()} CPUs")
    largest = {name: table(name, rows) for name, rows in figures.items()}
    if len(figures) > 1:
        names = list(figures)
        for key, what in (("cpu_s_per_call_minute", "CPU s per call-minute, whole calls"),
                          ("steady_cpu_s_per_call_minute", "CPU s per call-minute, calls under way")):
            print(f"\n{what}, {' / '.join(names)}: " + ", ".join(
                f"N={rows[0]['n']}: " + " / ".join(f"{r[key]:.3f}" for r in rows) for rows in zip(*figures.values())))
        print("largest N keeping pace: " + ", ".join(f"{name} {largest[name]}" for name in names))


if __name__ == "__main__":
    main()
