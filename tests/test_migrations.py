"""The models and the migrations agree: a model change without its migration fails here, not on
someone's first ``migrate`` after an upgrade."""
import io

import pytest
from django.core.management import call_command


@pytest.mark.django_db
def test_every_model_change_has_its_migration():
    out = io.StringIO()
    try:
        call_command("makemigrations", "--check", "--dry-run", stdout=out, stderr=out)
    except SystemExit as exc:  # --check exits non-zero when a migration is missing
        raise AssertionError(f"missing migrations:\n{out.getvalue()}") from exc
