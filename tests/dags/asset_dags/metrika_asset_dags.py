"""A producer that uploads and waits with a metrika:// outlet, and a consumer scheduled on that asset.

Used by tests/dags/test_asset_dags.py (not an example DAG); the CSV path comes from the environment.
"""

from __future__ import annotations

import datetime
import os

from airflow_provider_metrika.assets import create_asset
from airflow_provider_metrika.operators.upload import MetrikaUploadOfflineConversionsOperator

try:
    from airflow.providers.standard.operators.empty import EmptyOperator
    from airflow.sdk import DAG
except ImportError:  # Airflow 2
    from airflow import DAG
    from airflow.operators.empty import EmptyOperator

CONVERSIONS = create_asset(counter_id=12345, kind="offline_conversions")
START = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)

with DAG("metrika_asset_producer", schedule=None, start_date=START, catchup=False):
    MetrikaUploadOfflineConversionsOperator(
        task_id="upload",
        src=os.environ.get("METRIKA_ASSET_TEST_CSV", "/nonexistent/conversions.csv"),
        wait_for_completion=True,
        poll_interval=1,
        outlets=[CONVERSIONS],
    )

with DAG("metrika_asset_consumer", schedule=[CONVERSIONS], start_date=START, catchup=False):
    EmptyOperator(task_id="reconcile")
