from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from meetings.access import pick_workspace
from meetings.importers import TranscriptFormatError, import_file


class Command(BaseCommand):
    help = ("Import a transcript file (a QMSum meeting or a Parley JSON export) as a completed meeting "
            "with speakers, utterances, insights, topics and a summary; prints the meeting's id and URL.")

    def add_arguments(self, parser):
        parser.add_argument("files", nargs="+", metavar="file")
        parser.add_argument("--owner", help="username of the owner (default: the first superuser)")
        parser.add_argument("--workspace", help="the workspace's name or id (default: the owner's first)")
        parser.add_argument("--title", help="meeting title (default: the export's title or the file name)")

    def handle(self, *args, files, owner, workspace, title, **options):
        users = get_user_model().objects
        user = users.filter(username=owner).first() if owner else users.filter(is_superuser=True).order_by("pk").first()
        if user is None:
            raise CommandError(f"No user named {owner!r}." if owner else "No superuser: pass --owner <username>.")
        found = pick_workspace(user, workspace)
        if found is None:
            raise CommandError(f"{user} is not a member of {'workspace ' + repr(workspace) if workspace else 'any workspace'}.")
        for path in files:
            try:
                meeting = import_file(path, user, found, title=title)
            except (TranscriptFormatError, OSError) as exc:
                raise CommandError(f"{path}: {exc} Nothing was imported from it.") from None
            self.stdout.write(f"{meeting.pk}\t{meeting.get_absolute_url()}\t{meeting.title}: "
                              f"{meeting.utterances.count()} utterances, {meeting.insights.count()} insights, "
                              f"{meeting.topics.count()} topics")
