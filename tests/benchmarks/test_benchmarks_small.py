"""Every benchmark in benchmarks/ still runs: its ``--small`` mode completes and prints its table.

A benchmark nobody runs rots silently (a rule tightened elsewhere, a renamed function); these runs go
through the same code as a full run, with tiny sizes. Their figures are not checked: only that the
script exits 0 and prints the lines its table is made of.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.benchmarks

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
# what each benchmark's table prints (a heading or a row label), besides exiting 0
TABLE_LINES = {
    "validate_speed.py": ("csv.reader (floor)", "validate()", "runs at"),
    "upload_memory.py": ("variant", "x parse", "csv-parse", "inflight"),
    "example_dag_1m.py": ("extract_paid_deals", "DAG run (airflow dags test)", "rows extracted"),
    "many_waits.py": ("requests per counter per cycle (max)", "RSS growth while waiting", "event-loop stall", "naive"),
    "commercelayer_import.py": ("wall time (s)", "token requests", "imports open at once (max)", "operator vs naive"),
}
TIMEOUT_SECONDS = 900  # seconds on a quiet machine; generous for a busy CI box


def runnable_benchmarks() -> list[str]:
    return sorted(p.name for p in BENCHMARKS.glob("*.py") if 'if __name__ == "__main__":' in p.read_text())


def test_every_benchmark_has_a_small_run_here():
    assert runnable_benchmarks() == sorted(TABLE_LINES)


@pytest.mark.parametrize("script", sorted(TABLE_LINES))
def test_benchmark_small_mode_completes_and_prints_its_table(script):
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), "--small"],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
        cwd=BENCHMARKS.parent,
    )
    assert done.returncode == 0, f"{script} --small failed:\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
    missing = [line for line in TABLE_LINES[script] if line not in done.stdout]
    assert not missing, f"{script} --small printed no {missing}:\n{done.stdout[-3000:]}"
