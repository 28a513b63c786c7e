"""The emulator's controllable clock.

Emulator time = anchor + (real time elapsed since the anchor x speed, only in ``real``
mode) + a manual offset moved by the control API. In ``frozen`` mode (the test default)
time moves only when a test advances it, so status lifecycles need no sleeping.
The anchor and offset live in the state store, so a restarted process keeps its time.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable

CLOCK_MODES = ("frozen", "real")


class EmulatorClock:
    """Emulator time in unix seconds (float)."""

    def __init__(
        self,
        anchor: float,
        offset: float = 0.0,
        mode: str = "frozen",
        speed: float = 1.0,
        real_time: Callable[[], float] = time.time,
    ):
        if mode not in CLOCK_MODES:
            raise ValueError(f"clock mode must be one of {CLOCK_MODES}, not {mode!r}")
        if speed <= 0:
            raise ValueError("clock speed must be positive")
        self.anchor = anchor
        self.offset = offset
        self.mode = mode
        self.speed = speed
        self._real_time = real_time

    def now(self) -> float:
        elapsed = (self._real_time() - self.anchor) * self.speed if self.mode == "real" else 0.0
        return self.anchor + elapsed + self.offset

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("the emulator clock only moves forward")
        self.offset += seconds

    def restart_at_real_time(self) -> None:
        """Re-anchor at the real current time with no offset (what a reset means)."""
        self.anchor = self._real_time()
        self.offset = 0.0


def iso_seconds(epoch: float) -> str:
    """``2025-01-01T00:00:00Z`` — the management API's date-time style."""
    return dt.datetime.fromtimestamp(int(epoch), dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_millis(epoch_ms: int) -> str:
    """``2022-12-29T18:02:01.123Z`` — CDP uploading datetimes, precise enough to page by."""
    seconds, millis = divmod(epoch_ms, 1000)
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{millis:03d}Z"


def utc_day(epoch: float) -> str:
    """The UTC calendar day quotas are counted in."""
    return dt.datetime.fromtimestamp(int(epoch), dt.UTC).strftime("%Y-%m-%d")
