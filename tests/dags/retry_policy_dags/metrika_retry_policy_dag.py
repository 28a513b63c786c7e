"""Two uploads whose first try fails: a 4xx answer and an upload answer lost before Metrika stored it.

Used by tests/dags/test_retry_policy_dag.py (not an example DAG; Airflow 3.3+, where tasks take a
``retry_policy``). Both tasks allow three retries a second apart: what actually happens is the policy's call.
"""

from __future__ import annotations

import datetime
import os

from airflow_provider_metrika.operators.upload import MetrikaUploadOfflineConversionsOperator

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2
    from airflow import DAG

with DAG(
    "metrika_retry_policy",
    schedule=None,
    start_date=datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC),
    catchup=False,
    default_args={"retries": 3, "retry_delay": datetime.timedelta(seconds=1)},
):
    for task_id, counter_id in (("refused", 111), ("answer_lost", 12345)):
        MetrikaUploadOfflineConversionsOperator(
            task_id=task_id,
            src=os.environ.get("METRIKA_RETRY_TEST_CSV", "/nonexistent/conversions.csv"),
            counter_id=counter_id,
        )
