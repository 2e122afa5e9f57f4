"""Secrets at rest: Fernet under a MultiFernet, so keys rotate without a flag day.

``PARLEY_ENCRYPTION_KEY`` holds one Fernet key, or several separated by commas, newest first:
new secrets are encrypted with the first, any of them decrypts, and
``manage.py rotate_encryption_key`` re-encrypts every stored secret under the first. The
embedded default, with no key set, derives one from ``SECRET_KEY``.
(https://cryptography.io/en/latest/fernet/#cryptography.fernet.MultiFernet)
"""
import base64
import hashlib
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


class SecretError(Exception):
    """A stored secret that none of the configured keys decrypts."""


def keys():
    """The configured Fernet keys, newest first (bytes)."""
    configured = [k.strip() for k in (settings.ENCRYPTION_KEY or "").split(",") if k.strip()]
    if configured:
        return [k.encode() for k in configured]
    derived = hashlib.sha256(("parley-secrets:" + settings.SECRET_KEY).encode()).digest()
    return [base64.urlsafe_b64encode(derived)]


@lru_cache(maxsize=4)
def _fernet(key_tuple):
    return MultiFernet([Fernet(k) for k in key_tuple])


def fernet():
    """A :class:`MultiFernet` over :func:`keys`; raises ``ValueError`` for a malformed key."""
    return _fernet(tuple(keys()))


def encrypt(plaintext):
    """``str`` → Fernet token ``str`` under the newest key."""
    return fernet().encrypt(plaintext.encode()).decode()


def decrypt(token):
    """Fernet token ``str`` → ``str``; raises :class:`SecretError` when no configured key fits."""
    try:
        return fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise SecretError("A stored secret cannot be decrypted with PARLEY_ENCRYPTION_KEY: was the key "
                          "replaced instead of rotated? Put the old key after the new one.") from None


def rotate(token):
    """Re-encrypt ``token`` under the newest key; raises :class:`SecretError` as :func:`decrypt`."""
    try:
        return fernet().rotate(token.encode()).decode()
    except InvalidToken:
        raise SecretError("A stored secret cannot be decrypted with any key in PARLEY_ENCRYPTION_KEY.") from None
