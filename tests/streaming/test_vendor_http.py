"""The retry rules Symbl's and Zoom's REST clients share (streaming.vendor_http)."""
import httpx
import pytest

from streaming import vendor_http
from streaming.tokens import TokenCache, account_key


class Refused(Exception):
    def __init__(self, status):
        super().__init__(f"HTTP {status}")
        self.status = status


class Busy(Refused):
    pass


def error_for(response):
    return (Busy if response.status_code in (429, 503) else Refused)(response.status_code)


def answering(*answers):
    """An httpx client whose transport gives ``answers`` in turn: a status, ``(status, headers)``
    or an exception to raise; ``seen`` lists the requests it got."""
    seen = []

    def handle(request):
        seen.append(request)
        answer = answers[len(seen) - 1]
        if isinstance(answer, Exception):
            raise answer
        status, headers = answer if isinstance(answer, tuple) else (answer, {})
        return httpx.Response(status, headers=headers, json={"n": len(seen)})

    return httpx.AsyncClient(transport=httpx.MockTransport(handle)), seen


@pytest.fixture
def waits(monkeypatch):
    slept = []

    async def sleep(seconds):
        slept.append(seconds)

    monkeypatch.setattr(vendor_http.asyncio, "sleep", sleep)
    return slept


async def send(http, attempts=4):
    return await vendor_http.send_with_backoff(
        http, "GET", "http://vendor.test/thing", attempts=attempts, backoff_s=0.5, max_backoff_s=3.0,
        error_for=error_for, unreachable=lambda exc: Busy(0), retryable=Busy, label="GET thing")


async def test_busy_answers_and_dropped_connections_back_off_then_succeed(waits):
    http, seen = answering(503, httpx.ConnectError("refused"), (429, {"Retry-After": "2"}), 200)
    response = await send(http)
    assert response.json() == {"n": 4} and len(seen) == 4
    # 0.5 s, then 1 s, then what Retry-After said instead of 2 s.
    assert waits == [0.5, 1.0, 2.0]


async def test_retry_after_and_backoff_are_capped(waits):
    http, _ = answering((429, {"Retry-After": "3600"}), 503, 503, 503)
    with pytest.raises(Busy):
        await send(http)
    assert waits == [3.0, 1.0, 2.0]  # the fourth attempt is the last: no wait after it


async def test_a_refusal_that_is_not_worth_retrying_is_raised_at_once(waits):
    http, seen = answering(400, 200)
    with pytest.raises(Refused) as refused:
        await send(http)
    assert refused.value.status == 400 and len(seen) == 1 and waits == []


async def test_attempts_are_bounded(waits):
    http, seen = answering(*[503] * 10)
    with pytest.raises(Busy):
        await send(http, attempts=3)
    assert len(seen) == 3 and len(waits) == 2


class Unauthorized(Exception):
    pass


class Client(vendor_http.TokenClient):
    tokens = TokenCache()

    def __init__(self):
        self._key = account_key("http://vendor.test", "account", secret="secret")
        self.issued = 0

    async def _issue_token(self):
        self.issued += 1
        return f"token-{self.issued}", 3600


async def test_a_token_is_cached_and_a_refused_one_renewed_once():
    client, used = Client(), []

    async def refuse_first(token):
        used.append(token)
        if token == "token-1":
            raise Unauthorized()
        return "ok"

    assert await client.with_fresh_token(refuse_first, Unauthorized) == "ok"
    assert await client.with_fresh_token(refuse_first, Unauthorized) == "ok"
    assert used == ["token-1", "token-2", "token-2"]  # the renewed token is kept and used again

    async def always_refuse(token):
        used.append(token)
        raise Unauthorized()

    with pytest.raises(Unauthorized):
        await client.with_fresh_token(always_refuse, Unauthorized)
    assert used[3:] == ["token-2", "token-3"]  # renewed once, not again
    assert client.issued == 3
