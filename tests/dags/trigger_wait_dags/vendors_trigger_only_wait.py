"""Commerce Layer and Fleetio waits that start and end in the triggerer (Airflow 3.3+): no worker runs a sensor.

Used by scripts/trigger_wait_test.py (not an example DAG). The Commerce Layer sensor's ids come from the
import task's XCom, which the triggerer renders before the trigger starts; the Fleetio sensor searches for
the import a person uploaded (a filter known when the DAG is parsed). Both read their organization or
account from the connection in the triggerer.
"""

from __future__ import annotations

import datetime

from airflow_provider_metrika.commercelayer.operators import CommerceLayerImportOperator
from airflow_provider_metrika.commercelayer.sensors import CommerceLayerImportSensor
from airflow_provider_metrika.fleetio.sensors import FleetioImportSensor
from airflow_provider_metrika.jobs.trigger_start import TRIGGER_RENDERS_TEMPLATES

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2
    from airflow import DAG

IN_TRIGGERER = {"start_from_trigger": TRIGGER_RENDERS_TEMPLATES, "end_from_trigger": TRIGGER_RENDERS_TEMPLATES}

with DAG(
    "vendors_trigger_only_wait",
    schedule=None,
    start_date=datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC),
    catchup=False,
) as dag:
    import_skus = CommerceLayerImportOperator(
        task_id="import_skus",
        resource_type="skus",
        rows=[{"code": f"TRIGGER-WAIT-{i}", "name": f"Item {i}"} for i in range(5)],
        wait_for_completion=False,  # the sensor below waits, in the triggerer
    )
    CommerceLayerImportSensor(
        task_id="wait_commercelayer", import_id=import_skus.output, poke_interval=1, **IN_TRIGGERER
    )
    FleetioImportSensor(
        task_id="wait_fleetio",
        import_type="MeterEntryImport",
        file_name="trigger_wait_*.csv",
        poke_interval=1,
        **IN_TRIGGERER,
    )
