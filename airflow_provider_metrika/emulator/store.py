"""SQLite state of the emulator: uploadings, visitors, faults, request counters, clock, config.

Everything a restarted emulator needs lives here, so ``--db`` makes a run resumable.
The store is used from the event-loop thread only; each call is one short transaction.
OAuth tokens are never stored: request counters key on the token's sha256.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS uploadings (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    variant TEXT NOT NULL DEFAULT '',
    counter_id INTEGER NOT NULL,
    created REAL NOT NULL,
    created_ms INTEGER NOT NULL,
    comment TEXT NOT NULL DEFAULT '',
    rows INTEGER NOT NULL DEFAULT 0,
    sha256 TEXT NOT NULL,
    size INTEGER NOT NULL,
    attrs TEXT NOT NULL DEFAULT '{}',
    confirmed REAL,
    visitor_seq INTEGER NOT NULL DEFAULT 0,
    spool TEXT,
    linkage TEXT
);
CREATE INDEX IF NOT EXISTS uploadings_by_counter ON uploadings (counter_id, kind, created_ms);
CREATE TABLE IF NOT EXISTS visitors (seq INTEGER PRIMARY KEY AUTOINCREMENT, visitor_id TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS faults (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    spec TEXT NOT NULL,
    remaining INTEGER,
    hits INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS request_counts (
    token_hash TEXT NOT NULL, day TEXT NOT NULL, method TEXT NOT NULL, route TEXT NOT NULL,
    count INTEGER NOT NULL, PRIMARY KEY (token_hash, day, method, route)
);
CREATE TABLE IF NOT EXISTS throttled (
    token_hash TEXT NOT NULL, day TEXT NOT NULL, error_type TEXT NOT NULL,
    count INTEGER NOT NULL, PRIMARY KEY (token_hash, day, error_type)
);
"""


@dataclasses.dataclass
class StoredUploading:
    """One stored uploading of any kind; the status is derived from it, not stored (except CDP)."""

    id: int
    kind: str
    variant: str
    counter_id: int
    created: float
    created_ms: int
    comment: str
    rows: int
    sha256: str
    size: int
    attrs: dict[str, Any]
    confirmed: float | None = None
    visitor_seq: int = 0
    spool: str | None = None
    linkage: dict[str, int] | None = None


@dataclasses.dataclass(frozen=True)
class StoredFault:
    id: int
    spec: dict[str, Any]
    remaining: int | None
    hits: int

    def to_json(self) -> dict[str, Any]:
        return {**self.spec, "id": self.id, "remaining": self.remaining, "hits": self.hits}


class Store:
    """Thin, typed access to the SQLite file."""

    def __init__(self, path: str):
        self.path = path
        self._db = sqlite3.connect(path, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        self._tables = ["meta", "uploadings", "visitors", "faults", "request_counts", "throttled"]

    def add_tables(self, schema: str, tables: Sequence[str]) -> sqlite3.Connection:
        """Create a vendor's own tables (wiped by :meth:`reset` like the rest); the connection to use them."""
        self._db.executescript(schema)
        self._tables.extend(name for name in tables if name not in self._tables)
        return self._db

    def close(self) -> None:
        self._db.close()

    # -- meta -------------------------------------------------------------------------------
    def get_meta(self, key: str, default: Any = None) -> Any:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return default if row is None else json.loads(row["value"])

    def set_meta(self, key: str, value: Any) -> None:
        self._db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, json.dumps(value)),
        )

    # -- uploadings -------------------------------------------------------------------------
    def add_uploading(self, uploading: StoredUploading) -> int:
        """Insert and return the new id (ids keep increasing, also across resets)."""
        cursor = self._db.execute(
            "INSERT INTO uploadings (kind, variant, counter_id, created, created_ms, comment, rows, sha256, size,"
            " attrs, confirmed, visitor_seq, spool, linkage) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                uploading.kind,
                uploading.variant,
                uploading.counter_id,
                uploading.created,
                uploading.created_ms,
                uploading.comment,
                uploading.rows,
                uploading.sha256,
                uploading.size,
                json.dumps(uploading.attrs),
                uploading.confirmed,
                uploading.visitor_seq,
                uploading.spool,
                None if uploading.linkage is None else json.dumps(uploading.linkage),
            ),
        )
        uploading.id = int(cursor.lastrowid)
        return uploading.id

    def get_uploading(self, kind: str, counter_id: int, uploading_id: int) -> StoredUploading | None:
        row = self._db.execute(
            "SELECT * FROM uploadings WHERE id = ? AND kind = ? AND counter_id = ?", (uploading_id, kind, counter_id)
        ).fetchone()
        return None if row is None else _uploading(row)

    def list_uploadings(
        self,
        kinds: Sequence[str] | None = None,
        counter_id: int | None = None,
        variant: str | None = None,
        before_ms: int | None = None,
        limit: int = -1,
        offset: int = 0,
    ) -> list[StoredUploading]:
        """Newest first (by creation time, then id)."""
        where, args = [], []
        if kinds:
            where.append(f"kind IN ({', '.join('?' * len(kinds))})")
            args.extend(kinds)
        for clause, value in (("counter_id = ?", counter_id), ("variant = ?", variant), ("created_ms < ?", before_ms)):
            if value is not None:
                where.append(clause)
                args.append(value)
        sql = "SELECT * FROM uploadings" + (" WHERE " + " AND ".join(where) if where else "")
        sql += " ORDER BY created_ms DESC, id DESC LIMIT ? OFFSET ?"
        return [_uploading(row) for row in self._db.execute(sql, (*args, limit, offset))]

    def last_created_ms(self, kinds: Sequence[str]) -> int:
        row = self._db.execute(
            f"SELECT MAX(created_ms) AS last FROM uploadings WHERE kind IN ({', '.join('?' * len(kinds))})", kinds
        ).fetchone()
        return int(row["last"] or 0)

    def update_uploading(self, uploading_id: int, comment: str, attrs: dict[str, Any]) -> None:
        self._db.execute(
            "UPDATE uploadings SET comment = ?, attrs = ? WHERE id = ?", (comment, json.dumps(attrs), uploading_id)
        )

    def counter_ids(self) -> list[int]:
        """Counters that hold any uploading, ascending."""
        return [row["counter_id"] for row in self._db.execute("SELECT DISTINCT counter_id FROM uploadings ORDER BY 1")]

    def set_confirmed(self, uploading_id: int, confirmed: float) -> None:
        self._db.execute("UPDATE uploadings SET confirmed = ? WHERE id = ?", (confirmed, uploading_id))

    def set_linkage(self, uploading_id: int, linkage: dict[str, int]) -> None:
        self._db.execute(
            "UPDATE uploadings SET linkage = ?, spool = NULL WHERE id = ?", (json.dumps(linkage), uploading_id)
        )

    def spool_paths(self) -> list[str]:
        return [row["spool"] for row in self._db.execute("SELECT spool FROM uploadings WHERE spool IS NOT NULL")]

    # -- visitors ---------------------------------------------------------------------------
    def add_visitors(self, visitor_ids: Iterable[str]) -> int:
        with self._db:
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT OR IGNORE INTO visitors (visitor_id) VALUES (?)", ((str(v),) for v in visitor_ids)
            )
        return self.visitor_seq()

    def visitor_seq(self) -> int:
        row = self._db.execute("SELECT MAX(seq) AS seq FROM visitors").fetchone()
        return int(row["seq"] or 0)

    def visitors_up_to(self, seq: int) -> frozenset[str]:
        rows = self._db.execute("SELECT visitor_id FROM visitors WHERE seq <= ?", (seq,))
        return frozenset(row["visitor_id"] for row in rows)

    # -- faults -----------------------------------------------------------------------------
    def add_fault(self, spec: dict[str, Any], times: int | None) -> int:
        cursor = self._db.execute("INSERT INTO faults (spec, remaining) VALUES (?, ?)", (json.dumps(spec), times))
        return int(cursor.lastrowid)

    def faults(self) -> list[StoredFault]:
        rows = self._db.execute("SELECT * FROM faults ORDER BY id")
        return [StoredFault(row["id"], json.loads(row["spec"]), row["remaining"], row["hits"]) for row in rows]

    def armed_faults(self) -> list[StoredFault]:
        return [fault for fault in self.faults() if fault.remaining is None or fault.remaining > 0]

    def record_fault_hit(self, fault_id: int) -> None:
        self._db.execute(
            "UPDATE faults SET hits = hits + 1,"
            " remaining = CASE WHEN remaining IS NULL THEN NULL ELSE remaining - 1 END WHERE id = ?",
            (fault_id,),
        )

    def clear_faults(self) -> None:
        self._db.execute("DELETE FROM faults")

    # -- request counters -------------------------------------------------------------------
    def count_request(self, token_hash: str, day: str, method: str, route: str) -> int:
        """Count one request and return the token's total for the day."""
        self._db.execute(
            "INSERT INTO request_counts (token_hash, day, method, route, count) VALUES (?, ?, ?, ?, 1)"
            " ON CONFLICT (token_hash, day, method, route) DO UPDATE SET count = count + 1",
            (token_hash, day, method, route),
        )
        row = self._db.execute(
            "SELECT SUM(count) AS total FROM request_counts WHERE token_hash = ? AND day = ?", (token_hash, day)
        ).fetchone()
        return int(row["total"])

    def count_throttled(self, token_hash: str, day: str, error_type: str) -> None:
        self._db.execute(
            "INSERT INTO throttled (token_hash, day, error_type, count) VALUES (?, ?, ?, 1)"
            " ON CONFLICT (token_hash, day, error_type) DO UPDATE SET count = count + 1",
            (token_hash, day, error_type),
        )

    def request_counts(self) -> list[sqlite3.Row]:
        return self._db.execute("SELECT * FROM request_counts ORDER BY token_hash, day, route, method").fetchall()

    def throttled_counts(self) -> list[sqlite3.Row]:
        return self._db.execute("SELECT * FROM throttled ORDER BY token_hash, day, error_type").fetchall()

    # -- reset ------------------------------------------------------------------------------
    def reset(self) -> None:
        """Wipe everything except the id sequences (ids stay unique across resets)."""
        with self._db:
            self._db.execute("BEGIN")
            for table in self._tables:
                self._db.execute(f"DELETE FROM {table}")


def _uploading(row: sqlite3.Row) -> StoredUploading:
    return StoredUploading(
        id=row["id"],
        kind=row["kind"],
        variant=row["variant"],
        counter_id=row["counter_id"],
        created=row["created"],
        created_ms=row["created_ms"],
        comment=row["comment"],
        rows=row["rows"],
        sha256=row["sha256"],
        size=row["size"],
        attrs=json.loads(row["attrs"]),
        confirmed=row["confirmed"],
        visitor_seq=row["visitor_seq"],
        spool=row["spool"],
        linkage=None if row["linkage"] is None else json.loads(row["linkage"]),
    )
