from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from meetings.models import ApiToken


class Command(BaseCommand):
    help = "Create an API token for a user and print it, alone on one line (it is not shown again)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", default="command line")

    def handle(self, *args, username, name, **options):
        try:
            user = get_user_model().objects.get(username=username)
        except get_user_model().DoesNotExist:
            raise CommandError(f"No user named {username!r}.") from None
        _, plaintext = ApiToken.issue(user, name)
        self.stdout.write(plaintext)
