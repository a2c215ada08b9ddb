"""The token cache (``symbl.conf`` reading is tested with the resource, which uses it)."""

from __future__ import annotations

from symbl_dagster.client.auth import TokenCache


def test_token_cache_refreshes_at_the_margin_and_invalidates_only_the_refused_token():
    now = [0.0]
    fetched: list[str] = []

    def fetch() -> tuple[str, float]:
        fetched.append(f"t{len(fetched)}")
        return fetched[-1], 1000.0

    cache = TokenCache(refresh_margin=100, clock=lambda: now[0])
    assert cache.get(fetch) == "t0"
    now[0] = 899
    assert cache.get(fetch) == "t0"
    now[0] = 900
    assert cache.get(fetch) == "t1"
    cache.invalidate("t0")  # a stale refusal from another thread: keep the new token
    assert cache.get(fetch) == "t1"
    cache.invalidate("t1")
    assert cache.get(fetch) == "t2"
    assert "t2" not in repr(cache)
