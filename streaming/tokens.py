"""A process-wide cache of OAuth access tokens, each kept until shortly before it expires.

Symbl (``POST /oauth2/token:generate``) and Zoom (Server-to-Server OAuth ``POST /oauth/token``)
both issue bearer tokens with a lifetime in seconds and no refresh token; their clients keep one
:class:`TokenCache` each and ask it before asking the vendor.
"""
import hashlib
import time


def account_key(*parts, secret):
    """A cache key for one account: ``parts`` (URL, ids) and the SHA-256 of ``secret``, so a changed
    secret gets a new token and no secret is kept in the clear."""
    return (*parts, hashlib.sha256((secret or "").encode()).hexdigest())


def renew_margin(expires_in):
    """Seconds before expiry at which a token is renewed: 10 % of its life, at most 5 minutes, so a
    request never starts with a token about to lapse."""
    return min(300.0, 0.1 * expires_in)


class TokenCache:
    """Tokens by account key (see :func:`account_key`), on the monotonic clock."""

    def __init__(self):
        self._tokens = {}  # key -> (token, monotonic time to renew at)

    async def token(self, key, issue, *, force=False):
        """``key``'s token: the cached one, unless it is due for renewal or ``force``; else
        ``await issue()``, which asks the vendor and returns ``(token, expires_in seconds)``, and
        keep that. Raises what ``issue`` raises."""
        cached = None if force else self.get(key)
        if cached:
            return cached
        token, expires_in = await issue()
        self.put(key, token, expires_in)
        return token

    def get(self, key):
        """The cached token for ``key``, or None when there is none or it is due for renewal."""
        cached = self._tokens.get(key)
        return cached[0] if cached and cached[1] > time.monotonic() else None

    def put(self, key, token, expires_in):
        """Keep ``token``, which the vendor said lives ``expires_in`` seconds."""
        self._tokens[key] = (token, time.monotonic() + expires_in - renew_margin(expires_in))

    def forget(self, key, token=None):
        """Drop ``key``'s token (only ``token``, when given: another task may have renewed it)."""
        cached = self._tokens.get(key)
        if cached and (token is None or cached[0] == token):
            del self._tokens[key]

    def clear(self):
        self._tokens.clear()
