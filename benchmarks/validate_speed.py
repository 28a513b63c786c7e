"""Print rows/s of the offline-conversions validator against a bare csv.reader on the same file.

    python benchmarks/validate_speed.py [--mb 100] [--keep PATH]

Generates an offline-conversions CSV of about ``--mb`` megabytes (valid rows, recent DateTime,
prices and currencies), then times three passes: csv.reader over io.TextIOWrapper (the floor),
``validate()`` (chunked checker), and ``validate()`` with ``stale_rows="drop"`` via ``filter_rows``.
Prints figures only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import random
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from airflow_provider_metrika.formats import ValidationOptions, get_file_format


def generate(path: Path, megabytes: int, now: int) -> int:
    rng = random.Random(7)
    currencies = ["RUB", "USD", "EUR", "KZT"]
    target_size = megabytes * 1024 * 1024
    rows = 0
    with open(path, "w", encoding="utf-8", newline="") as handle:
        handle.write("ClientId,UserId,Target,DateTime,Price,Currency\n")
        lines = []
        while handle.tell() < target_size:
            for _ in range(10_000):
                lines.append(
                    f"{rng.randrange(10**17, 10**19)},user-{rng.randrange(10**6)},order_paid,"
                    f"{now - rng.randrange(0, 30 * 86400)},{rng.randrange(1, 10**6)}.{rng.randrange(100):02d},"
                    f"{rng.choice(currencies)}\n"
                )
            handle.write("".join(lines))
            rows += len(lines)
            lines.clear()
    return rows


def bare_reader(path: Path) -> int:
    count = 0
    with open(path, "rb") as raw, io.TextIOWrapper(io.BufferedReader(raw), encoding="utf-8", newline="") as text:
        for _ in csv.reader(text):
            count += 1
    return count - 1


def timed(label: str, rows: int, size: int, run) -> None:
    start = time.perf_counter()
    result = run()
    elapsed = time.perf_counter() - start
    speed = f"{rows / elapsed:>12,.0f} rows/s  {size / elapsed / 2**20:7.1f} MiB/s"
    print(f"{label:<34} {elapsed:7.2f} s  {speed}  {result}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=100)
    parser.add_argument("--keep", type=Path, help="write the generated file here and keep it")
    args = parser.parse_args()
    now = int(time.time())
    options = ValidationOptions(now=datetime.fromtimestamp(now, UTC))
    fmt = get_file_format("offline_conversions")
    with tempfile.TemporaryDirectory() as tmp:
        path = args.keep or Path(tmp) / "conversions.csv"
        rows = generate(path, args.mb, now)
        size = os.path.getsize(path)
        print(f"{path}: {rows:,} rows, {size / 2**20:.0f} MiB")
        timed("csv.reader (floor)", rows, size, lambda: f"{bare_reader(path):,} rows")
        timed("validate()", rows, size, lambda: _summary(fmt.validate(path, options=options)))
        drop = ValidationOptions(now=options.now, stale_rows="drop")
        with open(os.devnull, "wb") as sink:
            timed("filter_rows(stale_rows='drop')", rows, size, lambda: _summary(fmt.filter_rows(path, sink, drop)))


def _summary(report) -> str:
    return f"{report.valid_rows:,} valid, {report.dropped_rows:,} dropped, {report.total_problems} problems"


if __name__ == "__main__":
    main()
