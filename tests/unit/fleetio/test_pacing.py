"""The Fleetio client keeps to its API key's rate limit (no server, a fake clock)."""

from __future__ import annotations

import asyncio

from airflow_provider_metrika.fleetio import pacing
from airflow_provider_metrika.fleetio.pacing import RequestPacer, paced


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_the_window_admits_the_limit_then_says_how_long_to_wait():
    clock = Clock()
    pacer = RequestPacer(clock)
    assert [pacer.delay(3) for _ in range(3)] == [0.0, 0.0, 0.0]
    clock.now = 10
    assert pacer.delay(3) == 50.0  # the first request leaves the minute at 60
    clock.now = 60  # the three sent at 0 left the window
    assert [pacer.delay(3) for _ in range(3)] == [0.0, 0.0, 0.0] and pacer.delay(3) == 60.0


def test_waits_of_one_key_share_its_budget_and_other_keys_do_not(monkeypatch):
    clock = Clock()
    slept = []

    async def sleep(seconds):
        slept.append(seconds)
        clock.now += seconds

    monkeypatch.setattr(pacing, "RequestPacer", lambda: RequestPacer(clock))
    monkeypatch.setattr(pacing.poller, "sleep", sleep)

    async def run():
        for _ in range(3):
            await paced("watcher-and-sensor", 2)
        await paced("another-key", 2)

    asyncio.run(run())
    assert slept == [60.0]  # the third request of the key waited a minute; the other key did not
