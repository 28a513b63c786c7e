"""An extract task that returns nothing (None through XCom) feeding two upload operators: both must skip."""

from datetime import datetime

from airflow_provider_metrika.operators.cdp import MetrikaUploadOrdersOperator
from airflow_provider_metrika.operators.upload import MetrikaUploadOfflineConversionsOperator

try:
    from airflow.sdk import DAG, task
except ImportError:
    from airflow import DAG
    from airflow.decorators import task

with DAG("none_input", schedule=None, start_date=datetime(2026, 1, 1), catchup=False):

    @task
    def extract():
        return None

    rows = extract()
    MetrikaUploadOfflineConversionsOperator(task_id="upload_conversions", rows=rows, counter_id=12345)
    MetrikaUploadOrdersOperator(task_id="upload_orders", rows=rows, counter_id=12345, merge_mode="SAVE")
