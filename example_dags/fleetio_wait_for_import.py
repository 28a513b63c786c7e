"""Fleetio: wait for the day's meter readings import, then load it downstream.

Fleetio's API cannot create an import: a fleet manager uploads the day's meter readings CSV
(``meters_<date>.csv``) in Fleetio's web app. This DAG waits (deferred, in the triggerer) until that
import of the run's day has ended: ``complete`` goes on, ``partially_complete`` goes on with a
warning (the policy chosen here), ``failed``, ``incomplete``, ``rolled_back`` or ``unsupported`` fail
the task without retries, with the failed rows in the message.

day_start: the start of the run's day (a run triggered without a logical date: the previous UTC day)
wait_for_meter_import: FleetioImportSensor on type, file name pattern and creation time
load_meter_readings: the downstream step, here it prints what Fleetio reported

With the bundled Fleetio emulator, ``POST /_emulator/fleetio/imports`` plays the person who uploads
the file (scripts/demo.py does it before running this DAG).
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from typing import Any

try:  # Airflow 3
    from airflow.sdk import dag, task
except ImportError:  # Airflow 2.11
    from airflow.decorators import dag, task

from airflow.timetables.interval import CronDataIntervalTimetable
from data_window import data_window

from airflow_provider_metrika.fleetio.sensors import FleetioImportSensor

POLL_SECONDS = float(os.environ.get("METRIKA_EXAMPLE_POLL_SECONDS", "60"))


@dag(
    dag_id="fleetio_wait_for_import",
    schedule=CronDataIntervalTimetable("0 6 * * *", timezone="UTC"),
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    tags=["fleetio", "example"],
)
def fleetio_wait_for_import():
    @task
    def day_start(data_interval_start=None, data_interval_end=None) -> str:
        return data_window(data_interval_start, data_interval_end).start.isoformat()

    # [START howto_fleetio_wait_for_import]
    wait = FleetioImportSensor(
        task_id="wait_for_meter_import",
        import_type="MeterEntryImport",
        file_name="meters_*.csv",
        created_after=day_start(),
        partially_complete="succeed",
        deferrable=True,
        poke_interval=POLL_SECONDS,
        timeout=6 * 60 * 60,
    )
    # [END howto_fleetio_wait_for_import]

    @task
    def load_meter_readings(result: dict[str, Any]) -> dict[str, Any]:
        """Downstream work on the imported readings; the XCom is the provider's JobsResult."""
        summary = {
            "imports": len(result["jobs"]),
            "statuses": sorted({job["status"] for job in result["jobs"]}),
            "file_names": sorted(job["extra"].get("file_name", "") for job in result["jobs"]),
            "error_rows": sum(job["counters"].get("error_rows", 0) for job in result["jobs"]),
        }
        print("FLEETIO SUMMARY " + json.dumps(summary, sort_keys=True))
        return summary

    load_meter_readings(wait.output)


fleetio_wait_for_import()
