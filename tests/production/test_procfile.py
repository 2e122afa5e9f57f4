"""The Procfile, run by honcho as ``make run-prod`` does: every process of the topology comes up,
in production mode, and a session uploaded through one web process is run by the runner."""
import os
import secrets
import signal
import subprocess
import sys
from pathlib import Path

import httpx
from cryptography.fernet import Fernet

from .stack import ROOT, free_port, wait_port, wait_until

DATA = Path(__file__).resolve().parents[1] / "data"


def test_the_procfile_runs_two_web_processes_a_runner_a_celery_worker_and_beat(stack):
    stack.manage("shell", "-c", "from django.contrib.auth import get_user_model;"
                 "from meetings.workspaces import create_workspace;"
                 "create_workspace('Carol', get_user_model().objects.create_user('carol', password='carol-pass-1'))")
    token = stack.manage("create_api_token", "carol").strip().splitlines()[-1]
    base_port = free_port(count=2)  # web.1 and web.2 listen on it and the next
    env = stack.env(PARLEY_PRODUCTION="true", DEBUG="false", SECRET_KEY=secrets.token_urlsafe(40),
                    PARLEY_ENCRYPTION_KEY=Fernet.generate_key().decode(),
                    PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    env.pop("PARLEY_RUNNERS_IN_PROCESS")  # the production default must keep sessions out of Daphne
    log = open(stack.workdir / "honcho.log", "w")
    honcho = subprocess.Popen(
        [str(Path(sys.executable).parent / "honcho"), "start", "-f", "Procfile", "-c", "web=2,runner=1,worker=1,beat=1",
         "-p", str(base_port)], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        for port in (base_port, base_port + 1):
            wait_port(port, timeout=40)
            assert httpx.get(f"http://127.0.0.1:{port}/accounts/login/").status_code == 200
        with open(DATA / "audio" / "beckett.flac", "rb") as audio:
            response = httpx.post(f"http://127.0.0.1:{base_port + 1}/api/v1/meetings/",
                                  headers={"Authorization": f"Bearer {token}"},
                                  files={"file": ("beckett.flac", audio)}, data={"title": "Procfile"}, timeout=30)
        assert response.status_code == 201, response.text
        meeting_id = response.json()["id"]
        wait_until(lambda: stack.meeting(meeting_id)["status"] in ("completed", "failed"), 40, "the session's end")
        assert stack.meeting(meeting_id)["status"] == "completed", stack.meeting(meeting_id)["failure_reason"]
        output = lambda: (stack.workdir / "honcho.log").read_text()  # noqa: E731
        wait_until(lambda: "ready." in output() and "beat: Starting" in output(), 30, "Celery worker and beat")
        text = output()
        # The session ran in the runner process, not in a web process.
        assert "runner.1 |" in text and f"claimed meeting {meeting_id}" in text
        assert not any(f"web.{i} |" in line and "claimed meeting" in line for line in text.splitlines() for i in (1, 2))
    finally:
        os.killpg(honcho.pid, signal.SIGTERM)
        try:
            honcho.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(honcho.pid, signal.SIGKILL)
            honcho.wait()
