"""Fixtures the unit tests of waiting share."""

from __future__ import annotations

import pytest

from airflow_provider_metrika.jobs import poller as poller_module


class PollerClock:
    """The shared poller's virtual time: each sleep is recorded and moves the clock; nothing really sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.pauses: list[float] = []

    async def pause(self, seconds: float) -> None:
        self.pauses.append(seconds)
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> PollerClock:
    clock = PollerClock()
    monkeypatch.setattr(poller_module, "sleep", clock.pause)
    monkeypatch.setattr(poller_module, "monotonic", lambda: clock.now)
    return clock
