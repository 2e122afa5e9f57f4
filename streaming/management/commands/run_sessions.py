"""``manage.py run_sessions``: a session-runner worker process for the production topology."""
import asyncio

from django.core.management.base import BaseCommand

from streaming.runners import RunnerPool


class Command(BaseCommand):
    help = "Claim and run sessions (run several of these; each session runs in exactly one)."

    def add_arguments(self, parser):
        parser.add_argument("--max-sessions", type=int, default=None)

    def handle(self, *args, max_sessions, **options):
        pool = RunnerPool(embedded=False, max_sessions=max_sessions)
        self.stdout.write(f"runner {pool.runner_id} started")
        asyncio.run(pool.serve())
