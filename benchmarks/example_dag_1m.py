"""The offline-conversions example DAG end to end with about a million CRM rows, on the emulator.

    python benchmarks/example_dag_1m.py [--rows 1000000] [--keep-workdir DIR] [--verbose]

Seeds the demo CRM database (``demo_crm.create_crm_database``) with enough deals, all paid
inside the run's data interval (yesterday, UTC), for about ``--rows`` paid deals; starts the
emulator at the demo speed (real clock, 300x) and runs ``airflow dags test`` exactly as the
demo does (``demo_runner``; the sensor polls every ``METRIKA_EXAMPLE_POLL_SECONDS``, 1 s).
Seeding and ``airflow db migrate`` are timed separately and excluded from the DAG run's time.
Prints a table with the run's wall time and each task's share. Target (issue 4): <= 60 s.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "example_dags"), str(ROOT / "benchmarks")]

from demo_crm import STATUSES, create_crm_database  # noqa: E402
from demo_runner import airflow_env, migrate, run_dag  # noqa: E402
from small_mode import parse_args  # noqa: E402

from airflow_provider_metrika.emulator.testing import EmulatorProcess  # noqa: E402

DAG_ID = "metrika_crm_to_offline_conversions"
TASKS = ("extract_paid_deals", "upload_offline_conversions", "wait_for_processing", "summarize")
TARGET_SECONDS = 60
_TIMESTAMP = re.compile(r"^\[?(\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?)")
#: Airflow 3: "[DAG TEST] starting task_id=X" ... "[DAG TEST] end task task_id=X"
_AF3_EDGE = re.compile(r"\[DAG TEST\] (?P<edge>starting|end task) task_id=(?P<task>\w+)")
#: Airflow 2: "Marking task as SUCCESS. dag_id=..., task_id=X, ..., start_date=..., end_date=..."
_AF2_DONE = re.compile(r"task_id=(?P<task>\w+),.*?start_date=(?P<start>[^,]+), end_date=(?P<end>[^,\s]+(?: [^,\s]+)?)")
_EXTRACTED = re.compile(r"Extracted (\d+) paid deals")


def _moment(text: str) -> datetime:
    return datetime.fromisoformat(text.strip().replace(",", ".").replace(" ", "T", 1)[:26])


def task_durations(output: str) -> dict[str, float]:
    """Seconds per task: Airflow 3 logs ``[DAG TEST] starting/end task``, Airflow 2 ``Marking task as SUCCESS``."""
    started: dict[str, datetime] = {}
    durations: dict[str, float] = {}
    for line in output.splitlines():
        edge, stamp = _AF3_EDGE.search(line), _TIMESTAMP.match(line)
        if edge and stamp:
            if edge["edge"] == "starting":
                started.setdefault(edge["task"], _moment(stamp[1]))
            elif edge["task"] in started:
                durations[edge["task"]] = (_moment(stamp[1]) - started[edge["task"]]).total_seconds()
        elif "Marking task as SUCCESS" in line and (done := _AF2_DONE.search(line)):
            durations[done["task"]] = (_moment(done["end"]) - _moment(done["start"])).total_seconds()
    return durations


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="paid deals to extract and upload (about)")
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--keep-workdir", type=Path, help="run here and keep the files (default: a temp dir)")
    parser.add_argument("--verbose", action="store_true", help="stream the `airflow dags test` output")
    args = parse_args(parser, small={"rows": 300, "customers": 100})

    workdir = args.keep_workdir or Path(tempfile.mkdtemp(prefix="metrika-dag-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        paid_share = STATUSES.count("paid") / len(STATUSES)
        # demo deals are paid up to an hour after creation, so about half an hour's worth fall before the interval
        inside_interval = 1 - 1800 / 86400
        deals = round(args.rows / paid_share / inside_interval)
        started = time.perf_counter()
        # deals over the one day before midnight: the data interval of the run with logical date `midnight`
        crm_db = create_crm_database(workdir / "crm.db", customers=args.customers, deals=deals, end=midnight, days=1)
        seeding = time.perf_counter() - started
        print(f"Seeded {crm_db}: {deals:,} deals, {args.customers:,} customers in {seeding:.1f} s", flush=True)
        with EmulatorProcess(str(workdir / "emulator.db"), "--clock", "real", "--speed", "300") as emulator:
            env = airflow_env(workdir, emulator.url, crm_db)
            started = time.perf_counter()
            migrate(env)
            migrating = time.perf_counter() - started
            print(f"airflow db migrate: {migrating:.1f} s; running `airflow dags test {DAG_ID}` ...", flush=True)
            started = time.perf_counter()
            result = run_dag(DAG_ID, env, logical_date=midnight, echo=args.verbose)
            wall = time.perf_counter() - started
            uploadings = emulator.client.uploadings(kind="offline_conversions")
        if result.returncode != 0:
            print(result.output[-6000:])
            print(f"FAILED: exit code {result.returncode}")
            return 1
        summary = result.summary or {}
        durations = task_durations(result.output)
        extracted = _EXTRACTED.search(result.output)
        rows = int(extracted.group(1)) if extracted else summary.get("rows_extracted")
        print()
        print(f"{'step':<28} {'seconds':>8}")
        print("-" * 37)
        print(f"{'seed CRM (excluded)':<28} {seeding:8.1f}")
        print(f"{'airflow db migrate (excl.)':<28} {migrating:8.1f}")
        for task in TASKS:
            shown = f"{durations[task]:8.1f}" if task in durations else f"{'?':>8}"
            print(f"{'  ' + task:<28} {shown}")
        print(f"{'DAG run (airflow dags test)':<28} {wall:8.1f}   target <= {TARGET_SECONDS} s")
        print()
        print(f"rows extracted {rows:,}; Metrika summary: {summary}")
        print(f"emulator uploadings: {[(u.get('id'), u.get('status'), u.get('rows')) for u in uploadings]}")
        return 0
    finally:
        if args.keep_workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
