"""OAuth2 client-credentials tokens, cached per process and per (token endpoint, client id, scope).

The token endpoint allows about 30 requests a minute
(https://docs.commercelayer.io/core/rate-limits), so fifty mapped tasks in one worker must
not each fetch a token: the first fetches, the others reuse it until shortly before it
expires, and a 401 drops it so the next call fetches a fresh one. Tokens are registered with
Airflow's secrets masker and never logged.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable

#: Refetch this long before the announced expiry (at most a tenth of the lifetime).
REFRESH_MARGIN_SECONDS = 60.0

TokenKey = tuple[str, str, str]


@dataclasses.dataclass(frozen=True)
class _Entry:
    token: str = dataclasses.field(repr=False)
    refresh_at: float


class TokenCache:
    """Live tokens by key; one fetch at a time per key (the others wait and reuse its token)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._entries: dict[TokenKey, _Entry] = {}
        self._locks: dict[TokenKey, threading.Lock] = {}
        self._guard = threading.Lock()

    def get(self, key: TokenKey, fetch: Callable[[], tuple[str, float]]) -> str:
        """The cached token, or the one ``fetch`` returns as (token, lifetime in seconds)."""
        entry = self._live(key)
        if entry is not None:
            return entry.token
        with self._lock_of(key):
            entry = self._live(key)
            if entry is not None:
                return entry.token
            token, lifetime = fetch()
            margin = min(REFRESH_MARGIN_SECONDS, lifetime / 10)
            self._entries[key] = _Entry(token, self._clock() + lifetime - margin)
            return token

    def invalidate(self, key: TokenKey, token: str) -> None:
        """Drop ``token`` (the server refused it); a newer token fetched meanwhile stays."""
        with self._guard:
            entry = self._entries.get(key)
            if entry is not None and entry.token == token:
                del self._entries[key]

    def clear(self) -> None:
        with self._guard:
            self._entries.clear()

    def _live(self, key: TokenKey) -> _Entry | None:
        entry = self._entries.get(key)
        return entry if entry is not None and self._clock() < entry.refresh_at else None

    def _lock_of(self, key: TokenKey) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())


#: The process-wide cache every CommerceLayerHook uses unless given another.
TOKENS = TokenCache()
