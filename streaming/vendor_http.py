"""What Parley's REST clients for Symbl and Zoom share: a bearer token per account, and two
retry rules.

* :class:`TokenClient`: an ``httpx.AsyncClient`` (``async with`` closes it) whose access tokens
  come from a process-wide :class:`~streaming.tokens.TokenCache`.
* :func:`send_with_backoff`: a 429, a 5xx or a transport error is retried with exponential
  backoff, at most ``attempts`` times, so nothing retries forever. A numeric ``Retry-After``
  (seconds, https://www.rfc-editor.org/rfc/rfc9110#name-retry-after) replaces the wait, capped
  like the backoff. Any other error is raised at once.
* :meth:`TokenClient.with_fresh_token`: a request refused with 401 renews the bearer token and is sent once
  more, since the vendor may have revoked a token the cache still holds.
"""
import asyncio
import logging

import httpx

log = logging.getLogger(__name__)


async def send_with_backoff(http, method, url, *, attempts, backoff_s, max_backoff_s, error_for, unreachable,
                            retryable, label, **kwargs):
    """``http.request(method, url, **kwargs)``, returning the ``httpx.Response`` when its status
    is below 400.

    ``error_for(response)`` makes the exception for an error answer and ``unreachable(exc)`` the
    one for an ``httpx.TransportError``; errors that are instances of ``retryable`` (a class or a
    tuple) are retried as the module says, after waiting ``backoff_s * 2 ** (attempt - 1)``
    seconds (at most ``max_backoff_s``). Raises the last error once ``attempts`` are spent.
    ``label`` names the request in the log (never a URL with credentials in its query).
    """
    for attempt in range(1, attempts + 1):
        delay = min(max_backoff_s, backoff_s * 2 ** (attempt - 1))
        try:
            response = await http.request(method, url, **kwargs)
        except httpx.TransportError as exc:
            error = unreachable(exc)
        else:
            if response.status_code < 400:
                return response
            error = error_for(response)
            retry_after = response.headers.get("Retry-After", "")
            if retry_after.isdigit():
                delay = min(max_backoff_s, float(retry_after))
        if not isinstance(error, retryable):
            raise error
        if attempt == attempts:
            raise error
        log.info("%s: %s; retry %d in %.2f s", label, error, attempt, delay)
        await asyncio.sleep(delay)
    raise ValueError(f"attempts must be at least 1, not {attempts}")


class TokenClient:
    """Base of a vendor's REST client. Subclasses set :attr:`tokens` (their process-wide
    :class:`~streaming.tokens.TokenCache`), ``self._key`` (the account's cache key,
    :func:`~streaming.tokens.account_key`) and ``self.http``, and define ``_issue_token()``, which
    asks the vendor for ``(token, expires_in seconds)``."""

    tokens = None

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        await self.aclose()

    async def aclose(self):
        await self.http.aclose()

    async def token(self, *, force=False):
        """A valid access token: the cached one unless it is near expiry or ``force``. Raises what
        ``_issue_token`` raises."""
        return await self.tokens.token(self._key, self._issue_token, force=force)

    def forget_token(self, token=None):
        """Drop the cached token (only ``token``, when given: another task may have renewed it)."""
        self.tokens.forget(self._key, token)

    async def with_fresh_token(self, send, unauthorized):
        """``await send(token)`` with :meth:`token`; when that raises ``unauthorized``, the token is
        forgotten and ``send`` is awaited once more with a new one. Returns what ``send`` returns;
        raises what it raises."""
        token = await self.token()
        try:
            return await send(token)
        except unauthorized:
            self.forget_token(token)
            return await send(await self.token(force=True))
