"""An upload whose wait starts and ends in the triggerer (Airflow 3.3+): no worker runs the sensor.

Used by scripts/trigger_wait_test.py (not an example DAG); the CSV path comes from the environment. The
sensor's ids come from the upload's XCom, which the triggerer renders before the trigger starts.
"""

from __future__ import annotations

import datetime
import os

from airflow_provider_metrika.jobs.trigger_start import TRIGGER_RENDERS_TEMPLATES
from airflow_provider_metrika.operators.upload import MetrikaUploadOfflineConversionsOperator
from airflow_provider_metrika.sensors.uploading import MetrikaUploadingSensor

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2
    from airflow import DAG

with DAG(
    "metrika_trigger_only_wait",
    schedule=None,
    start_date=datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC),
    catchup=False,
) as dag:
    upload = MetrikaUploadOfflineConversionsOperator(
        task_id="upload",
        src=os.environ.get("METRIKA_TRIGGER_WAIT_CSV", "/nonexistent/conversions.csv"),
        counter_id=12345,
    )
    MetrikaUploadingSensor(
        task_id="wait",
        uploading_id=upload.output,
        kind="offline_conversions",  # known when the DAG is parsed: no worker reads the XCom first
        counter_id=12345,
        poke_interval=1,
        start_from_trigger=TRIGGER_RENDERS_TEMPLATES,
        end_from_trigger=TRIGGER_RENDERS_TEMPLATES,
    )
