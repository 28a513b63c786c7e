"""The example DAG in real Airflow deployments against the Metrika emulator, with processes killed on purpose.

    scripts/deployment_test.sh [local] [celery] [airflow2]   (sets up the venvs and Redis, cleans up every process)
    python scripts/deployment_test.py --workdir DIR --af3 VENV [--af2 VENV] [--modes local,celery,airflow2]

Each mode starts its own deployment (see scripts/deployment_cluster.py) with the emulator on a frozen clock, so a
wait stays deferred until this script advances the clock, triggers `metrika_crm_to_offline_conversions`
(on Airflow 3 through the REST API without a logical date) and checks:

local     Airflow 3.3, LocalExecutor (api-server, scheduler, dag-processor, triggerers), with the Commerce Layer and
          Fleetio emulators too:
          * beside the first two scenarios (a thread): `commercelayer_skus_prices` with its first import task
            SIGKILLed once its import is stored and the answer held back: Airflow retries, exactly one import
            per part (the emulator's control API); `fleetio_wait_for_import`: the sensor defers, a person
            imports the day's file (the emulator's control endpoint), the run succeeds, and no Fleetio request
            got 429 although the `fleetio_on_meter_import` asset watcher polls the same account all along;
          * the waits really deferred: the sensor's task state is DEFERRED and the triggerer process runs the trigger;
          * the triggerer SIGKILLed while waits are deferred, then a new one started: runs succeed, nothing resent;
          * the emulator SIGKILLed and restarted (state kept) while waits are deferred: the runs succeed;
          * two triggerers at once (`--capacity 3` each: the four waits split): every wait ends once; status
            requests per poll cycle measured;
          * triggerer queues: the provider's tasks on the "metrika" queue (a cluster policy), one triggerer on
            `--queues default` that must leave them alone, one on `--queues metrika` that runs them all;
            status requests per poll cycle measured;
          * the upload task's process SIGKILLed after its upload was stored but before the answer came: Airflow
            retries, the retry finds the upload, one uploading;
          * the upload task's process SIGKILLed while the emulator holds its 16 MB upload unread: Airflow
            retries, the killed upload is never stored, one uploading;
celery    Airflow 3.3, CeleryExecutor with two workers on a Redis broker: runs succeed with the waits deferred,
          both workers ran tasks, and the two upload-task kills above.
airflow2  Airflow 2.11, SequentialExecutor (scheduler, triggerer): the deferral, the triggerer SIGKILL and restart,
          and the two upload-task kills above (there through the fingerprint: 2.11 has no task state store).

After every scenario each run must hold exactly one uploading in the emulator (the upload task's XCom ids are
exactly the stored uploadings). Prints a PASS/FAIL table per mode and ends with one summary line of all checks;
exits 1 if anything failed. Every wait is bounded; a failed mode prints its components' log tails.
Component pids (process groups) are written to DIR/<mode>/pids for the shell trap.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import sqlite3
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "example_dags"), str(ROOT / "scripts")]

from demo_crm import create_crm_database  # noqa: E402
from demo_runner import commercelayer_env, fleetio_env, person_uploads_meter_readings  # noqa: E402
from deployment_cluster import (  # noqa: E402
    CL_DAG_ID,
    CL_IMPORT_TASKS,
    DAG_ID,
    FLEETIO_DAG_ID,
    FLEETIO_WAIT_TASK,
    UPLOAD_TASK,
    WAIT_TASK,
    Airflow2Deployment,
    Component,
    Deployment,
    ScenarioFailed,
    as_ids,
    free_port,
    sending_blocked,
    wait_until,
)

from airflow_provider_metrika.emulator.testing import EmulatorProcess  # noqa: E402

METRIKA_WAIT = (DAG_ID, WAIT_TASK)
UPLOAD_ROUTE = re.compile(r"offline_conversions/upload$")
STATUS_ROUTE = re.compile(r"offline_conversions/uploading")  # the list and the get-by-id
MEASURE_SECONDS = 12.0  # the window in which status requests and poll cycles are counted
# Rows added to the CRM before the in-flight kill: a CSV far bigger than the kernel's socket buffers, so
# the killed process is still writing the body (the emulator never receives a complete upload from it).
BIG_EXTRA_DEALS = 300_000
# Airflow 3 logs trigger records as JSON lines, Airflow 2 as text: "[time] {file:line} LEVEL - message".
TEXT_LOG_LINE = re.compile(r"^\[(?P<timestamp>[^\]]+)\] \{[^}]*\} \w+ - (?P<event>.*)$")
FIRED = re.compile(r"^Trigger( .+)? fired")
# 12,000 SKUs: each import task sends two imports (at most 10,000 inputs each)
CL_EXAMPLE_SKUS = 12_000
CL_PARTS = -(-CL_EXAMPLE_SKUS // 10_000)


class DeploymentTest:
    def __init__(self, deployment: Deployment, crm_db: Path, mode: str):
        self.d = deployment
        self.mode = mode
        self.crm_db = crm_db
        self.results: list[tuple[str, bool, str]] = []
        self.figures: list[tuple[str, str]] = []
        self.runs: list[str] = []
        self.triggerers: list[Component] = []
        self.workers: list[Component] = []
        self.other_vendors: threading.Thread | None = None
        #: The Commerce Layer and Fleetio emulators (local mode), by vendor.
        self.vendor_emulators: dict[str, EmulatorProcess] = {}

    @property
    def emu(self):
        assert self.d.emulator is not None
        return self.d.emulator.client

    # -- checks ------------------------------------------------------------------------------------
    def check(self, name: str, ok: bool, detail: str = "") -> bool:
        self.results.append((f"{self.mode}: {name}", bool(ok), detail))
        print(f"{'PASS' if ok else 'FAIL'}  {name}  {detail}", flush=True)
        return bool(ok)

    def upload_posts(self) -> int:
        stats = self.emu.request_stats()["requests"]
        return sum(r["count"] for r in stats if r["method"] == "POST" and UPLOAD_ROUTE.search(r["route"]))

    def status_requests(self) -> int:
        stats = self.emu.request_stats()["requests"]
        return sum(r["count"] for r in stats if r["method"] == "GET" and STATUS_ROUTE.search(r["route"]))

    def wait_deferred(self, runs: list[str], timeout: float = 240, wait: tuple[str, str] = METRIKA_WAIT) -> None:
        for run_id in runs:
            wait_until(
                f"{run_id}: {wait[1]} DEFERRED",
                lambda run_id=run_id: self._deferred_or_fail(run_id, wait),
                timeout,
            )

    def _deferred_or_fail(self, run_id: str, wait: tuple[str, str]) -> bool:
        dag_id, task_id = wait
        state = self.d.task(run_id, task_id, dag_id)["state"]
        if self.d.run_state(run_id, dag_id) == "failed":
            raise ScenarioFailed(f"run {run_id} failed before its wait deferred")
        return state == "deferred"

    def task_log_folder(self, run_id: str, wait: tuple[str, str] = METRIKA_WAIT) -> Path:
        dag_id, task_id = wait
        return Path(self.d.env["AIRFLOW_HOME"], "logs", f"dag_id={dag_id}", f"run_id={run_id}", f"task_id={task_id}")

    def trigger_logs(self, run_id: str, wait: tuple[str, str] = METRIKA_WAIT) -> dict[int, list[dict[str, Any]]]:
        """The wait's trigger log records, by the id of the triggerer job that ran it.

        A triggerer writes a trigger's log next to the task's, as ``attempt=N.log.trigger.<job id>.log``.
        """
        folder = self.task_log_folder(run_id, wait)
        logs: dict[int, list[dict[str, Any]]] = {}
        for path in folder.glob("attempt=*.log.trigger.*.log"):
            records = [r for r in map(log_record, path.read_text(errors="replace").splitlines()) if r]
            logs.setdefault(int(path.name.rsplit(".", 2)[-2]), []).extend(records)
        return logs

    def started_by(self, run_id: str, wait: tuple[str, str] = METRIKA_WAIT) -> dict[int, int]:
        """How many times each triggerer job started the run's wait trigger."""
        return {
            # Airflow 2 logs "trigger ... starting" in the triggerer's own log: there, a trigger log is the start
            job: sum(1 for r in records if str(r.get("event", "")).endswith(" starting")) or int(bool(records))
            for job, records in self.trigger_logs(run_id, wait).items()
        }

    def poll_moments(self, runs: list[str], since: float, until: float) -> dict[int, int]:
        """Poll cycles per triggerer job in [since, until] (unix s): the distinct moments its waits logged a poll.

        Every wait logs one "Waiting ..." line per poll of its shared poller, so the waits of one triggerer
        log at the same moments; moments closer than 0.5 s are one cycle.
        """
        stamps: dict[int, list[float]] = {}
        for run_id in runs:
            for job, records in self.trigger_logs(run_id).items():
                for record in records:
                    if str(record.get("event", "")).startswith("Waiting"):
                        moment = datetime.fromisoformat(record["timestamp"].replace("Z", "+00:00")).timestamp()
                        if since <= moment <= until:
                            stamps.setdefault(job, []).append(moment)
        cycles = {}
        for job, moments in stamps.items():
            moments.sort()
            cycles[job] = sum(1 for i, m in enumerate(moments) if i == 0 or m - moments[i - 1] > 0.5)
        return cycles

    def fired_events(self, run_id: str, wait: tuple[str, str] = METRIKA_WAIT) -> int:
        """How many events the run's wait trigger fired, over every triggerer that ran it."""
        logs = self.trigger_logs(run_id, wait).values()
        return sum(1 for records in logs for record in records if FIRED.match(str(record.get("event", ""))))

    def deferrals(self, run_id: str, wait: tuple[str, str] = METRIKA_WAIT) -> int:
        """How many times the wait task logged that it deferred (the task's own log, attempt 1)."""
        folder = self.task_log_folder(run_id, wait)
        logs = folder.glob("attempt=*.log")
        return sum(path.read_text(errors="replace").count("Pausing task as DEFERRED") for path in logs)

    def wait_success(self, runs: list[str], timeout: float = 180, finish: bool = True) -> None:
        """Wait for every run to succeed, moving the emulator's clock on so that deferred waits can end."""

        def done() -> bool:
            if finish:
                self.emu.finish_all()
            states = {run_id: self.d.run_state(run_id) for run_id in runs}
            failed = [run_id for run_id, state in states.items() if state == "failed"]
            if failed:
                raise ScenarioFailed(f"runs failed: {failed}")
            return all(state == "success" for state in states.values())

        wait_until(f"runs {runs} to succeed", done, timeout, every=1.0)

    def check_one_uploading_per_run(self, label: str) -> None:
        """The upload XComs of every run so far name exactly the stored uploadings, one each."""
        stored = sorted(str(u["id"]) for u in self.emu.uploadings(kind="offline_conversions"))
        per_run = [self.d.upload_ids(run_id) for run_id in self.runs]
        pushed = sorted(i for ids in per_run for i in ids)
        self.check(
            f"{label}: exactly one uploading per run",
            stored == pushed and all(len(ids) == 1 for ids in per_run) and len(set(pushed)) == len(self.runs),
            f"{len(self.runs)} runs, stored {stored}, XCom {pushed}",
        )

    def start_triggerer(self, *args: str, env: dict[str, str] | None = None) -> Component:
        name = f"triggerer-{len(self.triggerers) + 1}"
        triggerer = self.d.start(name, "triggerer", "--skip-serve-logs", *args, env=env)
        self.triggerers.append(triggerer)
        return triggerer

    # -- scenarios ---------------------------------------------------------------------------------
    def measure_polling(self, runs: list[str]) -> tuple[int, dict[int, int], float]:
        """Status requests and poll cycles per triggerer over MEASURE_SECONDS: (requests, cycles, per cycle)."""
        before, since = self.status_requests(), time.time()
        time.sleep(MEASURE_SECONDS)
        lists, until = self.status_requests() - before, time.time()
        cycles = self.poll_moments(runs, since, until)
        mean_cycles = sum(cycles.values()) / len(cycles) if cycles else 0.0
        return lists, cycles, (lists / mean_cycles if mean_cycles else float("nan"))

    def scenario_triggerer_killed(self) -> None:
        # one run on 2.11, where the SequentialExecutor runs every task of every run one after the other
        runs = [self.d.trigger() for _ in range(1 if self.mode == "airflow2" else 2)]
        self.runs += runs
        self.wait_deferred(runs)
        self.check(
            "waits deferred (sensor task state DEFERRED, task log 'Pausing task as DEFERRED')",
            all(self.deferrals(r) == 1 for r in runs),
            f"{len(runs)} runs",
        )
        wait_until("the triggerer to start the triggers", lambda: all(self.started_by(r) for r in runs), 90)
        first_jobs = {job for r in runs for job in self.started_by(r)}
        self.check(
            "the triggers run in the triggerer process",
            len(first_jobs) == 1,
            f"trigger logs (attempt=1.log.trigger.<job id>.log) of triggerer job {sorted(first_jobs)}",
        )
        if self.mode == "local":
            self.measure_one_triggerer(runs)
        posts = self.upload_posts()
        self.d.kill(self.triggerers[-1])
        self.start_triggerer()
        wait_until(
            "a new triggerer to take the triggers over",
            lambda: all(set(self.started_by(r)) - first_jobs for r in runs),
            120,
        )
        self.wait_success(runs)
        self.check(
            "triggerer SIGKILLed mid-wait: a new triggerer takes over, one event each, runs succeed, nothing resent",
            self.upload_posts() == posts == len(self.runs) and all(self.fired_events(r) == 1 for r in runs),
            f"upload POSTs {self.upload_posts()} for {len(self.runs)} runs, events fired "
            f"{[self.fired_events(r) for r in runs]}",
        )
        self.check_one_uploading_per_run("after the triggerer kill")

    def measure_one_triggerer(self, runs: list[str]) -> None:
        lists, cycles, per_cycle = self.measure_polling(runs)
        self.figures.append(
            (
                "one triggerer",
                f"{len(runs)} waits: {lists} status requests in {MEASURE_SECONDS:g} s over {sum(cycles.values())} "
                f"poll cycles = {per_cycle:.2f} per counter per cycle",
            )
        )

    def scenario_emulator_restarted(self) -> None:
        run_id = self.d.trigger()
        self.runs.append(run_id)
        self.wait_deferred([run_id])
        wait_until("the triggerer to start the trigger", lambda: self.started_by(run_id), 90)
        port = self.d.emulator.port
        self.d.kill_emulator()
        time.sleep(4)  # a few polls fail meanwhile (tolerated: max_consecutive_failures)
        self.d.start_emulator(port)
        self.wait_success([run_id])
        self.check("emulator SIGKILLed and restarted mid-wait (state kept): run succeeds", True, run_id)
        self.check_one_uploading_per_run("after the emulator restart")

    def scenario_two_triggerers(self) -> None:
        # Two fresh triggerers of capacity 3 each, so that the four waits are split between them (left free,
        # one triggerer's loop can take all four before the other's first loop on a busy machine); 3, not 2:
        # an example DAG's asset watcher (fleetio_on_meter_import) takes a triggerer slot too.
        for idle in self.triggerers:  # no wait is deferred between scenarios
            self.d.kill(idle)
        pair = [self.start_triggerer("--capacity", "3") for _ in range(2)]
        for one in pair:
            wait_until(f"{one.name} to start", lambda one=one: "Starting the triggerer" in one.log(), 120)
        runs = [self.d.trigger() for _ in range(4)]
        self.runs += runs
        self.wait_deferred(runs)
        wait_until("every trigger to start in a triggerer", lambda: all(self.started_by(r) for r in runs), 90)
        lists, cycles, per_cycle = self.measure_polling(runs)
        spread: dict[int, int] = {}
        for r in runs:
            for job, count in self.started_by(r).items():
                spread[job] = spread.get(job, 0) + count
        self.figures.append(
            (
                "two triggerers",
                f"{len(runs)} waits split {sorted(spread.values())} over triggerer jobs {sorted(spread)}: "
                f"{lists} status requests in {MEASURE_SECONDS:g} s, cycles per triggerer {sorted(cycles.values())} "
                f"= {per_cycle:.2f} per counter per cycle",
            )
        )
        self.wait_success(runs)
        starts = [sum(self.started_by(r).values()) for r in runs]
        fired = [self.fired_events(r) for r in runs]
        deferred = [self.deferrals(r) for r in runs]
        tries = [self.d.task(r, WAIT_TASK)["try_number"] for r in runs]
        # A trigger may start a second time in the other triggerer when its first one missed heartbeats for
        # triggerer_health_check_threshold (a busy machine): Airflow then moves it. What must hold is that
        # each wait deferred once, its trigger fired one event, and its task resumed once.
        self.check(
            "two triggerers: every wait deferred once, fired once and ended once (try 1, success)",
            all(starts) and fired == deferred == tries == [1] * len(runs),
            f"trigger starts {starts} (a 2 = moved to the other triggerer), fired {fired}, deferrals {deferred}, "
            f"wait tries {tries}, "
            f"triggers started per triggerer job {spread}",
        )
        self.check_one_uploading_per_run("after two triggerers")
        self.d.kill(pair[1])

    def scenario_task_killed_after_stored(self) -> None:
        self.emu.inject_fault(method="POST", path=UPLOAD_ROUTE.pattern, action="drop_response", seconds=60, times=1)
        stored_before = len(self.emu.uploadings(kind="offline_conversions"))
        posts = self.upload_posts()
        run_id = self.d.trigger()
        self.runs.append(run_id)
        wait_until(
            "the upload to be stored (its answer held back)",
            lambda: len(self.emu.uploadings(kind="offline_conversions")) > stored_before,
            180,
        )
        pid = wait_until("the upload task's process", lambda: self.d.upload_task_process(run_id), 30)
        os.kill(pid, signal.SIGKILL)
        self.wait_success([run_id])
        tries = self.d.task(run_id, UPLOAD_TASK)["try_number"]
        self.check(
            "upload task SIGKILLed after the upload was stored, answer lost: retried, found, not resent",
            tries >= 2 and self.upload_posts() == posts + 1,
            f"upload tries {tries}, upload POSTs +{self.upload_posts() - posts}{self.tries_on_workers(run_id, tries)}",
        )
        self.check_one_uploading_per_run("after the kill with the answer lost")

    def scenario_task_killed_mid_upload(self) -> None:
        self.grow_crm(BIG_EXTRA_DEALS)
        hold = 30.0  # the emulator reads nothing of the request for this long
        fault = self.emu.inject_fault(method="POST", path=UPLOAD_ROUTE.pattern, action="delay", seconds=hold, times=1)
        posts = self.upload_posts()
        run_id = self.d.trigger()
        self.runs.append(run_id)
        # the hook gives up on a body it cannot send within its 10 s connect timeout: be ready before the send
        pid = wait_until("the upload task's process", lambda: self.d.upload_task_process(run_id), 240, every=0.2)

        def hit() -> bool:
            return any(f["id"] == fault and f["hits"] for f in self.emu.faults())

        wait_until("the upload request to reach the emulator", hit, 120, every=0.2)
        held_since = time.monotonic()
        port = self.d.emulator.port
        try:  # evidence for the log only: the emulator's count of uploads below is the check
            blocked = wait_until("the task to block sending", lambda: sending_blocked(pid, port), 3, every=0.2)
        except ScenarioFailed:
            blocked = "no sign of a blocked send seen (ss/wchan)"
        os.kill(pid, signal.SIGKILL)
        self.wait_success([run_id], timeout=240)
        # the held request resumes after `hold` seconds and finds a dead client: it must store nothing
        time.sleep(max(0.0, hold + 3 - (time.monotonic() - held_since)))
        tries = self.d.task(run_id, UPLOAD_TASK)["try_number"]
        self.check(
            "upload task SIGKILLed mid-upload (request held unread): retried, the half-sent body never stored",
            tries >= 2 and self.upload_posts() - posts == 2,  # the killed send, never stored, and the retry
            f"killed while {blocked}; upload tries {tries}, upload POSTs +{self.upload_posts() - posts}"
            f"{self.tries_on_workers(run_id, tries)}",
        )
        self.check_one_uploading_per_run("after the kill mid-upload")

    def scenario_other_vendors_start(self) -> None:
        """Commerce Layer's and Fleetio's example DAGs, run beside Metrika's first scenarios (a thread)."""
        self.other_vendors = threading.Thread(target=self.other_vendors_run, name="other-vendors", daemon=True)
        self.other_vendors.start()

    def scenario_other_vendors_end(self) -> None:
        """Wait for the Commerce Layer and Fleetio runs before the scenarios that restart every triggerer."""
        assert self.other_vendors is not None
        self.other_vendors.join(timeout=300)
        if self.other_vendors.is_alive():
            raise ScenarioFailed("the Commerce Layer and Fleetio runs did not end within 300 s")

    def other_vendors_run(self) -> None:
        try:
            self.commercelayer_and_fleetio()
        except Exception as error:  # reported as a failed check; Metrika's scenarios go on
            self.check("commercelayer and fleetio: completed", False, f"{type(error).__name__}: {error}")

    def commercelayer_and_fleetio(self) -> None:
        """A Commerce Layer import task SIGKILLed with an import stored and its answer lost: Airflow retries, one
        import per part; a Fleetio sensor deferred while a person imports the day's file: the run succeeds."""
        cl = self.vendor_emulators["commercelayer"].client
        fleetio = self.vendor_emulators["fleetio"].client
        cl.inject_fault(method="POST", path="^/api/imports$", action="drop_response", seconds=60, times=1)
        for dag_id in (CL_DAG_ID, FLEETIO_DAG_ID):
            wait_until(f"{dag_id} to be served", lambda dag_id=dag_id: self.d.ready(dag_id), 120)
        cl_run, fleetio_run = self.d.trigger(CL_DAG_ID), self.d.trigger(FLEETIO_DAG_ID)
        fleetio_wait = (FLEETIO_DAG_ID, FLEETIO_WAIT_TASK)
        self.wait_deferred([fleetio_run], wait=fleetio_wait)
        wait_until("the triggerer to start the Fleetio wait", lambda: self.started_by(fleetio_run, fleetio_wait), 90)
        person_uploads_meter_readings(fleetio, datetime.now(UTC))  # in Fleetio's web app, as far as Airflow knows
        first_task = CL_IMPORT_TASKS[0]
        wait_until("the first Commerce Layer import to be stored", lambda: cl_imports(cl), 240)
        pid = wait_until(
            "the import task's process", lambda: self.d.upload_task_process(cl_run, first_task, CL_DAG_ID), 30
        )
        os.kill(pid, signal.SIGKILL)
        runs = {cl_run: CL_DAG_ID, fleetio_run: FLEETIO_DAG_ID}
        waits = [(cl_run, CL_DAG_ID, task) for task in CL_IMPORT_TASKS] + [(fleetio_run, *fleetio_wait)]

        def settled() -> bool:
            """No wait is between running and deferred: a wait that ended the moment it deferred could resume
            before the scheduler handled the deferring process's exit, which Airflow 3.3 takes for a task whose
            state changed externally (it fails the task)."""
            busy = ("running", "queued", "scheduled", "up_for_retry", "restarting")
            return not any(self.d.task(run_id, task, dag_id)["state"] in busy for run_id, dag_id, task in waits)

        def done() -> bool:  # the imports end as the emulators' clocks move on, once the waits are deferred
            states = {run_id: self.d.run_state(run_id, dag_id) for run_id, dag_id in runs.items()}
            if "failed" in states.values():
                raise ScenarioFailed(f"runs failed: {states}")
            if all(state == "success" for state in states.values()):
                return True
            if settled():
                time.sleep(2)
                if settled():
                    cl.advance(30)
                    fleetio.advance(30)
            return False

        wait_until("the Commerce Layer and Fleetio runs to succeed", done, 300, every=2.0)
        stored = cl_imports(cl)
        references = [str(item["attributes"]["reference"]) for item in stored]
        parts = sorted(reference.rsplit("-p", 1)[1] for reference in references)
        pushed = sorted(
            i for task in CL_IMPORT_TASKS for i in as_ids(self.d.xcom(cl_run, task, "return_value", CL_DAG_ID))
        )
        tries = self.d.task(cl_run, first_task, CL_DAG_ID)["try_number"]
        posts = sum(
            r["count"] for r in cl.request_stats()["requests"] if r["method"] == "POST" and r["route"] == "/api/imports"
        )
        expected = sorted(f"{n}of{CL_PARTS}" for n in range(1, CL_PARTS + 1) for _ in CL_IMPORT_TASKS)
        self.check(
            "commercelayer: import task SIGKILLed with an import stored and its answer lost: retried, exactly one "
            "import per part",
            tries >= 2
            and parts == expected
            and len(set(references)) == len(references)
            and sorted(str(item["id"]) for item in stored) == pushed
            and posts == len(stored),
            f"{first_task} tries {tries}; {len(stored)} imports, parts {parts}; POSTs {posts}; XCom ids {pushed}",
        )
        deferred = self.deferrals(cl_run, (CL_DAG_ID, CL_IMPORT_TASKS[1]))
        self.check(
            "commercelayer: the waits deferred to the triggerer, the run succeeded",
            deferred >= 1 and self.fired_events(cl_run, (CL_DAG_ID, CL_IMPORT_TASKS[1])) >= 1,
            f"{CL_IMPORT_TASKS[1]} deferrals {deferred}",
        )
        throttled = fleetio.request_stats()["throttled_total"]
        self.check(
            "fleetio: the sensor deferred, a person imported the day's file, the run succeeded, no request got 429 "
            "(the asset watcher, asked to poll every second, polls the same account all along)",
            self.deferrals(fleetio_run, fleetio_wait) == 1
            and self.fired_events(fleetio_run, fleetio_wait) == 1
            and throttled == 0,
            f"deferrals {self.deferrals(fleetio_run, fleetio_wait)}, "
            f"events {self.fired_events(fleetio_run, fleetio_wait)}, Fleetio requests throttled {throttled}",
        )

    def tries_on_workers(self, run_id: str, tries: int) -> str:
        """Which Celery worker ran each try of the run's upload task (its ``Executing workload`` log line)."""
        if not self.workers:
            return ""
        where = []
        for attempt in range(1, tries + 1):
            path = f"run_id={run_id}/task_id={UPLOAD_TASK}/attempt={attempt}.log"
            where.append(next((w.name for w in self.workers if path in w.log()), "?"))
        return f"; tries on {where}"

    def scenario_celery_runs(self) -> None:
        runs = [self.d.trigger() for _ in range(3)]
        self.runs += runs
        self.wait_deferred(runs)
        wait_until("the triggerer to start the triggers", lambda: all(self.started_by(r) for r in runs), 90)
        self.check(
            "waits deferred to the triggerer process (sensor DEFERRED, trigger logs of the triggerer job)",
            all(self.deferrals(r) == 1 for r in runs),
            f"{len(runs)} runs, triggerer jobs {sorted({job for r in runs for job in self.started_by(r)})}",
        )
        self.wait_success(runs)
        executed = {worker.name: worker.log().count("Executing workload in Celery") for worker in self.workers}
        self.check(
            "runs succeed, both Celery workers ran tasks, every wait fired once",
            all(executed.values()) and all(self.fired_events(r) == 1 for r in runs),
            f"tasks executed per worker {executed}",
        )
        self.check_one_uploading_per_run("after the Celery runs")

    def scenario_triggerer_queues(self) -> None:
        """Two triggerers on two queues: the provider's waits (queue "metrika") all go to the metrika one."""
        for triggerer in self.triggerers:
            self.d.kill(triggerer)
        scheduler = next(c for c in self.d.components if c.name.startswith("scheduler"))
        self.d.kill(scheduler)
        # a deferring task gives its trigger its own queue only with queues_enabled (read in the task process)
        self.d.env["AIRFLOW__TRIGGERER__QUEUES_ENABLED"] = "True"
        self.d.start("scheduler-queues", "scheduler", "--skip-serve-logs")
        other = self.start_triggerer("--queues", "default,fleetio")
        wait_until("the default-queue triggerer to start", lambda: "Starting the triggerer" in other.log(), 120)
        runs = [self.d.trigger() for _ in range(4)]
        self.runs += runs
        self.wait_deferred(runs)
        # the default-queue triggerer alone, alive and idle, must leave the metrika triggers unassigned
        time.sleep(8)
        alone = self.d.wait_triggers(runs)
        self.start_triggerer("--queues", "metrika")
        wait_until("the metrika triggerer to start the triggers", lambda: all(self.started_by(r) for r in runs), 120)
        lists, cycles, per_cycle = self.measure_polling(runs)
        assigned = self.d.wait_triggers(runs)
        jobs = {job for r in runs for job in self.started_by(r)}
        self.figures.append(
            (
                "two triggerers on two queues",
                f"{len(runs)} waits all on the metrika triggerer (job {sorted(jobs)}): {lists} status requests in "
                f"{MEASURE_SECONDS:g} s over {sum(cycles.values())} poll cycles "
                f"= {per_cycle:.2f} per counter per cycle",
            )
        )
        self.wait_success(runs)
        self.check(
            "triggerer queues: the waits carry queue 'metrika'; the default-queue triggerer left them alone, "
            "the metrika triggerer ran them all, once each",
            all(queue == "metrika" and job is None for _, queue, job in alone)
            and all(queue == "metrika" for _, queue, _ in assigned)
            and len({job for _, _, job in assigned}) == 1
            and len(jobs) == 1
            and all(self.fired_events(r) == 1 for r in runs),
            f"(run, queue, triggerer job) with the default-queue triggerer alone for 8 s: "
            f"{[(q, j) for _, q, j in alone]}; then {[(q, j) for _, q, j in assigned]}; "
            f"trigger logs by job {sorted(jobs)}; default-queue triggerer still up: {other.process.poll() is None}",
        )
        self.check_one_uploading_per_run("after the queued triggerers")

    def grow_crm(self, deals: int) -> None:
        """Add paid deals of yesterday (UTC) to the CRM, so the next run extracts a big file."""
        midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        start = midnight - timedelta(days=1)
        with sqlite3.connect(self.crm_db) as db:
            first = db.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM deals").fetchone()[0]
            stamp = lambda i: (start + timedelta(seconds=60 + i % 80000)).strftime("%Y-%m-%d %H:%M:%S")  # noqa: E731
            db.executemany(
                "INSERT INTO deals (id, customer_id, status, amount, currency, created_at, paid_at) "
                "VALUES (?, ?, 'paid', '100.00', 'RUB', ?, ?)",
                ((first + i, 1 + i % 100, stamp(i), stamp(i)) for i in range(deals)),
            )

    def scenarios(self) -> list[Callable[[], None]]:
        if self.mode == "celery":
            return [
                self.scenario_celery_runs,
                self.scenario_task_killed_after_stored,
                self.scenario_task_killed_mid_upload,
            ]
        if self.mode == "airflow2":
            return [
                self.scenario_triggerer_killed,
                self.scenario_task_killed_after_stored,
                self.scenario_task_killed_mid_upload,
            ]
        return [
            self.scenario_other_vendors_start,  # runs beside the next two
            self.scenario_triggerer_killed,
            self.scenario_emulator_restarted,
            self.scenario_other_vendors_end,
            self.scenario_two_triggerers,
            # before the mid-upload kill, which leaves the CRM with a big day to upload on every later run
            self.scenario_triggerer_queues,
            self.scenario_task_killed_after_stored,
            self.scenario_task_killed_mid_upload,
        ]

    def run(self) -> None:
        for scenario in self.scenarios():
            started = time.monotonic()
            name = scenario.__name__.removeprefix("scenario_")
            print(f"--- {name}", flush=True)
            try:
                scenario()
            except (ScenarioFailed, requests.RequestException, OSError, sqlite3.Error) as error:
                self.check(f"{name}: completed", False, str(error))
            except Exception as error:  # a bug or an answer of a shape not foreseen: the next scenarios still run
                self.check(f"{name}: completed", False, f"{type(error).__name__}: {error}")
            print(f"    ({time.monotonic() - started:.0f} s)", flush=True)


def cl_imports(cl: Any) -> list[dict[str, Any]]:
    """Every import the Commerce Layer emulator holds (its control API)."""
    return cl.call("GET", "commercelayer/imports")["imports"]


def log_record(line: str) -> dict[str, Any] | None:
    """One trigger log line as a record with ``event`` and ``timestamp``: a JSON line (Airflow 3) or text (2)."""
    with contextlib.suppress(ValueError):
        record = json.loads(line)
        return record if isinstance(record, dict) else None
    match = TEXT_LOG_LINE.match(line)
    return match.groupdict() if match else None


def start_redis(deployment: Deployment) -> str:
    """Redis from the Debian package on a free port, in memory only: the Celery broker and result backend."""
    port = free_port()
    command = [shutil.which("redis-server") or "redis-server", "--port", str(port), "--bind", "127.0.0.1"]
    deployment.start_process("redis", [*command, "--save", "", "--appendonly", "no"])
    url = f"redis://127.0.0.1:{port}/0"
    wait_until(
        "Redis to accept connections", lambda: "Ready to accept connections" in deployment.components[-1].log(), 60
    )
    return url


def run_mode(mode: str, workdir: Path, venv_bin: Path) -> tuple[list[tuple[str, bool, str]], list[tuple[str, str]]]:
    """One deployment from start to stop: its checks and figures; on a failure, its components' log tails."""
    started = time.monotonic()
    workdir.mkdir(parents=True, exist_ok=True)
    if mode == "airflow2":
        deployment: Deployment = Airflow2Deployment(workdir, venv_bin)
    else:
        deployment = Deployment(workdir, venv_bin, "CeleryExecutor" if mode == "celery" else "LocalExecutor")
    crm_db = create_crm_database(workdir / "crm.db", customers=500, deals=3000)
    # frozen clock: waits end when told; the emulator runs on this driver's interpreter (it needs no Airflow)
    deployment.emulator = EmulatorProcess(str(workdir / "emulator.db"))
    test = DeploymentTest(deployment, crm_db, mode)
    version = deployment.airflow_version()
    print(f"=== {mode}: Airflow {version}, {deployment.executor}", flush=True)
    try:
        deployment.start_emulator()
        deployment.configure(crm_db, deployment.emulator.url)
        if mode == "local":
            test.vendor_emulators = {v: deployment.start_vendor_emulator(v) for v in ("commercelayer", "fleetio")}
            cl, fleetio = test.vendor_emulators["commercelayer"], test.vendor_emulators["fleetio"]
            deployment.env.update(
                commercelayer_env(cl.url)
                | fleetio_env(fleetio.url)
                | {"COMMERCELAYER_EXAMPLE_SKUS": str(CL_EXAMPLE_SKUS)}
            )
        if mode == "celery":
            deployment.use_celery(start_redis(deployment))
        if mode == "local":
            deployment.write_queue_policy()
        deployment.migrate()
        deployment.start_components()
        for number in (1, 2) if mode == "celery" else ():
            test.workers.append(
                deployment.start(
                    f"celery-worker-{number}",
                    *("celery", "worker", "--celery-hostname", f"worker{number}@%h", "--skip-serve-logs"),
                    *("--without-gossip", "--without-mingle"),
                )
            )
        test.start_triggerer()
        wait_until("the deployment to serve the DAG", deployment.ready, 240, every=1.0)
        print(f"deployment up in {time.monotonic() - started:.0f} s; logs in {deployment.logs}", flush=True)
        test.run()
    except (ScenarioFailed, RuntimeError, requests.RequestException, OSError, sqlite3.Error) as error:
        test.check("deployment started", False, str(error))
    except Exception as error:  # whatever it is, the other deployments still run and the table still prints
        test.check("deployment started", False, f"{type(error).__name__}: {error}")
    finally:
        deployment.stop_all()
    title = f"{mode}: Airflow {version}, {deployment.executor}, SQLite"
    print_table(title, test.results, test.figures, time.monotonic() - started)
    if not all(ok for _, ok, _ in test.results):
        for component in [*deployment.components, deployment.emulator, *deployment.vendor_emulators]:
            path = Path(component.log_path)
            print(f"\n--- last lines of {path.stem} ({path}) ---")
            print("\n".join(path.read_text(errors="replace").splitlines()[-25:]))
    return test.results, test.figures


def print_table(title: str, results: list[tuple[str, bool, str]], figures: list[tuple[str, str]], wall: float) -> None:
    width = max((len(name) for name, _, _ in results), default=5)
    print(f"\nDeployment test ({title}), {wall:.0f} s")
    print(f"{'result':<6}  {'check':<{width}}  detail")
    for name, ok, detail in results:
        print(f"{'PASS' if ok else 'FAIL':<6}  {name:<{width}}  {detail}")
    for name, value in figures:
        print(f"figure  {name}: {value}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, required=True, help="AIRFLOW_HOMEs, logs, databases and pid files")
    parser.add_argument("--af3", type=Path, required=True, help="the Airflow 3.3 virtualenv")
    parser.add_argument("--af2", type=Path, help="the Airflow 2.11 virtualenv (for the airflow2 mode)")
    parser.add_argument("--modes", default="local,celery,airflow2", help="comma-separated: local, celery, airflow2")
    args = parser.parse_args()
    modes = [m for m in args.modes.split(",") if m]
    unknown = sorted(set(modes) - {"local", "celery", "airflow2"})
    if unknown or ("airflow2" in modes and args.af2 is None):
        parser.error(f"unknown modes {unknown}" if unknown else "the airflow2 mode needs --af2")
    started = time.monotonic()
    results: list[tuple[str, bool, str]] = []
    for mode in modes:
        venv = args.af2 if mode == "airflow2" else args.af3
        mode_results, _ = run_mode(mode, args.workdir.resolve() / mode, venv.resolve() / "bin")
        results += mode_results
    failed = [name for name, ok, _ in results if not ok]
    for name in failed:
        print(f"FAILED  {name}")
    print(
        f"deployment: {len(results) - len(failed)} passed, {len(failed)} failed "
        f"({', '.join(modes)}; {time.monotonic() - started:.0f} s)"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
