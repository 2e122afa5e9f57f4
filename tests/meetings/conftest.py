"""Real meetings imported once per test module (QMSum ES2004a and education_13, tests/data/meetings)."""
import pytest
from django.contrib.auth.models import User

from meetings.importers import import_file
from meetings.models import Meeting
from tests.conftest import DATA


@pytest.fixture(scope="module")
def corpus(django_db_setup, django_db_blocker):
    """ana owns the AMI product-design kick-off, ben the Welsh Parliament committee; sam is staff."""
    with django_db_blocker.unblock():
        ana = User.objects.create_user("ana-corpus", password="ana-pass-1")
        ben = User.objects.create_user("ben-corpus", password="ben-pass-1")
        staff = User.objects.create_user("sam-corpus", password="sam-pass-1", is_staff=True)
        ami = import_file(DATA / "meetings" / "ES2004a.json", ana, title="Remote control kick-off")
        senedd = import_file(DATA / "meetings" / "education_13.json", ben, title="Committee evidence")
        yield {"ana": ana, "ben": ben, "staff": staff, "ami": ami, "senedd": senedd}
        Meeting.objects.filter(pk__in=[ami.pk, senedd.pk]).delete()
        User.objects.filter(pk__in=[ana.pk, ben.pk, staff.pk]).delete()
