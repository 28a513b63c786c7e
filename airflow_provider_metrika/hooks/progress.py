"""Progress lines for long uploads.

A 1 GB upload can take minutes; without a heartbeat in the task log it looks hung.
The logger is fed byte counts (by requests_toolbelt's ``MultipartEncoderMonitor``
callback) and writes at most one line per interval, plus a final line.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

DEFAULT_INTERVAL = 10.0
_MB = 1_000_000

log = logging.getLogger(__name__)


class UploadProgressLogger:
    """Logs bytes sent, percentage and MB/s at most every ``interval`` seconds and once at the end."""

    def __init__(
        self,
        total_bytes: int,
        *,
        label: str = "upload",
        interval: float = DEFAULT_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
        logger: logging.Logger = log,
    ) -> None:
        self.total_bytes = total_bytes
        self.label = label
        self.interval = interval
        self._clock = clock
        self._log = logger
        self._started = clock()
        self._last_logged = self._started
        self._finished = False

    def update(self, bytes_sent: int) -> None:
        """Record progress; logs when the interval has passed or the last byte went out."""
        if self._finished:
            return
        now = self._clock()
        done = bytes_sent >= self.total_bytes
        if not done and now - self._last_logged < self.interval:
            return
        self._last_logged = now
        self._finished = done
        self._log.info("%s: %s", self.label, self._line(bytes_sent, now, done))

    def monitor_callback(self, monitor: Any) -> None:
        """Callback for ``MultipartEncoderMonitor`` (reads its ``bytes_read``)."""
        self.update(monitor.bytes_read)

    def _line(self, bytes_sent: int, now: float, done: bool) -> str:
        elapsed = max(now - self._started, 1e-9)
        percent = 100.0 * bytes_sent / self.total_bytes if self.total_bytes else 100.0
        rate = bytes_sent / _MB / elapsed
        verb = "sent" if done else "sending"
        return (
            f"{verb} {bytes_sent / _MB:.1f} of {self.total_bytes / _MB:.1f} MB ({percent:.0f}%) "
            f"in {elapsed:.1f} s, {rate:.2f} MB/s"
        )
