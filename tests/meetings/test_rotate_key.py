"""``manage.py rotate_encryption_key``: every stored secret moves to the newest key, so the old key
can be dropped; a secret no key opens is a clear error naming the account, and nothing changes."""
import io

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command

from meetings.crypto import SecretError
from meetings.models import ProviderAccount
from tests.accounts import provider_account

pytestmark = pytest.mark.django_db

OLD, NEW = Fernet.generate_key().decode(), Fernet.generate_key().decode()


def rotate():
    out = io.StringIO()
    call_command("rotate_encryption_key", stdout=out)
    return out.getvalue()


def test_with_two_keys_every_secret_moves_to_the_new_one(settings, workspace, other_workspace):
    settings.ENCRYPTION_KEY = OLD
    deepgram = provider_account(workspace, "deepgram", api_key="deepgram-key-4711")
    zoom = provider_account(other_workspace, "zoom", client_secret="zoom-secret-4711", webhook_secret_token="hook-4711")
    empty = ProviderAccount.objects.create(workspace=workspace, provider="symbl", config={"app_id": "acme-app"})
    before = {a.pk: a.encrypted_secrets for a in (deepgram, zoom)}

    settings.ENCRYPTION_KEY = f"{NEW},{OLD}"
    out = rotate()
    assert ("Re-encrypted the secrets of 2 provider account(s) under the newest of 2 key(s); "
            "1 account(s) hold no secret.") in out

    settings.ENCRYPTION_KEY = NEW  # the old key is gone
    deepgram.refresh_from_db(), zoom.refresh_from_db(), empty.refresh_from_db()
    assert deepgram.secrets() == {"api_key": "deepgram-key-4711"}
    assert zoom.secrets() == {"client_secret": "zoom-secret-4711", "webhook_secret_token": "hook-4711"}
    assert empty.encrypted_secrets == ""
    assert all(before[a.pk] != a.encrypted_secrets for a in (deepgram, zoom))
    assert Fernet(NEW.encode()).decrypt(deepgram.encrypted_secrets.encode())


def test_without_rotation_dropping_the_old_key_loses_the_secrets(settings, workspace):
    # What the command exists for: the same steps minus the rotation fail.
    settings.ENCRYPTION_KEY = OLD
    account = provider_account(workspace, "deepgram", api_key="deepgram-key-4711")
    settings.ENCRYPTION_KEY = NEW
    account.refresh_from_db()
    with pytest.raises(SecretError):
        account.secrets()


def test_a_secret_no_key_opens_names_the_account_and_changes_nothing(settings, workspace):
    settings.ENCRYPTION_KEY = OLD
    good = provider_account(workspace, "assemblyai", api_key="assemblyai-key-4711")
    settings.ENCRYPTION_KEY = Fernet.generate_key().decode()
    lost = provider_account(workspace, "twilio", auth_token="twilio-token-4711")
    settings.ENCRYPTION_KEY = f"{NEW},{OLD}"
    with pytest.raises(CommandError) as raised:
        rotate()
    message = str(raised.value)
    assert f"Twilio for Acme account (id {lost.pk})" in message and "twilio-token-4711" not in message
    assert "Nothing was changed" in message
    before = good.encrypted_secrets
    good.refresh_from_db()
    assert good.encrypted_secrets == before


def test_generate_prints_a_fresh_key_and_changes_nothing(settings, workspace):
    settings.ENCRYPTION_KEY = OLD
    account = provider_account(workspace, "deepgram", api_key="deepgram-key-4711")
    out, err = io.StringIO(), io.StringIO()
    call_command("rotate_encryption_key", "--generate", stdout=out, stderr=err)
    key = out.getvalue().strip()
    Fernet(key.encode())  # a valid Fernet key
    assert key not in (OLD, NEW) and "first in PARLEY_ENCRYPTION_KEY" in err.getvalue()
    before = account.encrypted_secrets
    account.refresh_from_db()
    assert account.encrypted_secrets == before
