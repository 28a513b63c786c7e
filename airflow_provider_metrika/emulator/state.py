"""Everything a request handler needs, bundled: store, clock, config, quotas, faults, linkage."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from airflow_provider_metrika.emulator.clock import EmulatorClock
from airflow_provider_metrika.emulator.config import EmulatorConfig
from airflow_provider_metrika.emulator.faults import FaultBook
from airflow_provider_metrika.emulator.lifecycle import is_terminal, linkage_due, needs_linkage, status_of
from airflow_provider_metrika.emulator.linkage import LinkageBook, remove_quietly
from airflow_provider_metrika.emulator.quotas import QuotaGuard
from airflow_provider_metrika.emulator.store import Store, StoredUploading
from airflow_provider_metrika.emulator.views import render_uploading

_ANCHOR, _OFFSET, _OVERRIDES = "clock_anchor", "clock_offset", "config_overrides"


class EmulatorState:
    """The emulator's state: persisted in the store, cached where a request reads it often."""

    def __init__(self, store: Store, defaults: EmulatorConfig, clock_mode: str = "frozen", speed: float = 1.0):
        self.store = store
        self.defaults = defaults
        anchor = store.get_meta(_ANCHOR)
        if anchor is None:
            anchor = time.time()
            store.set_meta(_ANCHOR, anchor)
        self.clock = EmulatorClock(anchor, store.get_meta(_OFFSET, 0.0), clock_mode, speed)
        self.config = defaults.with_stored(store.get_meta(_OVERRIDES, {}))
        self.spool_dir = store.path + ".spool"
        os.makedirs(self.spool_dir, exist_ok=True)
        self.quotas = QuotaGuard(store, self.now, lambda: self.config)
        self.faults = FaultBook(store)
        self.linkage = LinkageBook(store)

    def now(self) -> float:
        return self.clock.now()

    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)
        self.store.set_meta(_OFFSET, self.clock.offset)

    def configure(self, changes: Mapping[str, Any]) -> EmulatorConfig:
        new_config = self.config.updated(changes)
        stored = self.store.get_meta(_OVERRIDES, {})
        stored.update({name: new_config.to_json()[name] for name in changes})
        self.store.set_meta(_OVERRIDES, stored)
        self.config = new_config
        return new_config

    def reset(self) -> None:
        """Back to a fresh emulator: no data, default config, clock re-anchored at real time."""
        for path in {*self.store.spool_paths(), *_files_in(self.spool_dir)}:  # also orphans of a crash
            remove_quietly(path)
        self.store.reset()
        self.clock.restart_at_real_time()
        self.store.set_meta(_ANCHOR, self.clock.anchor)
        self.store.set_meta(_OFFSET, 0.0)
        self.config = self.defaults

    def new_spool_path(self) -> str:
        return os.path.join(self.spool_dir, f"{uuid.uuid4().hex}.csv")

    async def view(self, uploading: StoredUploading) -> dict[str, Any]:
        """The uploading as Metrika shows it now (counting linkage first if it just turned terminal)."""
        now, stage_seconds = self.now(), self.config.stage_seconds
        if needs_linkage(uploading, now, stage_seconds):
            await self.linkage.ensure(uploading)
        elif linkage_due(uploading, now, stage_seconds):
            self.linkage.prefetch(uploading)
        terminal = is_terminal(uploading, now, stage_seconds)
        return render_uploading(uploading, status_of(uploading, now, stage_seconds, self.config.first_status), terminal)


def _files_in(directory: str) -> list[str]:
    try:
        return [entry.path for entry in os.scandir(directory) if entry.is_file()]
    except OSError:
        return []


STATE = web.AppKey("metrika_emulator_state", EmulatorState)
