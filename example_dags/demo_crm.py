"""A tiny CRM database for the example DAGs and the demo (not a DAG; listed in .airflowignore).

The schema is plain SQL that runs on SQLite and PostgreSQL alike, so pointing the
``crm_db`` connection at a real PostgreSQL CRM needs no change to the DAGs.
"""

from __future__ import annotations

import random
import sqlite3
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
CREATE INDEX IF NOT EXISTS deals_paid_at ON deals (paid_at);
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
    with sqlite3.connect(path) as db:
        db.executescript(SCHEMA)
        db.executemany(
            "INSERT INTO customers (id, client_id, email, phone, name, created_at) VALUES (?, ?, ?, ?, ?, ?)",
            (
                (
                    i,
                    str(1_600_000_000_000_000_000 + rng.randrange(10**15)) if rng.random() < 0.95 else None,
                    f"Customer.{i}@Example.com",
                    f"+7 (9{rng.randrange(10**2):02d}) {rng.randrange(10**3):03d}-{rng.randrange(10**4):04d}",
                    f"Customer {i}",
                    (end - timedelta(days=60 + rng.randrange(300))).isoformat(" "),
                )
                for i in range(1, customers + 1)
            ),
        )

        def deal(i: int) -> tuple:
            created = end - timedelta(seconds=rng.randrange(span) + 3600)
            status = rng.choice(STATUSES)
            paid = created + timedelta(seconds=rng.randrange(1, 3600)) if status == "paid" else None
            return (
                i,
                rng.randrange(1, customers + 1),
                status,
                f"{rng.randrange(500, 500000) / 100:.2f}",
                "RUB",
                created.isoformat(" "),
                paid.isoformat(" ") if paid else None,
            )

        db.executemany(
            "INSERT INTO deals (id, customer_id, status, amount, currency, created_at, paid_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (deal(i) for i in range(1, deals + 1)),
        )
    return path
