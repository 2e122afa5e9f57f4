"""The token cache the Symbl and Zoom clients share: renewal before expiry, per-account keys, and
forgetting only the token a caller saw refused."""
from streaming import tokens
from streaming.tokens import TokenCache, account_key


def clock_at(monkeypatch, seconds):
    monkeypatch.setattr(tokens.time, "monotonic", lambda: seconds)


def test_a_token_is_served_until_a_tenth_of_its_life_before_expiry(monkeypatch):
    cache = TokenCache()
    clock_at(monkeypatch, 1000.0)
    cache.put("acme", "t1", expires_in=100)
    clock_at(monkeypatch, 1089.9)
    assert cache.get("acme") == "t1"
    clock_at(monkeypatch, 1090.1)  # not yet expired, but due for renewal
    assert cache.get("acme") is None


def test_the_margin_is_at_most_five_minutes(monkeypatch):
    cache = TokenCache()
    clock_at(monkeypatch, 0.0)
    cache.put("acme", "day-long", expires_in=86400)
    clock_at(monkeypatch, 86400 - 301)
    assert cache.get("acme") == "day-long"
    clock_at(monkeypatch, 86400 - 299)
    assert cache.get("acme") is None


def test_a_changed_secret_is_another_account_and_no_secret_is_kept_in_the_clear():
    first = account_key("https://api.symbl.ai", "app", secret="s3cret-one")
    assert first == account_key("https://api.symbl.ai", "app", secret="s3cret-one")
    assert first != account_key("https://api.symbl.ai", "app", secret="s3cret-two")
    assert not any("s3cret" in part for part in first)


def test_forgetting_a_stale_token_keeps_the_one_another_task_renewed():
    cache = TokenCache()
    cache.put("acme", "renewed", expires_in=3600)
    cache.forget("acme", "stale")
    assert cache.get("acme") == "renewed"
    cache.forget("acme", "renewed")
    assert cache.get("acme") is None
    cache.forget("acme")  # nothing cached: nothing to do


async def test_the_vendor_is_asked_only_when_no_token_is_fresh_or_when_forced():
    cache, issued = TokenCache(), []

    async def issue():
        issued.append(f"t{len(issued) + 1}")
        return issued[-1], 3600

    assert await cache.token("acme", issue) == "t1"
    assert await cache.token("acme", issue) == "t1" and issued == ["t1"]
    assert await cache.token("acme", issue, force=True) == "t2"
    assert await cache.token("acme", issue) == "t2" and issued == ["t1", "t2"]
