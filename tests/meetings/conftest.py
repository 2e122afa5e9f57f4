"""Real meetings imported once per test module (QMSum ES2004a and education_13, tests/data/meetings)."""
import pytest
from django.contrib.auth.models import User

from meetings.importers import import_file
from meetings.models import Meeting, Workspace
from tests.conftest import DATA, join


@pytest.fixture(scope="module")
def corpus(django_db_setup, django_db_blocker):
    """ana's workspace holds the AMI product-design kick-off, ben's the Welsh Parliament committee;
    sam reviews in both."""
    with django_db_blocker.unblock():
        ana_ws, ben_ws = Workspace.objects.create(name="Design team"), Workspace.objects.create(name="Senedd")
        ana = join(User.objects.create_user("ana-corpus", password="ana-pass-1"), ana_ws)
        ben = join(User.objects.create_user("ben-corpus", password="ben-pass-1"), ben_ws)
        staff = join(join(User.objects.create_user("sam-corpus", password="sam-pass-1"), ana_ws, "reviewer"),
                     ben_ws, "reviewer")
        ami = import_file(DATA / "meetings" / "ES2004a.json", ana, ana_ws, title="Remote control kick-off")
        senedd = import_file(DATA / "meetings" / "education_13.json", ben, ben_ws, title="Committee evidence")
        yield {"ana": ana, "ben": ben, "staff": staff, "ami": ami, "senedd": senedd,
               "ana_ws": ana_ws, "ben_ws": ben_ws}
        Meeting.objects.filter(pk__in=[ami.pk, senedd.pk]).delete()
        User.objects.filter(pk__in=[ana.pk, ben.pk, staff.pk]).delete()
        Workspace.objects.filter(pk__in=[ana_ws.pk, ben_ws.pk]).delete()
