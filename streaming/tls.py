"""One TLS context for every vendor HTTP client in this process.

httpx builds a new ``ssl.SSLContext`` for each client it creates unless given one, and loading the
CA bundle costs about 50 ms of CPU. Parley creates clients per session, per Twilio track and per
reconciliation, so they all share this context (``ssl.SSLContext`` is safe to share).
"""
import functools

import httpx


@functools.cache
def tls_context():
    """The process's :class:`ssl.SSLContext` for verifying vendors' certificates (certifi's CA bundle)."""
    return httpx.create_ssl_context()
