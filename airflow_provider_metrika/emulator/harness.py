"""What every vendor's emulator shares: store, clock, settings, faults, request counts and reset.

A vendor's state subclasses :class:`HarnessState` and adds its own tables and models; the
control API (``control.routes``), fault injection (``faults``) and the process runner
(``__main__``, ``testing.EmulatorProcess``) work on this base, so each vendor gets the clock,
faults, persisted settings and ``/_emulator/`` endpoints without repeating them.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Mapping
from typing import Any, ClassVar, Protocol

from aiohttp import web

from airflow_provider_metrika.emulator.clock import EmulatorClock, utc_day
from airflow_provider_metrika.emulator.faults import FaultBook
from airflow_provider_metrika.emulator.store import Store
from airflow_provider_metrika.emulator.windows import SlidingWindows

#: Paths of the control API (no auth, no limits, no faults), the same for every vendor.
CONTROL_PREFIX = "/_emulator/"
DEFAULT_BODY_TIMEOUT_SECONDS = 30.0
_ANCHOR, _OFFSET, _OVERRIDES = "clock_anchor", "clock_offset", "config_overrides"


class Settings(Protocol):
    """A vendor's emulator settings: a frozen dataclass changed over ``POST /_emulator/config``."""

    def updated(self, changes: Mapping[str, Any]) -> Settings: ...

    def to_json(self) -> dict[str, Any]: ...

    def with_stored(self, overrides: Mapping[str, Any]) -> Settings: ...


class HarnessState:
    """Store, clock and settings of one emulator process; persisted, so ``--db`` makes a run resumable."""

    #: The vendor this state serves (``--vendor``), named in the startup line.
    vendor = "Metrika"
    #: A vendor's own SQLite tables, created at start and wiped by :meth:`reset` like the rest: schema and names.
    schema: ClassVar[str] = ""
    tables: ClassVar[tuple[str, ...]] = ()

    def __init__(self, store: Store, defaults: Any, clock_mode: str = "frozen", speed: float = 1.0):
        self.store = store
        self.defaults = defaults
        anchor = store.get_meta(_ANCHOR)
        if anchor is None:
            anchor = time.time()
            store.set_meta(_ANCHOR, anchor)
        self.clock = EmulatorClock(anchor, store.get_meta(_OFFSET, 0.0), clock_mode, speed)
        self.config = defaults.with_stored(store.get_meta(_OVERRIDES, {}))
        self.faults = FaultBook(store)
        #: Sliding-window rate limits of vendors that have them (in memory, cleared by reset).
        self.windows = SlidingWindows(self.limit_time)
        if self.tables:
            #: The connection to the vendor's own tables.
            self.db: sqlite3.Connection = store.add_tables(self.schema, self.tables)

    def now(self) -> float:
        return self.clock.now()

    def limit_time(self) -> float:
        """The rate limits' clock: real seconds plus the clock's advances.

        A real limit counts real traffic, so its windows slide as real time passes even when the emulator's
        clock is frozen (on the frozen clock alone, a window once full would refuse every request until a test
        advanced it: a deployment polling a frozen emulator got 429 forever); advancing the clock still slides
        them at once.
        """
        return time.monotonic() + self.clock.offset

    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)
        self.store.set_meta(_OFFSET, self.clock.offset)

    def configure(self, changes: Mapping[str, Any]) -> Any:
        new_config = self.config.updated(changes)
        stored = self.store.get_meta(_OVERRIDES, {})
        stored.update({name: new_config.to_json()[name] for name in changes})
        self.store.set_meta(_OVERRIDES, stored)
        self.config = new_config
        return new_config

    def reset(self) -> None:
        """Back to a fresh emulator: no data, default config, clock re-anchored at real time."""
        self.store.reset()
        self.clock.restart_at_real_time()
        self.store.set_meta(_ANCHOR, self.clock.anchor)
        self.store.set_meta(_OFFSET, 0.0)
        self.config = self.defaults
        self.windows.clear()

    def count_request(self, caller: str, method: str, route: str) -> int:
        """Count one API request of ``caller`` (a hash, never a credential); the caller's total today."""
        return self.store.count_request(caller, utc_day(self.now()), method, route)

    def body_timeout_seconds(self) -> float:
        """How long a request body may stay silent before 408 (a vendor's ``body_timeout_seconds`` setting)."""
        return float(getattr(self.config, "body_timeout_seconds", DEFAULT_BODY_TIMEOUT_SECONDS))

    def in_flight_total(self) -> int:
        """Requests being served right now (vendors without a parallel limit do not track them)."""
        return 0


HARNESS = web.AppKey("emulator_harness_state", HarnessState)
