"""Run an example DAG end to end with `airflow dags test` against the Metrika emulator.

Shared by the README's demo command (scripts/demo.py) and the DAG tests, so both run
the DAGs exactly the same way: a throw-away AIRFLOW_HOME, the seeded CRM database,
and connections given as AIRFLOW_CONN_* variables (no token: the emulator takes any).
Not a DAG; listed in .airflowignore.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

EXAMPLE_DAGS = Path(__file__).resolve().parent
#: The line an example DAG's summarize task prints (``METRIKA SUMMARY {...}``, ``COMMERCELAYER SUMMARY {...}``).
SUMMARY_LINE = re.compile(r"\b[A-Z]+ SUMMARY (\{.*)$")
DEMO_TOKEN = "emulator-demo-token"
DEMO_COUNTER_ID = 12345


@dataclass
class DagRunResult:
    returncode: int
    output: str

    @property
    def summary(self) -> dict | None:
        """The JSON the example DAG's summarize task printed, if any."""
        for line in reversed(self.output.splitlines()):
            found = SUMMARY_LINE.search(line)
            if found:
                return json.loads(found[1])
        return None


def airflow_env(workdir: Path, emulator_url: str, crm_db: Path) -> dict[str, str]:
    """Environment for an isolated Airflow: own home and DB, example DAGs folder, demo connections."""
    env = dict(os.environ)
    env.update(
        {
            "AIRFLOW_HOME": str(workdir / "airflow"),
            "AIRFLOW__CORE__DAGS_FOLDER": str(EXAMPLE_DAGS),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            "AIRFLOW_CONN_METRIKA_DEFAULT": json.dumps(
                {
                    "conn_type": "yandex_metrika",
                    "host": emulator_url,
                    "password": DEMO_TOKEN,
                    "extra": {"counter_id": DEMO_COUNTER_ID},
                }
            ),
            "AIRFLOW_CONN_CRM_DB": json.dumps({"conn_type": "sqlite", "host": str(crm_db)}),
            "METRIKA_COUNTER_ID": str(DEMO_COUNTER_ID),
            "METRIKA_EXAMPLE_DATA_DIR": str(workdir / "data"),
            "METRIKA_EXAMPLE_POLL_SECONDS": "1",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(EXAMPLE_DAGS.parent), env.get("PYTHONPATH")])),
        }
    )
    return env


def fleetio_env(url: str) -> dict[str, str]:
    """The ``fleetio_default`` connection to the Fleetio emulator at ``url`` (it takes any key and account token)."""
    connection = {"conn_type": "fleetio", "host": url, "login": "demo-account-token", "password": "demo-api-key"}
    return {"AIRFLOW_CONN_FLEETIO_DEFAULT": json.dumps(connection)}


def person_uploads_meter_readings(fleetio: Any, day: datetime, rows: int = 40, errors: int = 0) -> dict[str, Any]:
    """Play the fleet manager who uploads the day's meter readings CSV in Fleetio's web app (the API cannot)."""
    readings = [{"status": "created"}] * (rows - errors) + [
        {"status": "error", "message": "Meter value is lower than the previous reading"}
    ] * errors
    body = {"type": "MeterEntryImport", "file_name": f"meters_{day:%Y%m%d}.csv", "note": "daily", "rows": readings}
    return fleetio.call("POST", "fleetio/imports", json=body)


def commercelayer_env(url: str) -> dict[str, str]:
    """The ``commercelayer_default`` connection to the Commerce Layer emulator at ``url`` (it takes any client)."""
    connection = {
        "conn_type": "commercelayer",
        "host": url,
        "login": "demo-client-id",
        "password": "demo-client-secret",
        "extra": {"auth_url": url + "/oauth/token"},
    }
    return {"AIRFLOW_CONN_COMMERCELAYER_DEFAULT": json.dumps(connection)}


def airflow_cli() -> list[str]:
    return [str(Path(sys.executable).with_name("airflow"))]


def migrate(env: dict[str, str]) -> None:
    Path(env["AIRFLOW_HOME"]).mkdir(parents=True, exist_ok=True)
    done = subprocess.run([*airflow_cli(), "db", "migrate"], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"airflow db migrate failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")


def run_dag(dag_id: str, env: dict[str, str], logical_date: datetime | None = None, echo: bool = False) -> DagRunResult:
    """``airflow dags test`` for one DAG; logical date defaults to today's midnight UTC (yesterday's data)."""
    logical_date = logical_date or datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    command = [*airflow_cli(), "dags", "test", dag_id, logical_date.strftime("%Y-%m-%dT%H:%M:%S+00:00")]
    return _run(command, env, echo)


# `airflow dags test` always gives the run a logical date; `DAG.test(logical_date=None)` (Airflow 3) does not,
# like a run triggered by hand from the UI or `airflow dags trigger` without one.
_TEST_WITHOUT_LOGICAL_DATE = """
import sys
sys.path.append(sys.argv[1])  # as Airflow's dag-processor and workers put the DAGs folder on sys.path
from airflow.dag_processing.dagbag import DagBag
dag = DagBag(dag_folder=sys.argv[1]).get_dag(sys.argv[2])
run = dag.test(logical_date=None)
print(f"DAG RUN logical_date={run.logical_date} data_interval_start={run.data_interval_start} state={run.state}")
sys.exit(0 if run.state == "success" else 1)
"""


def run_dag_without_logical_date(dag_id: str, env: dict[str, str], echo: bool = False) -> DagRunResult:
    """Run one DAG as a run triggered by hand on Airflow 3 with no logical date (so no data interval)."""
    command = [sys.executable, "-c", _TEST_WITHOUT_LOGICAL_DATE, str(EXAMPLE_DAGS), dag_id]
    return _run(command, env, echo)


def _run(command: list[str], env: dict[str, str], echo: bool) -> DagRunResult:
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    assert process.stdout is not None
    for line in process.stdout:
        lines.append(line)
        if echo:
            sys.stdout.write(line)
    return DagRunResult(process.wait(), "".join(lines))
