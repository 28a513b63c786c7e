"""Everything a request handler needs, bundled: store, clock, config, quotas, faults, linkage."""

from __future__ import annotations

import os
import uuid
from typing import Any

from aiohttp import web

from airflow_provider_metrika.emulator.config import EmulatorConfig
from airflow_provider_metrika.emulator.harness import HarnessState
from airflow_provider_metrika.emulator.lifecycle import is_terminal, linkage_due, needs_linkage, status_of
from airflow_provider_metrika.emulator.linkage import LinkageBook, remove_quietly
from airflow_provider_metrika.emulator.quotas import QuotaGuard
from airflow_provider_metrika.emulator.store import Store, StoredUploading
from airflow_provider_metrika.emulator.views import render_uploading


class EmulatorState(HarnessState):
    """The Metrika emulator's state: the shared harness plus spool files, quotas and linkage."""

    config: EmulatorConfig

    def __init__(self, store: Store, defaults: EmulatorConfig, clock_mode: str = "frozen", speed: float = 1.0):
        super().__init__(store, defaults, clock_mode, speed)
        self.spool_dir = store.path + ".spool"
        os.makedirs(self.spool_dir, exist_ok=True)
        self.quotas = QuotaGuard(store, self.now, lambda: self.config)
        self.linkage = LinkageBook(store)

    def reset(self) -> None:
        """Back to a fresh emulator: no data or spool files, default config, clock re-anchored at real time."""
        for path in {*self.store.spool_paths(), *_files_in(self.spool_dir)}:  # also orphans of a crash
            remove_quietly(path)
        super().reset()

    def in_flight_total(self) -> int:
        return self.quotas.in_flight_total()

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
