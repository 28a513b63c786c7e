"""Tasks whose first try fails the ways a retry policy tells apart, for Metrika and Commerce Layer.

Used by tests/dags/test_retry_policy_dag.py (not an example DAG; Airflow 3.3+, where tasks take a
``retry_policy``). Every task allows three retries a second apart: what actually happens is the policy's call.

- Metrika: an upload refused with a 4xx, and an upload whose answer is lost before Metrika stored it.
- Commerce Layer: an import refused with a 422, then (in that order: both meet a fault of the same endpoint) an
  import refused with a 429 whose ``X-Ratelimit-Interval`` says when the window has passed.
"""

from __future__ import annotations

import datetime
import os

from airflow_provider_metrika.commercelayer.operators import CommerceLayerImportOperator
from airflow_provider_metrika.operators.upload import MetrikaUploadOfflineConversionsOperator

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2
    from airflow import DAG

with DAG(
    "retry_policy",
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
    skus = [{"code": "RETRY-1", "name": "Item 1"}]
    refused = CommerceLayerImportOperator(
        task_id="commercelayer_refused", resource_type="skus", rows=skus, wait_for_completion=False
    )
    rate_limited = CommerceLayerImportOperator(
        task_id="commercelayer_rate_limited",
        resource_type="skus",
        rows=skus,
        wait_for_completion=False,
        trigger_rule="all_done",  # runs after the refused import, whatever became of it
    )
    refused >> rate_limited
