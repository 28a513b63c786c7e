"""OAuth2 client-credentials tokens, cached per process and per (token endpoint, client id, scope).

The token endpoint allows about 30 requests a minute
(https://docs.commercelayer.io/core/rate-limits), so fifty mapped tasks in one worker must
not each fetch a token: the first fetches, the others reuse it until shortly before it
expires, and a 401 drops it so the next call fetches a fresh one. Tokens are registered with
Airflow's secrets masker and never logged.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
import weakref
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from airflow_provider_metrika.exceptions import MetrikaApiError, MetrikaClientError

if TYPE_CHECKING:
    from airflow_provider_metrika.commercelayer.connection import CommerceLayerSettings

#: Refetch this long before the announced expiry (at most a tenth of the lifetime).
REFRESH_MARGIN_SECONDS = 60.0

TokenKey = tuple[str, str, str]
SERVICE = "Commerce Layer"


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
        self._async_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[TokenKey, asyncio.Lock]] = (
            weakref.WeakKeyDictionary()
        )
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
            return self._keep(key, *fetch())

    async def aget(self, key: TokenKey, fetch: Callable[[], Awaitable[tuple[str, float]]]) -> str:
        """:meth:`get` for the event loop: one fetch at a time per key on this loop, the same entries."""
        entry = self._live(key)
        if entry is not None:
            return entry.token
        loop = asyncio.get_running_loop()
        with self._guard:
            lock = self._async_locks.setdefault(loop, {}).setdefault(key, asyncio.Lock())
        async with lock:
            entry = self._live(key)
            if entry is not None:
                return entry.token
            return self._keep(key, *await fetch())

    def _keep(self, key: TokenKey, token: str, lifetime: float) -> str:
        margin = min(REFRESH_MARGIN_SECONDS, lifetime / 10)
        with self._guard:
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


def token_key(settings: CommerceLayerSettings) -> TokenKey:
    """Whose token: the token endpoint, the client id and the scope (never the secret)."""
    return (settings.auth_url, settings.client_id, settings.scope or "")


def token_request(settings: CommerceLayerSettings) -> tuple[str, str, dict[str, str]]:
    """(base URL, path, body) of a client-credentials token request
    (https://docs.commercelayer.io/core/authentication/client-credentials)."""
    parts = urlsplit(settings.auth_url)
    body = {
        "grant_type": "client_credentials",
        "client_id": settings.client_id,
        "client_secret": settings.client_secret,
    }
    if settings.scope:
        body["scope"] = settings.scope
    return f"{parts.scheme}://{parts.netloc}", parts.path or "/", body


def read_token(answer: Mapping[str, Any]) -> tuple[str, float]:
    """(access token, lifetime in seconds) of a token answer; an unusable answer is an error."""
    token, lifetime = answer.get("access_token"), answer.get("expires_in")
    if not isinstance(token, str) or not token or isinstance(lifetime, bool) or not isinstance(lifetime, int | float):
        raise MetrikaApiError(
            200, "invalid_response", "the token answer lacks access_token or expires_in", service=SERVICE
        )
    if lifetime <= 0:
        raise MetrikaApiError(
            200, "invalid_response", "the token answer has a non-positive expires_in", service=SERVICE
        )
    return token, float(lifetime)


class BearerAttempts:
    """The tokens one API call used, and whether a refusal earns it one more try with a fresh token.

    A 401 means the request was refused before anything happened, so even a POST may be sent
    again, once: the cached token is dropped and the next attempt fetches a new one.
    """

    MAX_ATTEMPTS = 2

    def __init__(self, cache: TokenCache, key: TokenKey) -> None:
        self.cache = cache
        self.key = key
        self.used: list[str] = []  # every token of this call: a server may echo an older one

    def headers(self, token: str) -> dict[str, str]:
        self.used.append(token)
        return {"Authorization": f"Bearer {token}"}

    def options(self, token: str, params: Mapping[str, Any] | None, body: Any) -> dict[str, Any]:
        """The send options of one try with ``token`` (every token of the call withheld from its errors)."""
        return {"headers": self.headers(token), "params": params, "body": body, "secrets": self.used}

    def again(self, error: MetrikaClientError) -> bool:
        """True when ``error`` is a 401 with a try left (the refused token is dropped)."""
        if error.status != 401 or len(self.used) >= self.MAX_ATTEMPTS:
            return False
        self.cache.invalidate(self.key, self.used[-1])
        return True


#: The process-wide cache every CommerceLayerHook uses unless given another.
TOKENS = TokenCache()
