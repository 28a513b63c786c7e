"""The retry policy decides a real task's retries on Airflow 3.3+; below, the task's own retries do.

`airflow dags test` runs one DAG whose tasks allow three retries a second apart; the emulators' faults fire
once, so a retry that Airflow made shows up as a second, successful try.

- Metrika: one upload is refused with a 400, the other loses its upload answer before Metrika stored it. On
  Airflow 3.3+ the policy fails the 400 at once (one try) and retries the lost answer a minute later, not a
  second later; the retry uploads.
- Commerce Layer: one import is refused with a 422, the other with a 429 whose ``X-Ratelimit-Interval`` is 4
  seconds. On 3.3+ the 422 fails at once and the 429 retries once the window has passed, not a second later.
- Airflow 2.11 (no retry policies): the operators keep the task's own retries: every task is retried, and
  every retry sends.
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

from demo_runner import airflow_env, commercelayer_env, migrate, run_dag  # noqa: E402

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


#: The Commerce Layer emulator's rate-limit window: the rate-limited import's retry waits this long.
RATE_LIMIT_WINDOW = 4


@pytest.fixture(scope="module")
def retry_run(tmp_path_factory) -> dict:
    """Run the DAG against a Metrika and a Commerce Layer emulator with their faults: each task's tries, what
    each emulator stored, the log."""
    tmp_path = tmp_path_factory.mktemp("retry_policy")
    now = int(time.time()) - 3600
    csv_path = tmp_path / "conversions.csv"
    csv_path.write_text("ClientId,Target,DateTime\n" + "".join(f"{1000 + i},paid,{now - i}\n" for i in range(5)))
    with (
        EmulatorProcess(str(tmp_path / "emulator.db")) as emu,
        EmulatorProcess(str(tmp_path / "commercelayer.db"), "--vendor", "commercelayer") as cl,
    ):
        emu.client.inject_fault(
            method="POST",
            path="counter/111/offline_conversions/upload",
            action="status",
            status=400,
            error_type="invalid_parameter",
            message="bad file",
        )
        emu.client.inject_fault(method="POST", path="counter/12345/offline_conversions/upload", action="reset_before")
        # The first import is refused as invalid, the second as over the rate limit (the faults fire in turn).
        cl.client.configure(api_interval=RATE_LIMIT_WINDOW)
        cl.client.inject_fault(
            method="POST", path="^/api/imports$", action="status", status=422, error_type="VALIDATION_ERROR"
        )
        cl.client.inject_fault(method="POST", path="^/api/imports$", action="quota")
        env = airflow_env(tmp_path, emu.url, tmp_path / "unused.db") | commercelayer_env(cl.url)
        connection = json.loads(env["AIRFLOW_CONN_COMMERCELAYER_DEFAULT"])
        connection["extra"]["max_retries"] = 0  # the hook gives the 429 to the task at once
        env["AIRFLOW_CONN_COMMERCELAYER_DEFAULT"] = json.dumps(connection)
        env["AIRFLOW__CORE__DAGS_FOLDER"] = str(Path(__file__).parent / "retry_policy_dags")
        env["METRIKA_RETRY_TEST_CSV"] = str(csv_path)
        migrate(env)
        result = run_dag("retry_policy", env)
        stored = emu.client.uploadings(kind="offline_conversions")
        imports = cl.client.call("GET", "commercelayer/imports")["imports"]
    found = subprocess.run([sys.executable, "-c", QUERY], env=env, capture_output=True, text=True)
    assert found.returncode == 0, found.stderr[-3000:]
    tries = json.loads(found.stdout.strip().splitlines()[-1])
    return {"tries": tries, "stored": stored, "imports": imports, "output": result.output}


def tries_of(run: dict, task_id: str) -> list[dict]:
    return sorted(run["tries"][task_id], key=lambda t: t["try"])


def test_a_4xx_and_a_lost_answer_are_retried_as_the_airflow_line_decides(retry_run):
    refused, lost = tries_of(retry_run, "refused"), tries_of(retry_run, "answer_lost")
    stored, output = retry_run["stored"], retry_run["output"]
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


def test_a_commerce_layer_422_fails_at_once_and_a_429_waits_for_its_window(retry_run):
    refused, limited = tries_of(retry_run, "commercelayer_refused"), tries_of(retry_run, "commercelayer_rate_limited")
    output = retry_run["output"]
    if AIRFLOW_RETRY_POLICY:
        # the 422: one try, failed, although three retries were allowed
        assert [(t["try"], t["state"]) for t in refused] == [(1, "failed")], output[-4000:]
        # the 429: retried once the X-Ratelimit-Interval window had passed (retry_delay is one second)
        assert [t["try"] for t in limited] == [1, 2] and limited[1]["state"] == "success", output[-4000:]
        assert "Commerce Layer rate limit (429)" in (limited[0]["reason"] or ""), limited
        assert limited[1]["start"] - limited[0]["end"] >= RATE_LIMIT_WINDOW
        assert len(retry_run["imports"]) == 1  # only the rate-limited import's retry created one
    else:
        # no retry policy below 3.3: the task's own retries, a second apart. The faults fire in turn on the same
        # endpoint, so the refused import's own retry meets the 429 and its third try imports; the second task
        # then imports at once (`airflow dags test` keeps only the last try of each task)
        assert [(t["try"], t["state"]) for t in refused] == [(3, "success")], output[-4000:]
        assert [(t["try"], t["state"]) for t in limited] == [(1, "success")], output[-4000:]
        assert len(retry_run["imports"]) == 2
