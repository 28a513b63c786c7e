"""Fleetio's rate limit kept on the client: the requests of one API key in one process never exceed it.

Fleetio limits requests per API key with a sliding window and answers ``429`` with ``Retry-After`` past it; the
limit depends on the plan, and the documented conservative figure is 20 requests a minute
(https://developer.fleetio.com/docs/overview/rate-limiting). Every wait of a triggerer on one account (a
sensor's trigger, an ``AssetWatcher``'s stream) uses the same key: polled each at its own cadence, a watcher
polling every second alone spends three times that budget, and every other wait then meets 429s. So the
process paces itself: before each request it waits until the key has sent fewer than the connection's
``requests_per_minute`` in the last minute. Waits queue in the order they arrived.
"""

from __future__ import annotations

import asyncio
import collections
import threading
import weakref
from collections.abc import Callable

from airflow_provider_metrika.jobs import poller

#: Fleetio's documented conservative limit per API key (requests a minute); a connection extra may raise it.
DEFAULT_REQUESTS_PER_MINUTE = 20
WINDOW_SECONDS = 60.0


class RequestPacer:
    """The send times of one API key in the last window; says how long the next request must wait."""

    def __init__(self, clock: Callable[[], float] | None = None) -> None:
        self._clock = clock or (lambda: poller.monotonic())  # the poller's clock: what tests drive
        self._sent: collections.deque[float] = collections.deque()

    def delay(self, limit: int, window: float = WINDOW_SECONDS) -> float:
        """Seconds until a request may go (0: now, and it is counted as sent)."""
        now = self._clock()
        while self._sent and self._sent[0] <= now - window:
            self._sent.popleft()
        if len(self._sent) >= limit:
            return self._sent[0] + window - now
        self._sent.append(now)
        return 0.0


_lock = threading.Lock()
_pacers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, RequestPacer]] = weakref.WeakKeyDictionary()


def pacer_for(key: str) -> RequestPacer:
    """The running event loop's pacer of an API key (``key`` is its hash, never the key itself)."""
    loop = asyncio.get_running_loop()
    with _lock:
        return _pacers.setdefault(loop, {}).setdefault(key, RequestPacer())


async def paced(key: str, limit: int) -> None:
    """Wait until the key may send one more request, and count it (waiting as the shared poller does)."""
    pacer = pacer_for(key)
    while (wait := pacer.delay(limit)) > 0:
        await poller.sleep(wait)
