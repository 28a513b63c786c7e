"""Synthetic offline-conversions CSVs for the benchmarks (valid rows, ids, DateTime, price, currency).

A pool of random rows is written over and over until the file reaches its size: generating
1 GiB row by row would take longer than the benchmarks themselves, and every block the
validator sees still holds varied, realistic rows.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

HEADER = "ClientId,UserId,Target,DateTime,Price,Currency\n"
CURRENCIES = ("RUB", "USD", "EUR", "KZT")
POOL_ROWS = 100_000
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(i?)B?\s*$", re.IGNORECASE)


def parse_size(text: str) -> int:
    """Bytes in ``"1GiB"``, ``"256MiB"``, ``"100MB"``, ``"4096"`` (KiB/MiB/GiB are powers of 1024, kB/MB/GB of 1000)."""
    match = _SIZE.match(text)
    if match is None:
        raise ValueError(f"not a size: {text!r} (try 1GiB, 256MiB, 100MB)")
    number, unit, binary = match.groups()
    base = 1024 if binary or not unit else 1000
    return int(float(number) * base ** " KMGT".index(unit.upper() or " "))


def row_pool(now: int, days: int, seed: int = 7) -> str:
    """``POOL_ROWS`` valid rows with DateTime spread over the ``days`` before ``now``."""
    rng = random.Random(seed)
    return "".join(
        f"{rng.randrange(10**17, 10**19)},user-{rng.randrange(10**6)},order_paid,"
        f"{now - rng.randrange(60, days * 86400)},{rng.randrange(1, 10**6)}.{rng.randrange(100):02d},"
        f"{rng.choice(CURRENCIES)}\n"
        for _ in range(POOL_ROWS)
    )


def write_conversions_csv(path: Path, size: int, now: int, days: int = 7) -> int:
    """Write at most ``size`` bytes (whole rows, as many as fit) to ``path``; returns the number of data rows."""
    pool = row_pool(now, days).encode()
    pool_rows = pool.count(b"\n")
    written = len(HEADER)
    rows = 0
    with open(path, "wb") as out:
        out.write(HEADER.encode())
        while written < size:
            piece = pool
            if written + len(piece) > size:
                piece = pool[: pool.rfind(b"\n", 0, size - written) + 1]
                if not piece:
                    break
            out.write(piece)
            written += len(piece)
            rows += pool_rows if piece is pool else piece.count(b"\n")
    return rows
