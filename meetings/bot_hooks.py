"""MeetStream's callback signature: ``X-MeetStream-Signature`` is hex(HMAC-SHA256(webhook signing
secret, raw body)), optionally prefixed ``sha256=``
(https://docs.meetstream.ai/guides/webhooks/webhooks-and-events; ``../shared/api-contracts.md``
§11.1). The bot callback URLs (``POST /bots/<token>/…``, :mod:`meetings.bots.hooks`) check it
through :meth:`meetings.bots.meetstream.MeetStream.verify`.
"""
import hashlib
import hmac

PREFIX = "sha256="


def sign(secret, body):
    """The ``X-MeetStream-Signature`` of ``body`` (bytes): a hex digest, without prefix."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret, body, signature):
    """Whether ``signature`` (the header, with or without ``sha256=``) signs ``body`` with ``secret``."""
    signature = (signature or "").strip()
    if signature.lower().startswith(PREFIX):
        signature = signature[len(PREFIX):]
    if not signature:
        return False
    return hmac.compare_digest(sign(secret, body).encode(), signature.lower().encode())

