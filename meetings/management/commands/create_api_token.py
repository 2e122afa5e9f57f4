from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from meetings.access import pick_workspace
from meetings.models import ApiToken


class Command(BaseCommand):
    help = ("Create an API token for a user in one of their workspaces and print it, alone on one line "
            "(it is not shown again).")

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", default="command line")
        parser.add_argument("--workspace", help="the workspace's name or id (default: the user's first)")

    def handle(self, *args, username, name, workspace, **options):
        try:
            user = get_user_model().objects.get(username=username)
        except get_user_model().DoesNotExist:
            raise CommandError(f"No user named {username!r}.") from None
        found = pick_workspace(user, workspace)
        if found is None:
            raise CommandError(f"{username} is not a member of {'workspace ' + repr(workspace) if workspace else 'any workspace'}.")
        _, plaintext = ApiToken.issue(user, found, name)
        self.stdout.write(plaintext)
