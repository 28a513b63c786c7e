"""A real Airflow deployment on this machine, for scripts/deployment_test.py: its processes, settings and state.

Each component (api-server, scheduler, dag-processor, triggerers, Celery workers, Redis, the emulator) runs as
its own process group with its output in a log file, so a test can SIGKILL any of them as a crash would. The
deployment's state (runs, task instances, XComs, triggers) is read through Airflow 3's REST API, or on Airflow 2
(no api-server) from the metadata database and the CLI, as an operator would look.

What it takes to run each line for real (https://airflow.apache.org/docs/apache-airflow/stable/configurations-ref.html):

* Airflow 3.3: the api-server is required (tasks report through its execution API): ``[core]
  execution_api_server_url`` points at it and every component shares one ``[api_auth] jwt_secret``; the
  LocalExecutor works on SQLite; ``[scheduler] task_instance_heartbeat_timeout`` lowered so a killed task is
  noticed in seconds.
* Airflow 2.11: the LocalExecutor refuses SQLite, so the SequentialExecutor (the scheduler runs one task at a
  time itself) with a separate triggerer; the venv's ``bin`` on PATH (the scheduler runs ``airflow tasks run``);
  ``[scheduler] scheduler_zombie_task_threshold`` lowered.
* CeleryExecutor (3.3): a Redis broker, ``airflow celery worker`` processes (each with ``--celery-hostname``
  and ``--skip-serve-logs`` when several share a machine), the same execution API as above.
* Both lines: ``[scheduler] use_job_schedule = False`` (runs are triggered by the test only),
  ``[triggerer] triggerer_health_check_threshold`` lowered so a dead triggerer's triggers move sooner.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import sqlite3
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests
from demo_runner import airflow_env

from airflow_provider_metrika.emulator.testing import EmulatorProcess

DAG_ID = "metrika_crm_to_offline_conversions"
UPLOAD_TASK = "upload_offline_conversions"
WAIT_TASK = "wait_for_processing"
CL_DAG_ID = "commercelayer_skus_prices"
CL_IMPORT_TASKS = ("import_skus", "import_prices")
FLEETIO_DAG_ID = "fleetio_wait_for_import"
FLEETIO_WAIT_TASK = "wait_for_meter_import"
# A cluster policy that puts each vendor's tasks of the provider on one queue: with [triggerer] queues_enabled, a
# deferred task's trigger carries its task's queue, and `airflow triggerer --queues metrika` runs only those.
# https://airflow.apache.org/docs/apache-airflow/stable/administration-and-deployment/cluster-policies.html
QUEUE_POLICY = '''"""Every task of the provider runs (and waits) on its vendor's queue."""


def task_policy(task):
    module = type(task).__module__.split(".")
    if module[0] == "airflow_provider_metrika":
        task.queue = module[1] if module[1] in ("commercelayer", "fleetio") else "metrika"
'''


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


def as_ids(value: Any) -> list[str]:
    """The uploading ids an upload task pushed: one id, a list of them, or a result with an ``ids`` list."""
    if value is None:
        return []
    if isinstance(value, dict):
        return as_ids(value.get("ids", value.get("uploading_id")))
    if isinstance(value, list):
        return [str(item) for item in value]
    return [str(value)]


class Component:
    """One process (its own process group), its output in a log file."""

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
    """An Airflow 3 deployment read through its REST API (api-server, scheduler, dag-processor, triggerers)."""

    line = "Airflow 3"

    def __init__(self, workdir: Path, venv_bin: Path, executor: str = "LocalExecutor"):
        self.workdir = workdir
        self.venv_bin = venv_bin
        self.executor = executor
        self.logs = workdir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.pidfile = workdir / "pids"
        self.components: list[Component] = []
        self.emulator: EmulatorProcess | None = None
        #: Other vendors' emulators (one process each, as their hosts are separate), stopped with the deployment.
        self.vendor_emulators: list[EmulatorProcess] = []
        self.env: dict[str, str] = {}
        self.api_url = ""

    # -- processes -------------------------------------------------------------------------------
    def _write_pids(self) -> None:
        groups = [c.pid for c in self.components if c.process.poll() is None]
        for emulator in (self.emulator, *self.vendor_emulators):
            if emulator is not None and emulator.pid:
                groups.append(emulator.pid)
        self.pidfile.write_text("".join(f"{pid}\n" for pid in groups))

    def start_process(self, name: str, command: list[str], env: dict[str, str] | None = None) -> Component:
        component = Component(name, command, env or self.env, self.logs)
        self.components.append(component)
        self._write_pids()
        return component

    def start(self, name: str, *args: str, env: dict[str, str] | None = None) -> Component:
        """An Airflow component: ``airflow <args>`` from the deployment's virtualenv."""
        return self.start_process(name, [str(self.venv_bin / "airflow"), *args], env)

    def kill(self, component: Component) -> None:
        component.kill()
        self._write_pids()

    def start_emulator(self, port: int = 0) -> EmulatorProcess:
        assert self.emulator is not None
        self.emulator.port = port
        self.emulator.start()
        self._write_pids()
        return self.emulator

    def start_vendor_emulator(self, vendor: str) -> EmulatorProcess:
        """``python -m airflow_provider_metrika.emulator --vendor <vendor>``, frozen clock, its state in the workdir."""
        emulator = EmulatorProcess(str(self.workdir / f"{vendor}.db"), "--vendor", vendor)
        self.vendor_emulators.append(emulator)
        emulator.start()
        self._write_pids()
        return emulator

    def kill_emulator(self) -> None:
        assert self.emulator is not None
        os.killpg(self.emulator.pid, signal.SIGKILL)
        self.emulator.stop()
        self._write_pids()

    def stop_all(self) -> None:
        for component in reversed(self.components):
            component.kill()
        for emulator in (self.emulator, *self.vendor_emulators):
            if emulator is not None:
                emulator.stop()
        self.pidfile.write_text("")

    def airflow_version(self) -> str:
        done = subprocess.run(
            [str(self.venv_bin / "python"), "-c", "import importlib.metadata as m; print(m.version('apache-airflow'))"],
            capture_output=True,
            text=True,
        )
        return done.stdout.strip() or "unknown"

    def migrate(self) -> None:
        Path(self.env["AIRFLOW_HOME"]).mkdir(parents=True, exist_ok=True)
        done = subprocess.run([str(self.venv_bin / "airflow"), "db", "migrate"], env=self.env, capture_output=True)
        if done.returncode != 0:
            out = (done.stdout + done.stderr).decode(errors="replace")
            raise RuntimeError(f"airflow db migrate failed:\n{out[-3000:]}")

    # -- setup -----------------------------------------------------------------------------------
    def common_settings(self) -> dict[str, str]:
        """What both lines need to run for real on one machine, triggered by hand, with faults noticed fast."""
        return {
            "PATH": f"{self.venv_bin}{os.pathsep}{os.environ.get('PATH', '')}",
            "AIRFLOW__CORE__EXECUTOR": self.executor,
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__DEFAULT_TASK_RETRY_DELAY": "2",
            # runs are triggered by this script only (else the daily DAG adds its own run)
            "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
            "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.5",
            # a dead triggerer's triggers move to a live one after this many seconds without a heartbeat
            "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "10",
            "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "1",
            # one new trigger per triggerer loop, so two triggerers share the waits
            "AIRFLOW__TRIGGERER__MAX_TRIGGER_TO_SELECT_PER_LOOP": "1",
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
        }

    def configure(self, crm_db: Path, emulator_url: str) -> None:
        api_port = free_port()
        self.api_url = f"http://127.0.0.1:{api_port}"
        self.env = airflow_env(self.workdir, emulator_url, crm_db) | self.common_settings()
        self.env.update(
            {
                # LocalExecutor starts this many worker processes up front
                "AIRFLOW__CORE__PARALLELISM": "4",
                # tasks report their state through the api-server's execution API, signed with a shared secret
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.api_url}/execution/",
                "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
                "AIRFLOW__API__PORT": str(api_port),
                "AIRFLOW__API__HOST": "127.0.0.1",
                "AIRFLOW__API__WORKERS": "1",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",  # a test deployment: no login
                "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "20",
                "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "2",
            }
        )

    def use_celery(self, broker_url: str) -> None:
        """The CeleryExecutor on a Redis broker (also the result backend): workers take tasks from Redis."""
        self.env.update(
            {
                "AIRFLOW__CELERY__BROKER_URL": broker_url,
                "AIRFLOW__CELERY__RESULT_BACKEND": broker_url,
                "AIRFLOW__CELERY__WORKER_CONCURRENCY": "1",
                "AIRFLOW__CELERY__WORKER_PREFETCH_MULTIPLIER": "1",
            }
        )

    def write_queue_policy(self) -> None:
        """The cluster policy (airflow_local_settings.py in $AIRFLOW_HOME/config, which Airflow puts on sys.path)."""
        config = Path(self.env["AIRFLOW_HOME"], "config")
        config.mkdir(parents=True, exist_ok=True)
        (config / "airflow_local_settings.py").write_text(QUEUE_POLICY)

    def start_components(self) -> None:
        self.start("api-server", "api-server")
        self.start("scheduler", "scheduler", "--skip-serve-logs")
        self.start("dag-processor", "dag-processor")

    # -- metadata database (read only: what the components wrote) ---------------------------------
    def db_rows(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        path = Path(self.env["AIRFLOW_HOME"], "airflow.db")
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=60)) as db:
            return db.execute(query, params).fetchall()

    def wait_triggers(
        self, runs: list[str], dag_id: str = DAG_ID, task_id: str = WAIT_TASK
    ) -> list[tuple[str, str | None, int | None]]:
        """(run id, queue, triggerer job id) of each run's deferred wait."""
        marks = ",".join("?" * len(runs))
        return self.db_rows(
            "SELECT ti.run_id, t.queue, t.triggerer_id FROM task_instance ti JOIN trigger t ON t.id = ti.trigger_id "
            f"WHERE ti.dag_id = ? AND ti.task_id = ? AND ti.run_id IN ({marks})",
            dag_id,
            task_id,
            *runs,
        )

    # -- REST API --------------------------------------------------------------------------------
    def api(self, method: str, path: str, *, accept: tuple[int, ...] = (), **kwargs: Any) -> Any:
        """One REST call, resent on a timeout, a dropped connection or a 5xx: a busy one-worker api-server on
        SQLite can take longer than a read timeout, or find its database locked by another writer (two
        vendors' runs triggered at once), and that is not what this test is about. Only idempotent calls come
        here (GETs, and a trigger with its own run id, whose resend gets 409)."""
        for attempt in range(1, 6):
            try:
                response = requests.request(method, f"{self.api_url}/api/v2{path}", timeout=60, **kwargs)
            except (requests.Timeout, requests.ConnectionError):
                if attempt == 5:
                    raise
                time.sleep(2 * attempt)
                continue
            if response.status_code >= 500 and attempt < 5:  # SQLite busy under concurrent writers ("locked")
                time.sleep(2 * attempt)
                continue
            if response.status_code in accept:
                return None
            response.raise_for_status()
            return response.json()
        raise AssertionError("unreachable")

    def ready(self, dag_id: str = DAG_ID) -> bool:
        try:
            return requests.get(f"{self.api_url}/api/v2/dags/{dag_id}", timeout=10).status_code == 200
        except requests.RequestException:
            return False

    def trigger(self, dag_id: str = DAG_ID) -> str:
        """A run triggered by hand without a logical date (so with no data interval)."""
        run_id = f"manual__{datetime.now(UTC).isoformat()}"
        # a resent trigger (its first answer lost) finds the run it created: 409, not a second run
        self.api("POST", f"/dags/{dag_id}/dagRuns", json={"dag_run_id": run_id, "logical_date": None}, accept=(409,))
        return run_id

    def run_state(self, run_id: str, dag_id: str = DAG_ID) -> str:
        return self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}")["state"]

    def task(self, run_id: str, task_id: str, dag_id: str = DAG_ID) -> dict[str, Any]:
        """The task instance: at least its ``state``, ``try_number`` and ``pid``."""
        return self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}")

    def xcom(self, run_id: str, task_id: str, key: str, dag_id: str = DAG_ID) -> Any:
        """An XCom's value, None when there is none."""
        path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}"
        try:
            return self.api("GET", path)["value"]
        except requests.HTTPError:
            return None

    def upload_ids(self, run_id: str) -> list[str]:
        """The uploading ids the run's upload task pushed (its ``uploading_id`` XCom, else its result's ids)."""
        for key in ("uploading_id", "return_value"):
            value = self.xcom(run_id, UPLOAD_TASK, key)
            if value is not None:
                return as_ids(value)
        return []

    def upload_task_process(self, run_id: str, task_id: str = UPLOAD_TASK, dag_id: str = DAG_ID) -> int:
        """The pid of the upload task's own process once it runs (0 before: the pid recorded may still be
        another process's, so its title must name the task)."""
        ti = self.task(run_id, task_id, dag_id)
        pid = ti.get("pid")
        if ti["state"] != "running" or not pid:
            return 0
        return pid if self.task_process_title(ti, task_id, dag_id) in process_title(pid) else 0

    def task_process_title(self, ti: dict[str, Any], task_id: str = UPLOAD_TASK, dag_id: str = DAG_ID) -> str:
        """What the task's own process is titled with: ``airflow worker -- <ti id>``."""
        return ti["id"]


class Airflow2Deployment(Deployment):
    """An Airflow 2.11 deployment (scheduler with the SequentialExecutor, triggerers) read through its database
    and CLI: Airflow 2's REST API needs the webserver, which this test does not need otherwise."""

    line = "Airflow 2"

    def __init__(self, workdir: Path, venv_bin: Path):
        super().__init__(workdir, venv_bin, executor="SequentialExecutor")

    def configure(self, crm_db: Path, emulator_url: str) -> None:
        self.env = airflow_env(self.workdir, emulator_url, crm_db) | self.common_settings()
        self.env.update(
            {
                "AIRFLOW__SCHEDULER__SCHEDULER_ZOMBIE_TASK_THRESHOLD": "20",
                "AIRFLOW__SCHEDULER__ZOMBIE_DETECTION_INTERVAL": "2",
            }
        )

    def start_components(self) -> None:
        self.start("scheduler", "scheduler", "--skip-serve-logs")  # parses the DAGs itself on 2.11

    def ready(self) -> bool:
        try:
            rows = self.db_rows("SELECT 1 FROM serialized_dag WHERE dag_id = ?", DAG_ID)
        except sqlite3.Error:
            return False
        return bool(rows)

    def trigger(self, dag_id: str = DAG_ID) -> str:
        run_id = f"manual__{datetime.now(UTC).isoformat()}"
        command = [str(self.venv_bin / "airflow"), "dags", "trigger", dag_id, "--run-id", run_id]
        done = subprocess.run(command, env=self.env, capture_output=True, timeout=300)
        if done.returncode != 0:
            out = (done.stdout + done.stderr).decode(errors="replace")
            raise ScenarioFailed(f"airflow dags trigger failed:\n{out[-2000:]}")
        return run_id

    def run_state(self, run_id: str, dag_id: str = DAG_ID) -> str:
        rows = self.db_rows("SELECT state FROM dag_run WHERE dag_id = ? AND run_id = ?", dag_id, run_id)
        return rows[0][0] if rows else "none"

    def task(self, run_id: str, task_id: str, dag_id: str = DAG_ID) -> dict[str, Any]:
        rows = self.db_rows(
            "SELECT state, try_number, pid FROM task_instance "
            "WHERE dag_id = ? AND run_id = ? AND task_id = ? AND map_index = -1",
            dag_id,
            run_id,
            task_id,
        )
        state, try_number, pid = rows[0] if rows else (None, 0, None)
        return {"state": state, "try_number": try_number, "pid": pid}

    def xcom(self, run_id: str, task_id: str, key: str, dag_id: str = DAG_ID) -> Any:
        rows = self.db_rows(
            "SELECT value FROM xcom WHERE dag_id = ? AND run_id = ? AND task_id = ? AND key = ?",
            dag_id,
            run_id,
            task_id,
            key,
        )
        return json.loads(rows[0][0]) if rows else None

    def task_process_title(self, ti: dict[str, Any], task_id: str = UPLOAD_TASK, dag_id: str = DAG_ID) -> str:
        """What the task's own process is titled with: ``airflow task runner: <dag> <task> <run>``, forked by
        ``airflow tasks run --local``."""
        return f"{dag_id} {task_id}"


def process_title(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return ""


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
