"""Helpers of the fault-injection tests: connections with tight timeouts, quick retries, virtual wait time."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_metrika.emulator.testing import TEST_TOKEN, EmulatorClient
from airflow_provider_metrika.hooks.metrika import MetrikaHook
from airflow_provider_metrika.hooks.retry import RetryPolicy
from airflow_provider_metrika.jobs import poller as poller_module
from airflow_provider_metrika.triggers.uploading import MetrikaUploadingTrigger

COUNTER = 12345
CONN_ID = "metrika_default"
UPLOAD_PATH = r"/offline_conversions/upload$"
GET_PATH = r"/offline_conversions/uploading/"
LIST_PATH = r"/offline_conversions/uploadings$"


def point_connection(monkeypatch: pytest.MonkeyPatch, url: str, **extra: object) -> str:
    """``metrika_default`` at ``url`` with the test token, counter 12345 and the given extra (timeout, max_retries)."""
    conn = {
        "conn_type": "yandex_metrika",
        "host": url,
        "password": TEST_TOKEN,
        "extra": {"counter_id": COUNTER, **extra},
    }
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps(conn))
    return CONN_ID


def quick_retries(monkeypatch: pytest.MonkeyPatch, *, max_retries: int = 5, base_delay: float = 0.01) -> list[float]:
    """Every MetrikaHook retries with millisecond backoff (Retry-After still wins); returns the delays taken."""
    taken: list[float] = []

    class RecordingPolicy(RetryPolicy):
        def delay(self, retry_number: int, error: BaseException | None = None) -> float:
            taken.append(super().delay(retry_number, error))
            return taken[-1]

    policy = RecordingPolicy(max_retries=max_retries, base_delay=base_delay, max_delay=base_delay * 8)
    monkeypatch.setattr(MetrikaHook, "retry_policy", property(lambda self: policy))
    return taken


class TriggerTime:
    """The triggers' pollers wait by moving the emulator clock: nothing sleeps.

    ``interrupt_after(n)`` makes the n-th next pause hang and sets ``interrupted``, so a
    driver can kill the trigger mid-wait the way a triggerer restart does.
    """

    def __init__(self, emulator: EmulatorClient | Any) -> None:
        self.emulator = emulator
        self.pauses: list[float] = []
        self.now = 0.0
        self.interrupted = asyncio.Event()
        self._interrupt_at: int | None = None

    def install(self, monkeypatch: pytest.MonkeyPatch) -> TriggerTime:
        monkeypatch.setattr(poller_module, "sleep", self.pause)
        monkeypatch.setattr(poller_module, "monotonic", lambda: self.now)
        return self

    def interrupt_after(self, pauses: int) -> None:
        self.interrupted = asyncio.Event()  # bound to the loop of the run that uses it
        self._interrupt_at = len(self.pauses) + pauses

    async def pause(self, seconds: float) -> None:
        self.pauses.append(seconds)
        if self._interrupt_at is not None and len(self.pauses) >= self._interrupt_at:
            self._interrupt_at = None
            self.interrupted.set()
            await asyncio.Event().wait()  # until the driver cancels this wait
        self.now += seconds
        self.emulator.advance(seconds)


async def run_trigger(
    trigger: MetrikaUploadingTrigger, clock: TriggerTime, *, restart_after: int | None = None
) -> tuple[dict[str, Any], int]:
    """The trigger's event payload; with ``restart_after``, the trigger is killed after that many pauses and
    rebuilt from ``serialize()`` (as a restarted triggerer does). Returns (payload, restarts)."""

    async def first_event(current: MetrikaUploadingTrigger) -> dict[str, Any]:
        async for event in current.run():
            return event.payload
        raise AssertionError("the trigger ended without an event")

    restarts = 0
    while True:
        task = asyncio.ensure_future(first_event(trigger))
        if restart_after is None:
            return await task, restarts
        clock.interrupt_after(restart_after)
        killer = asyncio.ensure_future(clock.interrupted.wait())
        await asyncio.wait({task, killer}, return_when=asyncio.FIRST_COMPLETED)
        killer.cancel()
        if task.done():
            return task.result(), restarts
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        _, kwargs = trigger.serialize()
        trigger = MetrikaUploadingTrigger(**kwargs)
        restarts += 1
        restart_after = None


def conversions_csv(path: Path, rows: int = 5, first_id: int = 100) -> Path:
    """A valid offline-conversions file; ClientIds ``first_id``... (about 90 % link in the emulator)."""
    stamp = int(time.time()) - 3600
    path.write_text(
        "ClientId,Target,DateTime,Price,Currency\n"
        + "".join(f"{first_id + i},paid,{stamp - i * 60},{i}.50,RUB\n" for i in range(rows))
    )
    return path
