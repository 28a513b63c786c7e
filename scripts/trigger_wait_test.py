"""Waits that never touch a worker, in a real Airflow 3.3 deployment (start_from_trigger + end_from_trigger).

    scripts/trigger_wait_test.sh            (sets up .venv/af3, cleans up every process whatever happens)
    python scripts/trigger_wait_test.py --workdir DIR

Starts api-server, scheduler (LocalExecutor), dag-processor and triggerer as processes (the deployment of
scripts/deployment_test.py) and the Metrika, Commerce Layer and Fleetio emulators with frozen clocks, then
triggers both DAGs of tests/dags/trigger_wait_dags/ at once: metrika_trigger_only_wait (an upload, then a sensor
whose ids come from the upload's XCom) and vendors_trigger_only_wait (a Commerce Layer import, then a sensor
whose ids come from its XCom; a Fleetio sensor searching for the import a person uploaded). For each of the
three waits it checks that the scheduler deferred the sensor straight to the triggerer, the triggerer rendered
the ids (and read the organization or account from the connection) and ended the task when the job was
processed, and no worker ever ran it: the sensor's task instance was never queued, has no worker hostname or
pid, and the executor never got it. Prints a PASS/FAIL table; exits 1 if anything failed. Every wait is bounded.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "scripts"), str(ROOT / "example_dags")]

from demo_runner import commercelayer_env, fleetio_env  # noqa: E402
from deployment_cluster import Deployment, ScenarioFailed, wait_until  # noqa: E402

from airflow_provider_metrika.emulator.testing import EmulatorProcess  # noqa: E402

METRIKA_DAG = "metrika_trigger_only_wait"
VENDORS_DAG = "vendors_trigger_only_wait"
DAGS = ROOT / "tests" / "dags" / "trigger_wait_dags"
#: A file name the Fleetio wait's filter (trigger_wait_*.csv) finds.
FLEETIO_FILE = "trigger_wait_meters.csv"


@dataclasses.dataclass
class Wait:
    """One sensor that must start and end in the triggerer, and what its result must hold."""

    vendor: str
    dag_id: str
    task_id: str
    status: str  # the vendor's word for a processed job
    run_id: str = ""
    ids: Callable[[], list[str]] = list  # the ids the wait must report (known once its upstream ran)


class TriggerWaitTest:
    def __init__(self, deployment: Deployment):
        self.deployment = deployment
        self.results: list[tuple[str, bool, str]] = []

    def check(self, name: str, ok: bool, detail: str = "") -> bool:
        self.results.append((name, ok, detail))
        print(f"{'PASS' if ok else 'FAIL'}  {name}  {detail}", flush=True)
        return ok

    def task(self, wait: Wait, task_id: str | None = None) -> dict[str, Any]:
        path = f"/dags/{wait.dag_id}/dagRuns/{wait.run_id}/taskInstances/{task_id or wait.task_id}"
        return self.deployment.api("GET", path)

    def xcom(self, wait: Wait, task_id: str | None = None) -> Any:
        path = f"/dags/{wait.dag_id}/dagRuns/{wait.run_id}/taskInstances/{task_id or wait.task_id}"
        return self.deployment.api("GET", f"{path}/xcomEntries/return_value", params={"deserialize": "true"})["value"]

    def state(self, wait: Wait) -> str | None:
        return self.task(wait).get("state")

    def run(self, emulators: dict[str, EmulatorProcess]) -> None:
        deployment = self.deployment
        for dag_id in (METRIKA_DAG, VENDORS_DAG):
            wait_until(f"the api-server to serve {dag_id}", lambda d=dag_id: self.dag_served(d), 240, every=1.0)
        fleetio_id = person_uploads(emulators["fleetio"].client)
        runs = {dag_id: f"manual__{time.time_ns()}" for dag_id in (METRIKA_DAG, VENDORS_DAG)}
        waits = [
            Wait("metrika", METRIKA_DAG, "wait", "PROCESSED"),
            Wait("commercelayer", VENDORS_DAG, "wait_commercelayer", "completed"),
            Wait("fleetio", VENDORS_DAG, "wait_fleetio", "complete", ids=lambda: [fleetio_id]),
        ]
        for wait, upstream in ((waits[0], "upload"), (waits[1], "import_skus")):
            wait.ids = lambda w=wait, task_id=upstream: self.upstream_ids(w, task_id)
        for dag_id, run_id in runs.items():  # both runs at once: the three waits share the deployment's time
            deployment.api("POST", f"/dags/{dag_id}/dagRuns", json={"dag_run_id": run_id, "logical_date": None})
        for wait in waits:
            wait.run_id = runs[wait.dag_id]
        for wait in waits:
            state = wait_until(
                f"the {wait.vendor} wait to be deferred",
                lambda w=wait: (s := self.state(w)) in ("deferred", "success", "failed") and s,
                240,
                every=1.0,
            )
            before = self.task(wait)
            self.check(
                f"{wait.vendor}: deferred by the scheduler, not by a worker",
                state == "deferred" and not before.get("queued_when") and not before.get("hostname"),
                f"state={state} queued_when={before.get('queued_when')} hostname={before.get('hostname')!r}",
            )
        # The frozen clocks move on: every job reaches its final status.
        emulators["metrika"].client.finish_all()
        for vendor in ("commercelayer", "fleetio"):
            emulators[vendor].client.advance(3600)
        for wait in waits:
            self.check_end(wait)

    def check_end(self, wait: Wait) -> None:
        final = wait_until(
            f"the {wait.vendor} wait to end", lambda: (s := self.state(wait)) in ("success", "failed") and s, 180
        )
        after = self.task(wait)
        self.check(
            f"{wait.vendor}: ended by the triggerer",
            final == "success" and not after.get("hostname") and not after.get("pid"),
            f"state={final} hostname={after.get('hostname')!r} pid={after.get('pid')} try={after.get('try_number')}",
        )
        self.check(
            f"{wait.vendor}: never queued for a worker",
            not after.get("queued_when") and f"task_id='{wait.task_id}'" not in self.executor_log(),
            f"queued_when={after.get('queued_when')}",
        )
        expected = wait.ids()
        result = self.xcom(wait) if final == "success" else {}
        result = result if isinstance(result, dict) else {}
        statuses = [job.get("status") for job in result.get("jobs", [])]
        self.check(
            f"{wait.vendor}: the ids came from upstream (XCom, or the search); the result is the sensor's",
            bool(expected) and result.get("ids") == expected and statuses == [wait.status] * len(expected),
            f"expected ids {expected}, wait result ids {result.get('ids')}, statuses {statuses}",
        )

    def upstream_ids(self, wait: Wait, task_id: str) -> list[str]:
        """The ids the upstream task returned (its JobsResult's ``ids``)."""
        value = self.xcom(wait, task_id)
        return [str(i) for i in value["ids"]] if "ids" in value else [str(value["uploading_id"])]

    def dag_served(self, dag_id: str) -> bool:
        try:
            return requests.get(f"{self.deployment.api_url}/api/v2/dags/{dag_id}", timeout=10).status_code == 200
        except requests.RequestException:
            return False

    def executor_log(self) -> str:
        """What the scheduler handed its executor (the LocalExecutor logs each task it is sent)."""
        scheduler = next(c for c in self.deployment.components if c.name == "scheduler")
        return "\n".join(line for line in scheduler.log().splitlines() if "Adding to queue" in line)


def person_uploads(fleetio: Any) -> str:
    """A person uploads a meter file in Fleetio's web app (the API cannot create imports); its id."""
    body = {
        "type": "MeterEntryImport",
        "file_name": FLEETIO_FILE,
        "note": "trigger wait",
        "rows": [{"status": "created"}],
    }
    return str(fleetio.call("POST", "fleetio/imports", json=body)["id"])


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
        emulators = {"metrika": deployment.emulator}
        emulators |= {vendor: deployment.start_vendor_emulator(vendor) for vendor in ("commercelayer", "fleetio")}
        deployment.configure(workdir / "unused-crm.db", deployment.emulator.url)
        deployment.env |= commercelayer_env(emulators["commercelayer"].url) | fleetio_env(emulators["fleetio"].url)
        now = int(time.time()) - 3600
        csv_path = workdir / "conversions.csv"
        csv_path.write_text("ClientId,Target,DateTime\n" + "".join(f"{1000 + i},paid,{now - i}\n" for i in range(20)))
        deployment.env["AIRFLOW__CORE__DAGS_FOLDER"] = str(DAGS)
        deployment.env["METRIKA_TRIGGER_WAIT_CSV"] = str(csv_path)
        deployment.migrate()
        deployment.start_components()
        deployment.start("triggerer", "triggerer")
        test.run(emulators)
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
