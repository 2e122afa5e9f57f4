"""``manage.py ensure_admin``: create the first admin user ``admin`` and the first workspace if
there are none, and seed the first workspace's provider accounts from the environment
(``SYMBL_APP_ID``, ``ZOOM_CLIENT_ID``, … — :func:`meetings.providers.seed_from_environment`) for
each provider it has no account for yet.

The password comes from ``PARLEY_ADMIN_PASSWORD``, or is generated and printed once. Safe to run
again: an existing ``admin`` is left as it is, and is made admin of the first workspace only when
no workspace exists yet.
"""
import os
import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from meetings.models import Workspace
from meetings.providers import seed_from_environment
from meetings.workspaces import create_workspace


class Command(BaseCommand):
    help = ("Create the first admin user 'admin' (password from PARLEY_ADMIN_PASSWORD, or generated and printed) "
            "and the first workspace; seed its provider accounts from the environment.")

    def handle(self, *args, **options):
        User = get_user_model()
        admin = User.objects.filter(username="admin").first()
        if admin is not None:
            self.stdout.write("Admin user 'admin' already exists.")
        else:
            password = os.environ.get("PARLEY_ADMIN_PASSWORD") or secrets.token_urlsafe(12)
            admin = User.objects.create_superuser("admin", email="", password=password)
            if os.environ.get("PARLEY_ADMIN_PASSWORD"):
                self.stdout.write("Created admin user 'admin' with the password from PARLEY_ADMIN_PASSWORD.")
            else:
                self.stdout.write(f"Created admin user 'admin' with password: {password}")
        if not Workspace.objects.exists():
            workspace = create_workspace(os.environ.get("PARLEY_WORKSPACE_NAME", "My workspace"), admin)
            self.stdout.write(f"Created workspace {workspace.name!r} with 'admin' as its admin.")
        first = Workspace.objects.order_by("pk").first()
        for account in seed_from_environment(first):
            self.stdout.write(f"Set {account} from the environment.")
