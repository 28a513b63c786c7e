"""A tiny CRM database for the example DAGs and the demo (not a DAG; listed in .airflowignore).

The schema is plain SQL that runs on SQLite and PostgreSQL alike, so pointing the
``crm_db`` connection at a real PostgreSQL CRM needs no change to the DAGs.
"""

from __future__ import annotations

import calendar
import random
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS customers (
    id INTEGER PRIMARY KEY,
    client_id VARCHAR(32),
    email VARCHAR(255),
    phone VARCHAR(32),
    name VARCHAR(255),
    created_at TIMESTAMP NOT NULL
);
CREATE TABLE IF NOT EXISTS deals (
    id INTEGER PRIMARY KEY,
    customer_id INTEGER NOT NULL REFERENCES customers (id),
    status VARCHAR(16) NOT NULL,
    amount NUMERIC(12, 2) NOT NULL,
    currency CHAR(3) NOT NULL,
    created_at TIMESTAMP NOT NULL,
    paid_at TIMESTAMP
);
"""
# Built after the rows are in (faster than growing it row by row). It covers the offline-conversions
# DAG's query (paid deals of an interval), so a million-row extract reads the index alone.
INDEXES = """
CREATE INDEX IF NOT EXISTS deals_paid_at ON deals (paid_at, status, customer_id, amount, currency);
"""

STATUSES = ("paid", "paid", "paid", "new", "cancelled")


def create_crm_database(
    path: str | Path,
    *,
    customers: int = 1000,
    deals: int = 5000,
    end: datetime | None = None,
    days: int = 3,
    seed: int = 42,
) -> Path:
    """Create (or replace) a seeded CRM database: deals spread over the ``days`` before ``end`` (UTC)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    end = (end or datetime.now(UTC)).astimezone(UTC).replace(tzinfo=None, microsecond=0)
    rng = random.Random(seed)
    span = int(timedelta(days=days).total_seconds())
    end_ts = calendar.timegm(end.timetuple())
    # random() is one C call; randrange() several Python ones: seeding a million deals shows the difference
    draw = rng.random

    def below(n: int) -> int:
        return int(draw() * n)

    def customer(i: int) -> tuple:
        return (
            i,
            str(1_600_000_000_000_000_000 + below(10**15)) if draw() < 0.95 else None,
            f"Customer.{i}@Example.com",
            f"+7 (9{below(10**2):02d}) {below(10**3):03d}-{below(10**4):04d}",
            f"Customer {i}",
            _sql_time(end_ts - (60 + below(300)) * 86400),
        )

    def deal(i: int) -> tuple:
        created = end_ts - below(span) - 3600
        status = STATUSES[below(len(STATUSES))]
        paid = created + 1 + below(3599) if status == "paid" else None
        return (
            i,
            1 + below(customers),
            status,
            f"{(500 + below(499500)) / 100:.2f}",
            "RUB",
            _sql_time(created),
            _sql_time(paid) if paid else None,
        )

    with sqlite3.connect(path) as db:
        db.execute("PRAGMA journal_mode = OFF")  # a throw-away demo database: no rollback journal to write
        db.execute("PRAGMA synchronous = OFF")
        db.executescript(SCHEMA)
        db.executemany(
            "INSERT INTO customers (id, client_id, email, phone, name, created_at) VALUES (?, ?, ?, ?, ?, ?)",
            (customer(i) for i in range(1, customers + 1)),
        )
        db.executemany(
            "INSERT INTO deals (id, customer_id, status, amount, currency, created_at, paid_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (deal(i) for i in range(1, deals + 1)),
        )
        db.executescript(INDEXES)
    return path


def _sql_time(unix_seconds: int) -> str:
    """``YYYY-MM-DD HH:MM:SS`` (UTC), as ``datetime.isoformat(" ")`` writes it, without building a datetime."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(unix_seconds))
