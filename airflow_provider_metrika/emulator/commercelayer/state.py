"""The Commerce Layer emulator's state: tokens, imports and the organization's records.

An import's status follows the emulator clock: ``pending`` until it may start (created at
least ``stage_seconds`` ago and among the ``max_open_imports`` oldest open imports), then
``in_progress`` for ``stage_seconds``, then ``completed`` or ``interrupted`` — interrupted when
more than 10 % of its inputs failed and ``skip_errors`` is false, or when ``_interrupt`` is
sent (https://docs.commercelayer.io/core/importing-resources). Transitions are settled in
time order whenever a request reads the state, so a test that advances the clock sees
exactly what a waiting client would have seen.
"""

from __future__ import annotations

import dataclasses
import json
import secrets
import string
from typing import Any

from airflow_provider_metrika.commercelayer.import_object import OPEN_STATUSES
from airflow_provider_metrika.emulator.commercelayer import resources
from airflow_provider_metrika.emulator.commercelayer.settings import Settings
from airflow_provider_metrika.emulator.config import token_hash
from airflow_provider_metrika.emulator.errors import ApiError
from airflow_provider_metrika.emulator.harness import HarnessState
from airflow_provider_metrika.emulator.windows import WindowCheck

SCHEMA = """
CREATE TABLE IF NOT EXISTS cl_tokens (
    token_hash TEXT PRIMARY KEY, client_id TEXT NOT NULL, scope TEXT NOT NULL, expires REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS cl_imports (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, record TEXT NOT NULL, inputs TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS cl_resources (
    resource_type TEXT NOT NULL, natural_key TEXT NOT NULL, attributes TEXT NOT NULL,
    import_id TEXT NOT NULL, writes INTEGER NOT NULL, PRIMARY KEY (resource_type, natural_key)
);
"""
TABLES = ("cl_tokens", "cl_imports", "cl_resources")
OPEN = OPEN_STATUSES
#: Above this share of failed inputs an import is interrupted unless ``skip_errors``.
ERROR_RATIO = 0.10
_ID_ALPHABET = string.ascii_letters


@dataclasses.dataclass
class StoredImport:
    """One import; times are emulator epoch seconds, ``eligible`` when it got one of the open slots."""

    seq: int
    id: str
    record: dict[str, Any]

    @property
    def status(self) -> str:
        return self.record["status"]


class State(HarnessState):
    vendor = "Commerce Layer"
    schema = SCHEMA
    tables = TABLES
    config: Settings

    # -- rate limits ------------------------------------------------------------------------------
    def refuse(
        self, caller: str, error_type: str, message: str, retry_after: float | None = None, status: int | None = None
    ) -> ApiError:
        """A 429 (or ``status``) answer; the fault book's ``quota`` action uses it too."""
        return ApiError(status or 429, "TOO_MANY_REQUESTS", message, self.limit_headers(self.config.api_limit))

    def limit_headers(self, limit: int, remaining: int = 0, interval: float | None = None) -> dict[str, str]:
        """``X-Ratelimit-*`` headers (https://docs.commercelayer.io/core/rate-limits)."""
        seconds = self.config.api_interval if interval is None else interval
        return {
            "X-Ratelimit-Limit": str(limit),
            "X-Ratelimit-Interval": str(int(seconds)) if float(seconds).is_integer() else str(seconds),
            "X-Ratelimit-Remaining": str(remaining),
        }

    def check_window(self, bucket: str, caller: str) -> WindowCheck:
        limit, interval = (
            (self.config.oauth_limit, self.config.oauth_interval)
            if bucket == "oauth"
            else (self.config.api_limit, self.config.api_interval)
        )
        return self.windows.take(f"{bucket}:{caller}", limit, interval)

    # -- tokens -----------------------------------------------------------------------------------
    def issue_token(self, client_id: str, scope: str) -> tuple[str, int]:
        """A new access token and its lifetime; only its hash is kept."""
        token = secrets.token_urlsafe(32)
        ttl = self.config.token_ttl_seconds
        self.db.execute(
            "INSERT INTO cl_tokens (token_hash, client_id, scope, expires) VALUES (?, ?, ?, ?)",
            (token_hash(token), client_id, scope, self.now() + ttl),
        )
        return token, ttl

    def token_expiry(self, token: str) -> float | None:
        row = self.db.execute("SELECT expires FROM cl_tokens WHERE token_hash = ?", (token_hash(token),)).fetchone()
        return None if row is None else float(row["expires"])

    def revoke_tokens(self) -> int:
        return self.db.execute("DELETE FROM cl_tokens").rowcount

    # -- imports ----------------------------------------------------------------------------------
    def create_import(self, attributes: dict[str, Any], inputs: list[Any]) -> StoredImport:
        now = self.now()
        import_id = "".join(secrets.choice(_ID_ALPHABET) for _ in range(10))
        record = {
            **attributes,
            "status": "pending",
            "inputs_size": len(inputs),
            "processed_count": 0,
            "errors_count": 0,
            "warnings_count": 0,
            "destroyed_count": 0,
            "errors_log": {},
            "warnings_log": {},
            "started_at": None,
            "completed_at": None,
            "interrupted_at": None,
            "attachment_url": None,
            "created_at": now,
            "updated_at": now,
            "eligible": None,
        }
        cursor = self.db.execute(
            "INSERT INTO cl_imports (id, record, inputs) VALUES (?, ?, ?)",
            (import_id, json.dumps(record), json.dumps(inputs)),
        )
        self._promote(now)
        stored = self.get_import(import_id)
        return stored if stored is not None else StoredImport(int(cursor.lastrowid or 0), import_id, record)

    def get_import(self, import_id: str) -> StoredImport | None:
        row = self.db.execute("SELECT seq, id, record FROM cl_imports WHERE id = ?", (import_id,)).fetchone()
        return None if row is None else StoredImport(row["seq"], row["id"], json.loads(row["record"]))

    def imports(self) -> list[StoredImport]:
        """Every import, oldest first."""
        rows = self.db.execute("SELECT seq, id, record FROM cl_imports ORDER BY seq")
        return [StoredImport(row["seq"], row["id"], json.loads(row["record"])) for row in rows]

    def inputs_of(self, import_id: str) -> list[Any]:
        row = self.db.execute("SELECT inputs FROM cl_imports WHERE id = ?", (import_id,)).fetchone()
        return [] if row is None else json.loads(row["inputs"])

    def save(self, item: StoredImport) -> None:
        self.db.execute("UPDATE cl_imports SET record = ? WHERE id = ?", (json.dumps(item.record), item.id))

    def delete_import(self, import_id: str) -> None:
        self.db.execute("DELETE FROM cl_imports WHERE id = ?", (import_id,))
        self._promote(self.now())

    def interrupt(self, item: StoredImport) -> None:
        """``_interrupt``: an open import stops now; its remaining inputs are not applied."""
        if item.status in OPEN:
            now = self.now()
            item.record.update(status="interrupted", interrupted_at=now, updated_at=now)
            self.save(item)
            self._promote(now)

    def settle(self) -> None:
        """Apply every start and finish due by now, in time order (ties by creation order)."""
        now = self.now()
        while True:
            event = self._next_event()
            if event is None or event[0] > now:
                return
            when, item = event
            if item.status == "pending":
                item.record.update(status="in_progress", started_at=when, updated_at=when)
                self.save(item)
            else:
                self._finish(item, when)
                self._promote(when)

    def _next_event(self) -> tuple[float, StoredImport] | None:
        stage = self.config.stage_seconds
        best: tuple[float, int, StoredImport] | None = None
        for item in self.imports():
            record = item.record
            if item.status == "in_progress":
                when = record["started_at"] + stage
            elif item.status == "pending" and record["eligible"] is not None:
                when = max(record["created_at"] + stage, record["eligible"])
            else:
                continue
            if best is None or (when, item.seq) < best[:2]:
                best = (when, item.seq, item)
        return None if best is None else (best[0], best[2])

    def _promote(self, when: float) -> None:
        """Give the oldest open imports without a slot one, up to ``max_open_imports`` open at once."""
        for rank, item in enumerate(i for i in self.imports() if i.status in OPEN):
            if rank >= self.config.max_open_imports:
                return
            if item.record["eligible"] is None:
                item.record["eligible"] = when
                self.save(item)

    def _finish(self, item: StoredImport, when: float) -> None:
        record = item.record
        resource_type, inputs = record["resource_type"], self.inputs_of(item.id)
        errors_log: dict[str, Any] = {}
        warnings_log: dict[str, list[str]] = {}
        seen: dict[str, int] = {}  # natural key -> position of the input that took it
        processed = 0
        interrupted = False
        parent = record.get("parent_resource_id")
        for index, raw in enumerate(inputs):
            item_attributes = resources.with_parent(resource_type, raw, parent) if isinstance(raw, dict) else raw
            found = resources.problems(resource_type, item_attributes)
            key = None if found else resources.natural_key(resource_type, item_attributes)
            if key is not None and key in seen:
                duplicate = f"duplicates input {seen[key]} of this import"
                if self.config.duplicate_inputs == "error":
                    found = {"base": [duplicate]}
                else:  # keyed by position: its natural key names the input it duplicates
                    warnings_log.setdefault(str(index), []).append(f"skipped: {duplicate}")
                    continue
            if found:
                errors_log[resources.log_key(resource_type, raw, index)] = found
                if not record.get("skip_errors") and len(errors_log) > ERROR_RATIO * len(inputs):
                    interrupted = True
                    break
                continue
            if key is not None:
                seen[key] = index
                if self.config.warn_unchanged and self._stored(resource_type, key) == item_attributes:
                    warnings_log.setdefault(resources.log_key(resource_type, raw, index), []).append(
                        "updated nothing: the record already has these values"
                    )
            self._upsert(resource_type, item_attributes, item)
            processed += 1
        record.update(
            status="interrupted" if interrupted else "completed",
            processed_count=processed,
            errors_count=len(errors_log),
            errors_log=errors_log,
            warnings_count=sum(len(messages) for messages in warnings_log.values()),
            warnings_log=warnings_log,
            updated_at=when,
            attachment_url=f"https://example.invalid/imports/{item.id}.json.gz",
        )
        record["interrupted_at" if interrupted else "completed_at"] = when
        self.save(item)

    def _stored(self, resource_type: str, key: str) -> Any:
        row = self.db.execute(
            "SELECT attributes FROM cl_resources WHERE resource_type = ? AND natural_key = ?", (resource_type, key)
        ).fetchone()
        return None if row is None else json.loads(row["attributes"])

    def _upsert(self, resource_type: str, attributes: dict[str, Any], item: StoredImport) -> None:
        key = resources.natural_key(resource_type, attributes) or f"new:{item.id}:{secrets.token_hex(6)}"
        self.db.execute(
            "INSERT INTO cl_resources (resource_type, natural_key, attributes, import_id, writes)"
            " VALUES (?, ?, ?, ?, 1) ON CONFLICT (resource_type, natural_key) DO UPDATE SET"
            " attributes = excluded.attributes, import_id = excluded.import_id, writes = writes + 1",
            (resource_type, key, json.dumps(attributes), item.id),
        )

    def records(self, resource_type: str) -> list[dict[str, Any]]:
        """The organization's records of a type, with how many imports wrote each."""
        rows = self.db.execute(
            "SELECT natural_key, attributes, import_id, writes FROM cl_resources WHERE resource_type = ?"
            " ORDER BY natural_key",
            (resource_type,),
        )
        return [
            {
                "key": r["natural_key"],
                "attributes": json.loads(r["attributes"]),
                "import_id": r["import_id"],
                "writes": r["writes"],
            }
            for r in rows
        ]
