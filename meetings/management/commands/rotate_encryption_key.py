"""``manage.py rotate_encryption_key``: re-encrypt every provider account's secrets under the
newest key of ``PARLEY_ENCRYPTION_KEY`` (:func:`meetings.crypto.rotate`, MultiFernet.rotate).

Rotating a key: ``manage.py rotate_encryption_key --generate`` prints a fresh Fernet key; put it
first in ``PARLEY_ENCRYPTION_KEY`` (``new,old``), restart, run this command, then drop the old key.
All accounts are re-encrypted in one transaction: when one cannot be decrypted with any key, the
command names it and changes nothing.
"""
from cryptography.fernet import Fernet
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from meetings import crypto
from meetings.models import ProviderAccount


class Command(BaseCommand):
    help = "Re-encrypt every provider account's secrets under the first key of PARLEY_ENCRYPTION_KEY."

    def add_arguments(self, parser):
        parser.add_argument("--generate", action="store_true",
                            help="Print a fresh key to put first in PARLEY_ENCRYPTION_KEY, and change nothing.")

    def handle(self, *args, generate=False, **options):
        if generate:
            self.stdout.write(Fernet.generate_key().decode())
            self.stderr.write("Put this key first in PARLEY_ENCRYPTION_KEY (new,old), restart Parley, then run "
                              "manage.py rotate_encryption_key; remove the old key afterwards.")
            return
        try:
            keys = crypto.keys()
            crypto.fernet()
        except ValueError as exc:
            raise CommandError(f"PARLEY_ENCRYPTION_KEY holds a malformed key: {exc}") from None
        rotated = 0
        with transaction.atomic():
            accounts = ProviderAccount.objects.select_for_update().exclude(encrypted_secrets="").select_related(
                "workspace").order_by("pk")
            for account in accounts:
                try:
                    token = crypto.rotate(account.encrypted_secrets)
                except crypto.SecretError:
                    raise CommandError(f"The secrets of the {account} account (id {account.pk}) cannot be decrypted "
                                       "with any key in PARLEY_ENCRYPTION_KEY: add the key they were encrypted "
                                       "with after the new one, or remove the account. Nothing was changed.") from None
                ProviderAccount.objects.filter(pk=account.pk).update(encrypted_secrets=token)
                rotated += 1
        without = ProviderAccount.objects.filter(encrypted_secrets="").count()
        self.stdout.write(f"Re-encrypted the secrets of {rotated} provider account(s) under the newest of "
                          f"{len(keys)} key(s); {without} account(s) hold no secret.")
        if len(keys) == 1:
            self.stdout.write("Only one key is configured: rotating changed the ciphertexts, not the key.")
