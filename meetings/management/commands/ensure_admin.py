"""``manage.py ensure_admin``: create the first admin user ``admin`` if there is none.

The password comes from ``PARLEY_ADMIN_PASSWORD``, or is generated and printed once. Safe to run
again: an existing ``admin`` is left as it is.
"""
import os
import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create the first admin user 'admin' (password from PARLEY_ADMIN_PASSWORD, or generated and printed)."

    def handle(self, *args, **options):
        User = get_user_model()
        if User.objects.filter(username="admin").exists():
            self.stdout.write("Admin user 'admin' already exists.")
            return
        password = os.environ.get("PARLEY_ADMIN_PASSWORD") or secrets.token_urlsafe(12)
        User.objects.create_superuser("admin", email="", password=password)
        if os.environ.get("PARLEY_ADMIN_PASSWORD"):
            self.stdout.write("Created admin user 'admin' with the password from PARLEY_ADMIN_PASSWORD.")
        else:
            self.stdout.write(f"Created admin user 'admin' with password: {password}")
