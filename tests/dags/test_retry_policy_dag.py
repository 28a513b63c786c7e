"""The retry policy decides a real task's retries on Airflow 3.3+; below, the task's own retries do.

`airflow dags test` runs two uploads whose tasks allow three retries a second apart: one is refused with a
400, the other loses its upload answer before Metrika stored it. The emulator's faults fire once, so a
retry that Airflow made shows up as a second, successful try.

- Airflow 3.3+: the policy fails the 400 at once (one try) and retries the lost answer a minute later, not a
  second later; the retry uploads.
- Airflow 2.11 (no retry policies): the operators keep the task's own retries: both are retried, and both
  retries upload.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from airflow_provider_metrika.emulator.testing import EmulatorProcess
from airflow_provider_metrika.version_compat import AIRFLOW_RETRY_POLICY

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "example_dags"))

from demo_runner import airflow_env, migrate, run_dag  # noqa: E402

pytestmark = pytest.mark.dags

QUERY = """
import json
from airflow.models.taskinstance import TaskInstance
from airflow.models.taskinstancehistory import TaskInstanceHistory
from airflow.utils.session import create_session
with create_session() as session:
    rows = {}
    for row in [*session.query(TaskInstanceHistory).all(), *session.query(TaskInstance).all()]:
        rows.setdefault(row.task_id, []).append({
            "try": row.try_number, "state": str(row.state), "reason": getattr(row, "retry_reason", None),
            "start": row.start_date.timestamp() if row.start_date else None,
            "end": row.end_date.timestamp() if row.end_date else None,
        })
    print(json.dumps(rows))
"""


def run_retry_dag(tmp_path) -> tuple[dict, list, str]:
    """Run the two-upload DAG against an emulator with both faults; each task's tries, the uploadings, the log."""
    now = int(time.time()) - 3600
    csv_path = tmp_path / "conversions.csv"
    csv_path.write_text("ClientId,Target,DateTime\n" + "".join(f"{1000 + i},paid,{now - i}\n" for i in range(5)))
    with EmulatorProcess(str(tmp_path / "emulator.db")) as emu:
        emu.client.inject_fault(
            method="POST",
            path="counter/111/offline_conversions/upload",
            action="status",
            status=400,
            error_type="invalid_parameter",
            message="bad file",
        )
        emu.client.inject_fault(method="POST", path="counter/12345/offline_conversions/upload", action="reset_before")
        env = airflow_env(tmp_path, emu.url, tmp_path / "unused.db")
        env["AIRFLOW__CORE__DAGS_FOLDER"] = str(Path(__file__).parent / "retry_policy_dags")
        env["METRIKA_RETRY_TEST_CSV"] = str(csv_path)
        migrate(env)
        result = run_dag("metrika_retry_policy", env)
        stored = emu.client.uploadings(kind="offline_conversions")
    found = subprocess.run([sys.executable, "-c", QUERY], env=env, capture_output=True, text=True)
    assert found.returncode == 0, found.stderr[-3000:]
    tries = json.loads(found.stdout.strip().splitlines()[-1])
    return tries, stored, result.output


def test_a_4xx_and_a_lost_answer_are_retried_as_the_airflow_line_decides(tmp_path):
    tries, stored, output = run_retry_dag(tmp_path)
    refused = sorted(tries["refused"], key=lambda t: t["try"])
    lost = sorted(tries["answer_lost"], key=lambda t: t["try"])
    if AIRFLOW_RETRY_POLICY:
        # the 400: one try, failed, although three retries were allowed (the fault would not fire twice)
        assert [(t["try"], t["state"]) for t in refused] == [(1, "failed")], output[-4000:]
        # the lost answer: retried once, a minute after the first try ended (retry_delay is one second)
        assert [t["try"] for t in lost] == [1, 2] and lost[1]["state"] == "success", output[-4000:]
        assert "answer was lost" in (lost[0]["reason"] or ""), lost
        assert lost[1]["start"] - lost[0]["end"] >= 59
        assert [u["counter_id"] for u in stored] == [12345]
    else:
        # no retry policy below 3.3: the task's own retries decide both (its `airflow dags test` keeps only the
        # last try of each task: the second one, which uploaded)
        for task in (refused, lost):
            assert [(t["try"], t["state"]) for t in task] == [(2, "success")], output[-4000:]
        assert sorted(u["counter_id"] for u in stored) == [111, 12345]
