"""The example DAG in a real Airflow 3 deployment against the Metrika emulator, with processes killed on purpose.

    scripts/deployment_test.sh            (sets up .venv/af3, cleans up every process whatever happens)
    python scripts/deployment_test.py --workdir DIR [--keep]

Starts the Airflow components as separate processes (api-server with one worker, dag-processor,
scheduler with the LocalExecutor on SQLite, triggerer) and the emulator with a frozen clock, so a
wait stays deferred until this script advances the clock. It triggers `metrika_crm_to_offline_conversions`
through the REST API without a logical date, and checks:

* the waits really deferred: the sensor's task state is DEFERRED and the triggerer process runs the trigger;
* the triggerer SIGKILLed while waits are deferred, then a new one started: the runs succeed, nothing resent;
* the emulator SIGKILLed and restarted (state kept) while waits are deferred: the runs succeed;
* two triggerers at once: every wait is run by one triggerer and ends once; the status requests per poll
  cycle are measured against one triggerer;
* the upload task's process SIGKILLed after its upload was stored but before the answer came: Airflow
  retries, the retry finds the upload, one uploading;
* the upload task's process SIGKILLed while the emulator holds its 16 MB upload unread (the body cannot
  have been sent whole): Airflow retries, the killed upload is never stored, one uploading.

After every scenario each run must hold exactly one uploading in the emulator (the upload task's XCom
ids are exactly the stored uploadings). Prints a PASS/FAIL table; exits 1 if anything failed.
Every wait is bounded. Component pids (process groups) are written to DIR/pids for the shell trap.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "example_dags")]

from demo_crm import create_crm_database  # noqa: E402
from demo_runner import airflow_env, migrate  # noqa: E402

from airflow_provider_metrika.emulator.testing import EmulatorProcess  # noqa: E402

DAG_ID = "metrika_crm_to_offline_conversions"
UPLOAD_TASK = "upload_offline_conversions"
WAIT_TASK = "wait_for_processing"
UPLOAD_ROUTE = re.compile(r"offline_conversions/upload$")
STATUS_ROUTE = re.compile(r"offline_conversions/uploading")  # the list and the get-by-id
MEASURE_SECONDS = 12.0  # the window in which status requests and poll cycles are counted
# Rows added to the CRM before the in-flight kill: a CSV far bigger than the kernel's socket buffers, so
# the killed process is still writing the body (the emulator never receives a complete upload from it).
BIG_EXTRA_DEALS = 300_000


class ScenarioFailed(Exception):
    """A bounded wait ran out or a precondition did not hold: the scenario cannot go on."""


def wait_until(what: str, predicate: Callable[[], Any], timeout: float, every: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise ScenarioFailed(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Component:
    """One Airflow process (its own process group), its output in a log file."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], logs: Path):
        self.name = name
        self.log_path = logs / f"{name}.log"
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                command, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL the whole process group: the component and every child it forked, as a crash would."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)


class Deployment:
    def __init__(self, workdir: Path, venv_bin: Path):
        self.workdir = workdir
        self.venv_bin = venv_bin
        self.logs = workdir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.pidfile = workdir / "pids"
        self.components: list[Component] = []
        self.emulator: EmulatorProcess | None = None
        self.env: dict[str, str] = {}
        self.api_url = ""

    # -- processes -------------------------------------------------------------------------------
    def _write_pids(self) -> None:
        groups = [c.pid for c in self.components if c.process.poll() is None]
        if self.emulator is not None and self.emulator.pid:
            groups.append(self.emulator.pid)
        self.pidfile.write_text("".join(f"{pid}\n" for pid in groups))

    def start(self, name: str, *args: str) -> Component:
        component = Component(name, [str(self.venv_bin / "airflow"), *args], self.env, self.logs)
        self.components.append(component)
        self._write_pids()
        return component

    def kill(self, component: Component) -> None:
        component.kill()
        self._write_pids()

    def start_emulator(self, port: int = 0) -> EmulatorProcess:
        assert self.emulator is not None
        self.emulator.port = port
        self.emulator.start()
        self._write_pids()
        return self.emulator

    def kill_emulator(self) -> None:
        assert self.emulator is not None
        os.killpg(self.emulator.pid, signal.SIGKILL)
        self.emulator.stop()
        self._write_pids()

    def stop_all(self) -> None:
        for component in reversed(self.components):
            component.kill()
        if self.emulator is not None:
            self.emulator.stop()
        self.pidfile.write_text("")

    # -- setup -----------------------------------------------------------------------------------
    def configure(self, crm_db: Path, emulator_url: str) -> None:
        api_port = free_port()
        self.api_url = f"http://127.0.0.1:{api_port}"
        env = airflow_env(self.workdir, emulator_url, crm_db)
        env.update(
            {
                "PATH": f"{self.venv_bin}{os.pathsep}{env.get('PATH', '')}",
                "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
                # LocalExecutor starts this many worker processes up front
                "AIRFLOW__CORE__PARALLELISM": "4",
                # tasks report their state through the api-server's execution API, signed with a shared secret
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.api_url}/execution/",
                "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
                "AIRFLOW__API__PORT": str(api_port),
                "AIRFLOW__API__HOST": "127.0.0.1",
                "AIRFLOW__API__WORKERS": "1",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",  # a test deployment: no login
                "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
                "AIRFLOW__CORE__DEFAULT_TASK_RETRY_DELAY": "2",
                # runs are triggered by this script only (else the daily DAG adds its own run)
                "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
                "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "20",
                "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "2",
                "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.5",
                # a dead triggerer's triggers move to a live one after this many seconds without a heartbeat
                "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "10",
                "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "1",
                # one new trigger per triggerer loop, so two triggerers share the waits
                "AIRFLOW__TRIGGERER__MAX_TRIGGER_TO_SELECT_PER_LOOP": "1",
                "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
                "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
            }
        )
        self.env = env

    # -- REST API --------------------------------------------------------------------------------
    def api(self, method: str, path: str, *, accept: tuple[int, ...] = (), **kwargs: Any) -> Any:
        """One REST call, resent on a timeout or a dropped connection: a busy one-worker api-server on
        SQLite can take longer than a read timeout, and that is not what this test is about. Only
        idempotent calls come here (GETs, and a trigger with its own run id, whose resend gets 409)."""
        for attempt in range(1, 6):
            try:
                response = requests.request(method, f"{self.api_url}/api/v2{path}", timeout=60, **kwargs)
            except (requests.Timeout, requests.ConnectionError):
                if attempt == 5:
                    raise
                time.sleep(2 * attempt)
                continue
            if response.status_code in accept:
                return None
            response.raise_for_status()
            return response.json()
        raise AssertionError("unreachable")

    def api_ready(self) -> bool:
        try:
            return requests.get(f"{self.api_url}/api/v2/dags/{DAG_ID}", timeout=10).status_code == 200
        except requests.RequestException:
            return False

    def trigger(self) -> str:
        """A run triggered by hand without a logical date (so with no data interval)."""
        run_id = f"manual__{datetime.now(UTC).isoformat()}"
        # a resent trigger (its first answer lost) finds the run it created: 409, not a second run
        self.api("POST", f"/dags/{DAG_ID}/dagRuns", json={"dag_run_id": run_id, "logical_date": None}, accept=(409,))
        return run_id

    def run_state(self, run_id: str) -> str:
        return self.api("GET", f"/dags/{DAG_ID}/dagRuns/{run_id}")["state"]

    def task(self, run_id: str, task_id: str) -> dict[str, Any]:
        return self.api("GET", f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/{task_id}")

    def uploading_id(self, run_id: str) -> str | None:
        path = f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/{UPLOAD_TASK}/xcomEntries/uploading_id"
        try:
            return str(self.api("GET", path)["value"])
        except requests.HTTPError:
            return None


class DeploymentTest:
    def __init__(self, deployment: Deployment, crm_db: Path):
        self.d = deployment
        self.crm_db = crm_db
        self.results: list[tuple[str, bool, str]] = []
        self.figures: list[tuple[str, str]] = []
        self.runs: list[str] = []
        self.triggerers: list[Component] = []

    @property
    def emu(self):
        assert self.d.emulator is not None
        return self.d.emulator.client

    # -- checks ------------------------------------------------------------------------------------
    def check(self, name: str, ok: bool, detail: str = "") -> bool:
        self.results.append((name, bool(ok), detail))
        print(f"{'PASS' if ok else 'FAIL'}  {name}  {detail}", flush=True)
        return bool(ok)

    def upload_posts(self) -> int:
        stats = self.emu.request_stats()["requests"]
        return sum(r["count"] for r in stats if r["method"] == "POST" and UPLOAD_ROUTE.search(r["route"]))

    def status_requests(self) -> int:
        stats = self.emu.request_stats()["requests"]
        return sum(r["count"] for r in stats if r["method"] == "GET" and STATUS_ROUTE.search(r["route"]))

    def wait_deferred(self, runs: list[str], timeout: float = 240) -> None:
        for run_id in runs:
            wait_until(
                f"{run_id}: {WAIT_TASK} DEFERRED",
                lambda run_id=run_id: self._deferred_or_fail(run_id),
                timeout,
            )

    def _deferred_or_fail(self, run_id: str) -> bool:
        state = self.d.task(run_id, WAIT_TASK)["state"]
        if self.d.run_state(run_id) == "failed":
            raise ScenarioFailed(f"run {run_id} failed before its wait deferred")
        return state == "deferred"

    def task_log_folder(self, run_id: str) -> Path:
        return Path(self.d.env["AIRFLOW_HOME"], "logs", f"dag_id={DAG_ID}", f"run_id={run_id}", f"task_id={WAIT_TASK}")

    def trigger_logs(self, run_id: str) -> dict[int, list[dict[str, Any]]]:
        """The wait's trigger log records, by the id of the triggerer job that ran it.

        A triggerer writes a trigger's log next to the task's, as ``attempt=N.log.trigger.<job id>.log``.
        """
        folder = self.task_log_folder(run_id)
        logs: dict[int, list[dict[str, Any]]] = {}
        for path in folder.glob("attempt=*.log.trigger.*.log"):
            records = []
            for line in path.read_text(errors="replace").splitlines():
                with contextlib.suppress(ValueError):
                    records.append(json.loads(line))
            logs.setdefault(int(path.name.rsplit(".", 2)[-2]), []).extend(records)
        return logs

    def started_by(self, run_id: str) -> dict[int, int]:
        """How many times each triggerer job started the run's wait trigger."""
        return {
            job: sum(1 for r in records if str(r.get("event", "")).endswith(" starting"))
            for job, records in self.trigger_logs(run_id).items()
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

    def fired_events(self, run_id: str) -> int:
        """How many events the run's wait trigger fired, over every triggerer that ran it."""
        logs = self.trigger_logs(run_id).values()
        return sum(1 for records in logs for record in records if record.get("event") == "Trigger fired event")

    def deferrals(self, run_id: str) -> int:
        """How many times the wait task logged that it deferred (the task's own log, attempt 1)."""
        folder = self.task_log_folder(run_id)
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
        pushed = sorted(str(self.d.uploading_id(run_id)) for run_id in self.runs)
        self.check(
            f"{label}: exactly one uploading per run",
            stored == pushed and len(set(pushed)) == len(self.runs),
            f"{len(self.runs)} runs, stored {stored}, XCom {pushed}",
        )

    def start_triggerer(self) -> Component:
        triggerer = self.d.start(f"triggerer-{len(self.triggerers) + 1}", "triggerer", "--skip-serve-logs")
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
        runs = [self.d.trigger(), self.d.trigger()]
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
            f"trigger logs of triggerer job {sorted(first_jobs)}: 'trigger ... starting'",
        )
        lists, cycles, per_cycle = self.measure_polling(runs)
        self.figures.append(
            (
                "one triggerer",
                f"{len(runs)} waits: {lists} status requests in {MEASURE_SECONDS:g} s over {sum(cycles.values())} "
                f"poll cycles = {per_cycle:.2f} per counter per cycle",
            )
        )
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
        two = self.start_triggerer()
        wait_until("the second triggerer to start", lambda: "Starting the triggerer" in two.log(), 120)
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
        self.d.kill(two)

    def _upload_task_process(self, run_id: str) -> int:
        """The pid of the upload task's own process (``airflow worker -- <ti id>``), once it runs."""
        ti = self.d.task(run_id, UPLOAD_TASK)
        pid = ti.get("pid")
        if ti["state"] != "running" or not pid:
            return 0
        try:
            title = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            return 0
        return pid if ti["id"] in title else 0

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
        pid = wait_until("the upload task's process", lambda: self._upload_task_process(run_id), 30)
        os.kill(pid, signal.SIGKILL)
        self.wait_success([run_id])
        tries = self.d.task(run_id, UPLOAD_TASK)["try_number"]
        self.check(
            "upload task SIGKILLed after the upload was stored, answer lost: retried, found, not resent",
            tries >= 2 and self.upload_posts() == posts + 1,
            f"upload tries {tries}, upload POSTs +{self.upload_posts() - posts}",
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
        pid = wait_until("the upload task's process", lambda: self._upload_task_process(run_id), 240, every=0.2)

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
            f"killed while {blocked}; upload tries {tries}, upload POSTs +{self.upload_posts() - posts}",
        )
        self.check_one_uploading_per_run("after the kill mid-upload")

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

    def run(self) -> None:
        for scenario in (
            self.scenario_triggerer_killed,
            self.scenario_emulator_restarted,
            self.scenario_two_triggerers,
            self.scenario_task_killed_after_stored,
            self.scenario_task_killed_mid_upload,
        ):
            started = time.monotonic()
            name = scenario.__name__.removeprefix("scenario_")
            print(f"--- {name}", flush=True)
            try:
                scenario()
            except (ScenarioFailed, requests.RequestException, OSError) as error:
                self.check(f"{name}: completed", False, str(error))
            print(f"    ({time.monotonic() - started:.0f} s)", flush=True)


def sending_blocked(pid: int, port: int) -> str:
    """Evidence that ``pid`` is blocked writing a request body to ``port``: unsent bytes queued, a thread asleep."""
    listing = subprocess.run(
        ["ss", "-tnpH", "state", "established", "dst", f"127.0.0.1:{port}"], capture_output=True, text=True
    ).stdout
    queued = [int(line.split()[1]) for line in listing.splitlines() if f"pid={pid}," in line]
    sleeping = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            if (task / "wchan").read_text().strip() in ("sk_stream_wait_memory", "wait_woken"):
                sleeping.append(task.name)
    if queued and max(queued) > 0 and sleeping:
        return f"{max(queued)} bytes queued unsent, thread {sleeping[0]} waiting for socket space"
    return ""


def print_table(results: list[tuple[str, bool, str]], figures: list[tuple[str, str]], wall: float) -> None:
    width = max(len(name) for name, _, _ in results)
    print(f"\nDeployment test (Airflow {airflow_version()}, LocalExecutor, SQLite), {wall:.0f} s")
    print(f"{'result':<6}  {'check':<{width}}  detail")
    for name, ok, detail in results:
        print(f"{'PASS' if ok else 'FAIL':<6}  {name:<{width}}  {detail}")
    for name, value in figures:
        print(f"figure  {name}: {value}")
    failed = sum(1 for _, ok, _ in results if not ok)
    print(f"deployment: {len(results) - failed} passed, {failed} failed")


def airflow_version() -> str:
    import airflow

    return airflow.__version__


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, required=True, help="AIRFLOW_HOME, logs, databases and the pid file")
    args = parser.parse_args()
    if not airflow_version().startswith("3."):
        print(f"the deployment test needs Airflow 3 (this is {airflow_version()})", file=sys.stderr)
        return 2
    started = time.monotonic()
    workdir = args.workdir.resolve()
    deployment = Deployment(workdir, Path(sys.executable).parent)
    crm_db = create_crm_database(workdir / "crm.db", customers=500, deals=3000)
    deployment.emulator = EmulatorProcess(str(workdir / "emulator.db"))  # frozen clock: waits end when told
    test = DeploymentTest(deployment, crm_db)
    try:
        deployment.start_emulator()
        deployment.configure(crm_db, deployment.emulator.url)
        migrate(deployment.env)
        deployment.start("api-server", "api-server")
        deployment.start("scheduler", "scheduler", "--skip-serve-logs")
        deployment.start("dag-processor", "dag-processor")
        test.start_triggerer()
        wait_until("the api-server to serve the DAG", deployment.api_ready, 240, every=1.0)
        print(f"deployment up in {time.monotonic() - started:.0f} s; logs in {deployment.logs}", flush=True)
        test.run()
    except (ScenarioFailed, RuntimeError, requests.RequestException, OSError) as error:
        test.check("deployment started", False, str(error))
    finally:
        deployment.stop_all()
    print_table(test.results, test.figures, time.monotonic() - started)
    if not all(ok for _, ok, _ in test.results):
        for component in deployment.components:
            print(f"\n--- last lines of {component.name} ({component.log_path}) ---")
            print("\n".join(component.log().splitlines()[-25:]))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
