"""Real processes for the production tests: a throwaway PostgreSQL database, a throwaway
redis-server, ``manage.py`` workers and Daphne, and a TCP proxy that can cut PostgreSQL.

Nothing here touches the shared services beyond creating and dropping its own database.
"""
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg

from tests.net import free_port, wait_port  # noqa: F401  (the production tests import them from here)

ROOT = Path(__file__).resolve().parents[2]
PG_HOST, PG_PORT, PG_USER = "127.0.0.1", 5432, "postgres"


class RedisServer:
    """A redis-server of our own on a free port: restarting it disturbs nobody else."""

    def __init__(self, workdir):
        self.port = free_port()
        self.workdir = workdir
        self.process = None

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self):
        self.process = subprocess.Popen(
            [shutil.which("redis-server"), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        wait_port(self.port)

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


class Database:
    """A PostgreSQL database of our own on the shared server, migrated once, dropped at the end."""

    def __init__(self):
        self.name = f"parley_prod_{os.getpid()}"

    def admin(self):
        return psycopg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname="postgres", autocommit=True)

    def url(self, port=PG_PORT):
        return f"postgres://{PG_USER}@127.0.0.1:{port}/{self.name}"

    def create(self):
        with self.admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{self.name}"')

    def drop(self):
        with self.admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')

    def query(self, sql, params=()):
        with psycopg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname=self.name, autocommit=True) as conn:
            return conn.execute(sql, params).fetchall()


class Stack:
    """The environment and processes of one production topology under test."""

    def __init__(self, database, redis, workdir):
        self.database, self.redis, self.workdir = database, redis, workdir
        self.processes = []
        self.database_port = PG_PORT

    def env(self, **extra):
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST"))}
        env.update(
            DJANGO_SETTINGS_MODULE="config.settings",
            DATABASE_URL=self.database.url(self.database_port),
            REDIS_URL=self.redis.url,
            PARLEY_DATA_DIR=str(self.workdir / "data"),
            MEDIA_ROOT=str(self.workdir / "media"),
            PARLEY_RUNNERS_IN_PROCESS="false",
            PYTHONUNBUFFERED="1",
        )
        env.update({k: str(v) for k, v in extra.items()})
        return env

    def manage(self, *args, env=None, timeout=120):
        result = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env or self.env(),
                                capture_output=True, text=True, timeout=timeout)
        assert result.returncode == 0, result.stderr[-3000:]
        return result.stdout

    def spawn(self, name, *args, env=None):
        log = open(self.workdir / f"{name}.log", "w")
        process = subprocess.Popen([sys.executable, "manage.py", *args], cwd=ROOT, env=env or self.env(),
                                   stdout=log, stderr=subprocess.STDOUT)
        process.log_path = self.workdir / f"{name}.log"
        self.processes.append(process)
        return process

    def log(self, process):
        return process.log_path.read_text()

    def stop_all(self):
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.processes.clear()

    def create_upload(self, recording, realtime=True, owner="alice"):
        """Create a user and an upload meeting; returns the meeting id."""
        code = (
            "from django.contrib.auth import get_user_model; from django.core.files import File;"
            "from meetings.models import Meeting; from meetings.workspaces import create_workspace;"
            "from streaming.audio import probe;"
            f"u, new = get_user_model().objects.get_or_create(username={owner!r});"
            "w = create_workspace('Production', u) if new else u.memberships.first().workspace;"
            f"m = Meeting(title='Production test', source='upload', engine='local', owner=u, workspace=w, realtime={realtime});"
            f"m.recording.save({Path(recording).name!r}, File(open({str(recording)!r}, 'rb')), save=False);"
            f"m.duration_ms = probe({str(recording)!r}).duration_ms; m.save(); print(m.pk)"
        )
        return int(self.manage("shell", "-c", code).strip().splitlines()[-1])

    def finals(self, meeting_id):
        return self.database.query(
            "SELECT message_id, start_ms, end_ms, text FROM meetings_utterance"
            " WHERE meeting_id = %s ORDER BY start_ms", (meeting_id,))

    def meeting(self, meeting_id):
        row = self.database.query(
            "SELECT status, failure_reason, runner_id, last_seq FROM meetings_meeting WHERE id = %s", (meeting_id,))[0]
        return dict(zip(("status", "failure_reason", "runner_id", "last_seq"), row))

    def event_seqs(self, meeting_id):
        return [r[0] for r in self.database.query(
            "SELECT seq FROM meetings_meetingevent WHERE meeting_id = %s ORDER BY seq", (meeting_id,))]


def wait_until(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.1)


class CuttableProxy:
    """A TCP proxy to PostgreSQL that can be cut: every connection dropped and new ones refused."""

    def __init__(self, target_port=PG_PORT):
        self.target_port = target_port
        self.port = free_port()
        self._open = threading.Event()
        self._open.set()
        self._sockets = set()
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._listener.settimeout(0.2)
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except (TimeoutError, OSError):
                continue
            if not self._open.is_set():
                client.close()  # refused while cut: the client sees a connection reset
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets |= {client, upstream}
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, src, dst):
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()

    def cut(self):
        self._open.clear()
        with self._lock:
            sockets, self._sockets = self._sockets, set()
        for s in sockets:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def restore(self):
        self._open.set()

    def close(self):
        self._closed = True
        self.cut()
        self._listener.close()
