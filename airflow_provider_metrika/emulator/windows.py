"""Sliding-window rate limits on the emulator clock (Commerce Layer and Fleetio style).

A window counts the requests of one key within the last ``interval`` seconds; a request
over ``limit`` is refused until the oldest counted one leaves the window. Refused requests
are not counted. Windows live in memory: a restart forgets them, like a real limiter's
short memory.
"""

from __future__ import annotations

import collections
import dataclasses
from collections.abc import Callable


@dataclasses.dataclass(frozen=True)
class WindowCheck:
    """The outcome of one request against a window."""

    allowed: bool
    limit: int
    interval: float
    remaining: int
    #: Seconds until a refused request would be accepted (0 when allowed).
    retry_after: float


class SlidingWindows:
    """Request times per key, in emulator seconds."""

    def __init__(self, now: Callable[[], float]):
        self._now = now
        self._hits: dict[str, collections.deque[float]] = collections.defaultdict(collections.deque)

    def take(self, key: str, limit: int, interval: float) -> WindowCheck:
        """Count a request of ``key`` if the window has room; say how it went."""
        now = self._now()
        hits = self._hits[key]
        while hits and hits[0] <= now - interval:
            hits.popleft()
        if len(hits) >= limit:
            return WindowCheck(False, limit, interval, 0, max(0.0, hits[0] + interval - now))
        hits.append(now)
        return WindowCheck(True, limit, interval, limit - len(hits), 0.0)

    def clear(self) -> None:
        self._hits.clear()
