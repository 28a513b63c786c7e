"""The Fleetio emulator's state: imports "a person uploaded in the web app" and their row results.

Status follows the emulator clock from creation: ``new``, ``queued``, ``processing`` for
``stage_seconds`` each, then terminal — ``complete`` when no row failed,
``partially_complete`` when some did, ``failed`` when all did, or the outcome the control
call asked for (``incomplete``, ``unsupported``, ...). A rollback asked for at time T shows
``rolling_back`` for one stage, then ``rolled_back``. Statuses from
https://developer.fleetio.com/docs/api/v-1-imports; rows' ``pending`` until the import ends.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from typing import Any

from airflow_provider_metrika.emulator.errors import ApiError
from airflow_provider_metrika.emulator.fleetio.settings import Settings
from airflow_provider_metrika.emulator.harness import HarnessState
from airflow_provider_metrika.emulator.windows import WindowCheck

SCHEMA = """
CREATE TABLE IF NOT EXISTS fl_imports (
    id INTEGER PRIMARY KEY AUTOINCREMENT, created REAL NOT NULL, record TEXT NOT NULL, rollback REAL
);
"""
TABLES = ("fl_imports",)
STAGES = ("new", "queued", "processing")
#: Row ids are ``import id * ROW_ID_BASE + row number`` (unique across imports).
ROW_ID_BASE = 1_000_000


@dataclasses.dataclass
class StoredImport:
    id: int
    created: float
    record: dict[str, Any]
    rollback: float | None

    def finished_at(self, stage_seconds: float) -> float:
        return self.created + len(STAGES) * stage_seconds

    def outcome(self) -> str:
        """The terminal status the import reaches (before any rollback)."""
        if self.record.get("outcome"):
            return self.record["outcome"]
        statuses = [row["status"] for row in self.record["rows"]]
        errors = statuses.count("error")
        if errors == 0:
            return "complete"
        return "failed" if errors == len(statuses) else "partially_complete"

    def status_at(self, now: float, stage_seconds: float) -> tuple[str, float]:
        """The status at ``now`` and when it began."""
        if self.rollback is not None and now >= self.rollback:
            done = self.rollback + stage_seconds
            return ("rolled_back", done) if now >= done else ("rolling_back", self.rollback)
        finished = self.finished_at(stage_seconds)
        if now >= finished:
            return self.outcome(), finished
        stage = 0 if stage_seconds <= 0 else int((now - self.created) // stage_seconds)
        return STAGES[stage], self.created + stage * stage_seconds


class State(HarnessState):
    vendor = "Fleetio"
    schema = SCHEMA
    tables = TABLES
    config: Settings

    def check_window(self, caller: str) -> WindowCheck:
        return self.windows.take(caller, self.config.rate_limit, self.config.rate_window)

    def refuse(
        self, caller: str, error_type: str, message: str, retry_after: float | None = None, status: int | None = None
    ) -> ApiError:
        """A 429 with ``Retry-After`` (seconds); the fault book's ``quota`` action uses it too."""
        seconds = 1 if retry_after is None else max(1, round(retry_after + 0.4999))
        return ApiError(
            status or 429,
            "too_many_requests",
            message or f"Too many requests detected. Please retry after {seconds} seconds.",
            {"Retry-After": str(seconds)},
        )

    def add_import(self, record: dict[str, Any]) -> StoredImport:
        now = self.now()
        cursor = self.db.execute("INSERT INTO fl_imports (created, record) VALUES (?, ?)", (now, json.dumps(record)))
        return StoredImport(int(cursor.lastrowid or 0), now, record, None)

    def get_import(self, import_id: int) -> StoredImport | None:
        row = self.db.execute("SELECT * FROM fl_imports WHERE id = ?", (import_id,)).fetchone()
        return None if row is None else _stored(row)

    def imports(self) -> list[StoredImport]:
        return [_stored(row) for row in self.db.execute("SELECT * FROM fl_imports ORDER BY id")]

    def roll_back(self, item: StoredImport) -> None:
        self.db.execute("UPDATE fl_imports SET rollback = ? WHERE id = ?", (self.now(), item.id))
        item.rollback = self.now()


def _stored(row: sqlite3.Row) -> StoredImport:
    return StoredImport(row["id"], row["created"], json.loads(row["record"]), row["rollback"])
