"""A wait that never touches a worker, in a real Airflow 3.3 deployment (start_from_trigger + end_from_trigger).

    scripts/trigger_wait_test.sh            (sets up .venv/af3, cleans up every process whatever happens)
    python scripts/trigger_wait_test.py --workdir DIR

Starts api-server, scheduler (LocalExecutor), dag-processor and triggerer as processes (the deployment of
scripts/deployment_test.py) and the Metrika emulator with a frozen clock, triggers
tests/dags/trigger_wait_dags/metrika_trigger_only_wait.py (an upload, then a sensor whose ids come from the
upload's XCom) and checks that the scheduler deferred the sensor straight to the triggerer, the triggerer
rendered the ids from XCom and ended the task when the uploading was processed, and no worker ever ran it:
the sensor's task instance was never queued, has no worker hostname or pid, and the executor never got it.
Prints a PASS/FAIL table; exits 1 if anything failed. Every wait is bounded.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "scripts"), str(ROOT / "example_dags")]

from deployment_cluster import Deployment, ScenarioFailed, wait_until  # noqa: E402

from airflow_provider_metrika.emulator.testing import EmulatorProcess  # noqa: E402

DAG_ID = "metrika_trigger_only_wait"
DAGS = ROOT / "tests" / "dags" / "trigger_wait_dags"


class TriggerWaitTest:
    def __init__(self, deployment: Deployment):
        self.deployment = deployment
        self.results: list[tuple[str, bool, str]] = []

    def check(self, name: str, ok: bool, detail: str = "") -> bool:
        self.results.append((name, ok, detail))
        print(f"{'PASS' if ok else 'FAIL'}  {name}  {detail}", flush=True)
        return ok

    def task(self, run_id: str, task_id: str) -> dict[str, Any]:
        return self.deployment.api("GET", f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/{task_id}")

    def xcom(self, run_id: str, task_id: str) -> Any:
        path = f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/return_value"
        return self.deployment.api("GET", path, params={"deserialize": "true"})["value"]

    def state(self, run_id: str, task_id: str) -> str | None:
        return self.task(run_id, task_id).get("state")

    def run(self) -> None:
        deployment = self.deployment
        wait_until("the api-server to serve the DAG", self.dag_served, 240, every=1.0)
        run_id = f"manual__{time.time_ns()}"
        deployment.api("POST", f"/dags/{DAG_ID}/dagRuns", json={"dag_run_id": run_id, "logical_date": None})
        state = wait_until(
            "the wait to be deferred",
            lambda: (s := self.state(run_id, "wait")) in ("deferred", "success", "failed") and s,
            240,
            every=1.0,
        )
        before = self.task(run_id, "wait")
        self.check(
            "deferred by the scheduler, not by a worker",
            state == "deferred" and not before.get("queued_when") and not before.get("hostname"),
            f"state={state} queued_when={before.get('queued_when')} hostname={before.get('hostname')!r}",
        )
        upload_ids = self.upload_ids(run_id)
        deployment.emulator.client.finish_all()  # the frozen clock: every uploading reaches its final status
        final = wait_until(
            "the wait to end", lambda: (s := self.state(run_id, "wait")) in ("success", "failed") and s, 180
        )
        after = self.task(run_id, "wait")
        self.check(
            "ended by the triggerer",
            final == "success" and not after.get("hostname") and not after.get("pid"),
            f"state={final} hostname={after.get('hostname')!r} pid={after.get('pid')} try={after.get('try_number')}",
        )
        self.check(
            "never queued for a worker",
            not after.get("queued_when") and "task_id='wait'" not in self.executor_log(),
            f"queued_when={after.get('queued_when')}",
        )
        result = self.xcom(run_id, "wait")
        result = result if isinstance(result, dict) else {}
        jobs = result.get("jobs", []) if isinstance(result, dict) else []
        self.check(
            "the ids came from the upload's XCom; the result is the sensor's",
            result.get("ids") == upload_ids and [j.get("status") for j in jobs] == ["PROCESSED"] * len(upload_ids),
            f"upload ids {upload_ids}, wait result ids {result.get('ids')}, statuses {[j.get('status') for j in jobs]}",
        )

    def upload_ids(self, run_id: str) -> list[str]:
        """The ids the upload task returned (its JobsResult's ``ids``)."""
        value = self.xcom(run_id, "upload")
        return [str(i) for i in value["ids"]] if "ids" in value else [str(value["uploading_id"])]

    def dag_served(self) -> bool:
        try:
            return requests.get(f"{self.deployment.api_url}/api/v2/dags/{DAG_ID}", timeout=10).status_code == 200
        except requests.RequestException:
            return False

    def executor_log(self) -> str:
        """What the scheduler handed its executor (the LocalExecutor logs each task it is sent)."""
        scheduler = next(c for c in self.deployment.components if c.name == "scheduler")
        return "\n".join(line for line in scheduler.log().splitlines() if "Adding to queue" in line)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, required=True)
    args = parser.parse_args()
    started = time.monotonic()
    workdir = args.workdir.resolve()
    deployment = Deployment(workdir, Path(sys.executable).parent)
    if not deployment.airflow_version().startswith("3."):
        print(f"needs Airflow 3.3 (this is {deployment.airflow_version()})", file=sys.stderr)
        return 2
    deployment.emulator = EmulatorProcess(str(workdir / "emulator.db"))  # frozen clock
    test = TriggerWaitTest(deployment)
    try:
        deployment.start_emulator()
        deployment.configure(workdir / "unused-crm.db", deployment.emulator.url)
        now = int(time.time()) - 3600
        csv_path = workdir / "conversions.csv"
        csv_path.write_text("ClientId,Target,DateTime\n" + "".join(f"{1000 + i},paid,{now - i}\n" for i in range(20)))
        deployment.env["AIRFLOW__CORE__DAGS_FOLDER"] = str(DAGS)
        deployment.env["METRIKA_TRIGGER_WAIT_CSV"] = str(csv_path)
        deployment.migrate()
        deployment.start_components()
        deployment.start("triggerer", "triggerer")
        test.run()
    except (ScenarioFailed, RuntimeError, requests.RequestException, OSError, KeyError, TypeError) as error:
        test.check("the deployment ran the DAG", False, f"{type(error).__name__}: {error}")
    finally:
        deployment.stop_all()
    failed = [name for name, ok, _ in test.results if not ok]
    print(
        f"trigger wait test: {len(test.results) - len(failed)} checks passed, {len(failed)} failed "
        f"in {time.monotonic() - started:.0f} s"
    )
    if failed:
        for component in deployment.components:
            print(f"\n--- last lines of {component.name} ({component.log_path}) ---")
            print("\n".join(component.log().splitlines()[-30:]))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
