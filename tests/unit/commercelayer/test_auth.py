"""The per-process token cache."""

from __future__ import annotations

import threading

from airflow_provider_metrika.commercelayer.auth import TokenCache

KEY = ("https://auth.example/oauth/token", "client", "")


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_token_is_reused_until_shortly_before_it_expires():
    clock, fetched = Clock(), []

    def fetch():
        fetched.append(1)
        return f"token-{len(fetched)}", 7200.0

    cache = TokenCache(clock)
    assert cache.get(KEY, fetch) == "token-1"
    clock.now += 7200 - 61
    assert cache.get(KEY, fetch) == "token-1"
    clock.now += 1  # within the last minute
    assert cache.get(KEY, fetch) == "token-2"
    assert len(fetched) == 2


def test_short_lifetimes_refresh_a_tenth_early():
    clock = Clock()
    cache = TokenCache(clock)
    cache.get(KEY, lambda: ("a", 100.0))
    clock.now += 89
    assert cache.get(KEY, lambda: ("b", 100.0)) == "a"
    clock.now += 1
    assert cache.get(KEY, lambda: ("c", 100.0)) == "c"


def test_keys_are_separate_and_invalidate_drops_only_the_refused_token():
    cache = TokenCache(Clock())
    other = (*KEY[:2], "market:code:eu")
    assert cache.get(KEY, lambda: ("a", 100.0)) == "a"
    assert cache.get(other, lambda: ("b", 100.0)) == "b"
    cache.invalidate(KEY, "stale")  # a newer token than the refused one stays
    assert cache.get(KEY, lambda: ("x", 100.0)) == "a"
    cache.invalidate(KEY, "a")
    assert cache.get(KEY, lambda: ("c", 100.0)) == "c"
    assert cache.get(other, lambda: ("x", 100.0)) == "b"


def test_concurrent_callers_fetch_once():
    cache, calls, started = TokenCache(), [], threading.Event()
    release = threading.Event()

    def fetch():
        calls.append(1)
        started.set()
        release.wait(5)
        return "only", 100.0

    results: list[str] = []
    threads = [threading.Thread(target=lambda: results.append(cache.get(KEY, fetch))) for _ in range(8)]
    for thread in threads:
        thread.start()
    started.wait(5)
    release.set()
    for thread in threads:
        thread.join(5)
    assert results == ["only"] * 8 and len(calls) == 1


def test_the_token_stays_out_of_repr():
    cache = TokenCache(Clock())
    cache.get(KEY, lambda: ("secret-token", 100.0))
    assert "secret-token" not in repr(cache._entries)
