"""Print rows/s of the offline-conversions validator against a bare csv.reader on the same file.

    python benchmarks/validate_speed.py [--mb 100] [--keep PATH]

Generates an offline-conversions CSV of about ``--mb`` megabytes (valid rows, DateTime spread
over 30 days, so about a third are older than the 21-day linkage window; prices and currencies),
then times three passes, best of ``--repeat``: csv.reader over io.TextIOWrapper (the floor),
``validate()`` (chunked checker), and ``filter_rows`` with ``stale_rows="drop"``.
Prints figures only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

from conversions_file import write_conversions_csv  # noqa: E402
from small_mode import parse_args  # noqa: E402

from airflow_provider_metrika.formats import ValidationOptions, get_file_format  # noqa: E402


def bare_reader(path: Path) -> int:
    count = 0
    with open(path, "rb") as raw, io.TextIOWrapper(io.BufferedReader(raw), encoding="utf-8", newline="") as text:
        for _ in csv.reader(text):
            count += 1
    return count - 1


def timed(label: str, rows: int, size: int, run, repeat: int) -> float:
    elapsed = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        result = run()
        elapsed = min(elapsed, time.perf_counter() - start)
    speed = f"{rows / elapsed:>12,.0f} rows/s  {size / elapsed / 2**20:7.1f} MiB/s"
    print(f"{label:<34} {elapsed:7.2f} s  {speed}  {result}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=100)
    parser.add_argument("--keep", type=Path, help="write the generated file here and keep it")
    parser.add_argument("--repeat", type=int, default=3, help="runs per pass; the best is shown")
    args = parse_args(parser, small={"mb": 1, "repeat": 1})
    now = int(time.time())
    options = ValidationOptions(now=datetime.fromtimestamp(now, UTC))
    fmt = get_file_format("offline_conversions")
    with tempfile.TemporaryDirectory() as tmp:
        path = args.keep or Path(tmp) / "conversions.csv"
        rows = write_conversions_csv(path, args.mb * 2**20, now, days=30)
        size = os.path.getsize(path)
        print(f"{path}: {rows:,} rows, {size / 2**20:.0f} MiB (best of {args.repeat})")
        floor = timed("csv.reader (floor)", rows, size, lambda: f"{bare_reader(path):,} rows", args.repeat)
        check = timed("validate()", rows, size, lambda: _summary(fmt.validate(path, options=options)), args.repeat)
        drop = ValidationOptions(now=options.now, stale_rows="drop")
        with open(os.devnull, "wb") as sink:
            timed(
                "filter_rows(stale_rows='drop')",
                rows,
                size,
                lambda: _summary(fmt.filter_rows(path, sink, drop)),
                args.repeat,
            )
        print(f"validate() runs at {floor / check:.2f}x the csv.reader speed")


def _summary(report) -> str:
    return f"{report.valid_rows:,} valid, {report.dropped_rows:,} dropped, {report.total_problems} problems"


if __name__ == "__main__":
    main()
