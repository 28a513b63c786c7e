"""Request quotas (§1.4): a daily request count per token and concurrent requests per token.

Counts are kept per token sha256 and UTC day of the emulator clock, in the store, so a
restart does not refill a spent quota. In-flight counts live in memory (they die with
the process anyway).
"""

from __future__ import annotations

import collections
import contextlib
from collections.abc import Callable, Iterator

from airflow_provider_metrika.emulator.clock import utc_day
from airflow_provider_metrika.emulator.config import EmulatorConfig
from airflow_provider_metrika.emulator.errors import ApiError
from airflow_provider_metrika.emulator.store import Store


class QuotaGuard:
    """Counts Metrika-API requests and refuses those over quota with 429 (or 420)."""

    def __init__(self, store: Store, now: Callable[[], float], config: Callable[[], EmulatorConfig]):
        self._store = store
        self._now = now
        self._config = config
        self._in_flight: collections.Counter[str] = collections.Counter()

    def count(self, token_hash: str, method: str, route: str) -> None:
        """Count the request; raise ``quota_requests_by_uid`` once the daily quota is spent."""
        total = self._store.count_request(token_hash, utc_day(self._now()), method, route)
        quota = self._config().daily_quota
        if quota is not None and total > quota:
            raise self.refuse(token_hash, "quota_requests_by_uid", f"daily request quota of {quota} is spent")

    @contextlib.contextmanager
    def in_flight(self, token_hash: str) -> Iterator[None]:
        """Hold one of the token's parallel slots; ``quota_parallel_requests`` when none is free."""
        limit = self._config().parallel_limit
        if self._in_flight[token_hash] >= limit:
            raise self.refuse(token_hash, "quota_parallel_requests", f"more than {limit} parallel requests")
        self._in_flight[token_hash] += 1
        try:
            yield
        finally:
            self._in_flight[token_hash] -= 1
            if not self._in_flight[token_hash]:
                del self._in_flight[token_hash]

    def refuse(
        self,
        token_hash: str,
        error_type: str,
        message: str,
        retry_after: float | None = None,
        status: int | None = None,
    ) -> ApiError:
        """Record a rate-limit answer and build it (status from config unless given)."""
        self._store.count_throttled(token_hash, utc_day(self._now()), error_type)
        headers = {"Retry-After": _header_number(retry_after)} if retry_after is not None else None
        return ApiError(status or self._config().quota_status, error_type, message, headers)

    def in_flight_total(self) -> int:
        return sum(self._in_flight.values())


def _header_number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)
