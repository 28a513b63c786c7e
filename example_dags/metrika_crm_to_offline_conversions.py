"""CRM → Yandex Metrika offline conversions, once a day.

extract_paid_deals: paid deals of the data interval from the CRM (connection ``crm_db``:
    SQLite in the demo; the SQL is plain and runs unchanged on PostgreSQL)
upload_offline_conversions: streams the CSV to Metrika (connection ``metrika_default``)
wait_for_processing: deferrable sensor; PROCESSED → success, LINKAGE_FAILURE → failure
summarize: logs rows extracted and Metrika's counters

Run it without a token against the bundled emulator: see the README's first command.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

try:  # Airflow 3
    from airflow.sdk import dag, task
except ImportError:  # Airflow 2.11
    from airflow.decorators import dag, task

from airflow.timetables.interval import CronDataIntervalTimetable
from data_window import data_window, file_safe

from airflow_provider_metrika.operators.upload import MetrikaUploadOfflineConversionsOperator
from airflow_provider_metrika.sensors.uploading import MetrikaUploadingSensor

CRM_CONN_ID = "crm_db"
COUNTER_ID = int(os.environ.get("METRIKA_COUNTER_ID", "12345"))
GOAL = "crm_deal_paid"
DATA_DIR = os.environ.get("METRIKA_EXAMPLE_DATA_DIR", "/tmp/metrika-example")
# Metrika needs up to ~2 h; against the emulator (fast clock) the demo polls every few seconds.
POLL_SECONDS = float(os.environ.get("METRIKA_EXAMPLE_POLL_SECONDS", "300"))

# [START howto_extract_sql]
PAID_DEALS_SQL = """
SELECT d.id, c.client_id, c.id AS user_id, d.amount, d.currency, d.paid_at
FROM deals d
JOIN customers c ON c.id = d.customer_id
WHERE d.status = 'paid' AND d.paid_at >= :start AND d.paid_at < :end
ORDER BY d.paid_at
"""
# [END howto_extract_sql]


def as_utc(value: Any) -> datetime:
    """CRM timestamps are UTC; SQLite hands back text, PostgreSQL a naive datetime."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


@dag(
    dag_id="metrika_crm_to_offline_conversions",
    # Each run loads the previous day's deals: data interval [midnight - 1 day, midnight) UTC.
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    tags=["metrika", "example"],
    default_args={"retries": 2},
)
def metrika_crm_to_offline_conversions():
    @task(multiple_outputs=True)
    def extract_paid_deals(data_interval_start=None, data_interval_end=None, run_id=None) -> dict[str, Any]:
        """Stream paid deals of the run's window into an offline-conversions CSV (the provider writes the header).

        A run triggered without a logical date (Airflow 3) has no data interval: it loads the previous day.
        """
        from sqlalchemy import text

        from airflow_provider_metrika.formats import get_file_format

        try:
            from airflow.sdk import BaseHook
        except ImportError:
            from airflow.hooks.base import BaseHook

        engine = BaseHook.get_connection(CRM_CONN_ID).get_hook().get_sqlalchemy_engine()
        window = data_window(data_interval_start, data_interval_end)
        path = Path(DATA_DIR) / f"offline_conversions_{window.label}_{file_safe(run_id)}.csv"  # one file per run
        path.parent.mkdir(parents=True, exist_ok=True)
        with engine.connect() as conn, path.open("wb") as out:
            result = conn.execution_options(stream_results=True).execute(text(PAID_DEALS_SQL), window.sql_params())
            rows = (
                {
                    "ClientId": row.client_id or "",
                    "UserId": str(row.user_id),
                    "Target": GOAL,
                    "DateTime": as_utc(row.paid_at),
                    "Price": row.amount,
                    "Currency": row.currency,
                }
                for row in result
            )
            count = get_file_format("offline_conversions").write_csv(rows, out)
        print(f"Extracted {count} paid deals of {window.start} to {window.end} to {path}")
        return {"path": str(path), "rows": count, "comment": f"crmdeals{window.label}"}

    extracted = extract_paid_deals()

    # [START howto_upload_offline_conversions]
    upload = MetrikaUploadOfflineConversionsOperator(
        task_id="upload_offline_conversions",
        src=extracted["path"],
        counter_id=COUNTER_ID,
        comment=extracted["comment"],  # names the day loaded, also in a run without a logical date
    )
    wait = MetrikaUploadingSensor(
        task_id="wait_for_processing",
        uploading_id=upload.output,
        deferrable=True,
        poke_interval=POLL_SECONDS,
    )
    # [END howto_upload_offline_conversions]

    @task
    def summarize(rows_extracted: int, result: dict[str, Any]) -> dict[str, Any]:
        # The sensor returns a JobsResult: "ids" and "jobs" are lists, also for one uploading.
        (job,) = result["jobs"]
        summary = {
            "rows_extracted": rows_extracted,
            "uploading_id": job["id"],
            "source_quantity": job["counters"].get("source_quantity"),
            "line_quantity": job["counters"].get("line_quantity"),
            "linked_quantity": job["counters"].get("linked_quantity"),
            "status": job["status"],
        }
        print("METRIKA SUMMARY " + json.dumps(summary, sort_keys=True))
        return summary

    summarize(extracted["rows"], wait.output)


metrika_crm_to_offline_conversions()
