"""CRM → Yandex Metrika CRM data (CDP): contacts, then orders, once a day.

extract_contacts: customers as a CSV with the CRM's own column names, emails and
    phones normalised the way Metrika wants them; uploaded with a columns_mapping
extract_orders: deals of the data interval as JSON rows through XCom, with the CRM's own statuses
ensure_schema: maps those CRM statuses to Metrika's types (only what the counter lacks)
upload_contacts, ensure_schema → upload_orders: orders after contacts and the mapping, as Metrika requires
summarize: logs what Metrika accepted

Run it without a token against the bundled emulator: see the README.
"""

from __future__ import annotations

import csv
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
from data_window import DataWindow, data_window, file_safe

from airflow_provider_metrika.operators.cdp import MetrikaUploadContactsOperator, MetrikaUploadOrdersOperator
from airflow_provider_metrika.operators.cdp_schema import MetrikaCdpEnsureSchemaOperator

CRM_CONN_ID = "crm_db"
COUNTER_ID = int(os.environ.get("METRIKA_COUNTER_ID", "12345"))
DATA_DIR = os.environ.get("METRIKA_EXAMPLE_DATA_DIR", "/tmp/metrika-example")

CONTACTS_SQL = """
SELECT c.id, c.name, c.email, c.phone, c.client_id, c.created_at
FROM customers c
WHERE c.created_at < :end
ORDER BY c.id
"""
ORDERS_SQL = """
SELECT d.id, d.customer_id, d.status, d.amount, d.currency, d.created_at, d.paid_at
FROM deals d
WHERE d.created_at >= :start AND d.created_at < :end
ORDER BY d.id
"""
# The CRM's deal statuses and what each means to Metrika; orders carry the CRM's own ids.
CRM_ORDER_STATUSES = {"paid": "PAID", "new": "IN_PROGRESS", "cancelled": "CANCELLED"}
# The CRM's column names, mapped to Metrika attributes (sent as columns_mapping).
CONTACT_COLUMNS = {
    "uniq_id": "ID",
    "name": "Name",
    "emails": "Email",
    "phones": "Phone",
    "client_ids": "ClientID",
    "create_date_time": "Created",
}


def crm_rows(sql: str, window: DataWindow):
    """Stream rows of a plain-SQL query from the CRM connection (SQLite in the demo, PostgreSQL in real life)."""
    from sqlalchemy import text

    try:
        from airflow.sdk import BaseHook
    except ImportError:
        from airflow.hooks.base import BaseHook

    engine = BaseHook.get_connection(CRM_CONN_ID).get_hook().get_sqlalchemy_engine()
    with engine.connect() as conn:
        yield from conn.execution_options(stream_results=True).execute(text(sql), window.sql_params())


def counter_time(value: Any, tz_name: str) -> str:
    """CRM times are UTC; Metrika wants CDP times in the counter's timezone, ``yyyy-MM-dd HH:mm:ss``."""
    import pendulum

    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return pendulum.instance(moment).in_timezone(tz_name).strftime("%Y-%m-%d %H:%M:%S")


def counter_timezone() -> str:
    from airflow_provider_metrika.hooks.metrika import MetrikaHook

    return MetrikaHook().get_counter(COUNTER_ID).get("time_zone_name") or "Europe/Moscow"


@dag(
    dag_id="metrika_crm_to_cdp",
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    tags=["metrika", "example"],
    default_args={"retries": 2},
)
def metrika_crm_to_cdp():
    @task
    def extract_contacts(data_interval_start=None, data_interval_end=None, run_id=None) -> str:
        """Customers → CSV with the CRM's column names; emails/phones normalised as Metrika requires.

        A run triggered without a logical date (Airflow 3) has no data interval: it loads the previous day.
        """
        from airflow_provider_metrika.formats.normalize import normalize_email, normalize_phone

        window = data_window(data_interval_start, data_interval_end)
        tz_name = counter_timezone()
        path = Path(DATA_DIR) / f"contacts_{window.label}_{file_safe(run_id)}.csv"  # one file per run
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out)
            writer.writerow(CONTACT_COLUMNS.values())
            for row in crm_rows(CONTACTS_SQL, window):
                writer.writerow(
                    [
                        row.id,
                        row.name or "",
                        normalize_email(row.email) if row.email else "",
                        normalize_phone(row.phone) if row.phone else "",
                        row.client_id or "",
                        counter_time(row.created_at, tz_name),
                    ]
                )
        return str(path)

    @task
    def extract_orders(data_interval_start=None, data_interval_end=None) -> list[dict[str, Any]]:
        """Deals of the interval as Metrika order rows (small enough for XCom)."""
        tz_name = counter_timezone()
        return [
            {
                "id": str(row.id),
                "client_uniq_id": str(row.customer_id),
                "client_type": "CONTACT",
                "create_date_time": counter_time(row.created_at, tz_name),
                "order_status": row.status,
                "revenue": str(row.amount),
                "currency": row.currency,
                **({"finish_date_time": counter_time(row.paid_at, tz_name)} if row.paid_at else {}),
            }
            for row in crm_rows(ORDERS_SQL, data_window(data_interval_start, data_interval_end))
        ]

    # [START howto_upload_cdp]
    contacts = MetrikaUploadContactsOperator(
        task_id="upload_contacts",
        src=extract_contacts(),
        counter_id=COUNTER_ID,
        merge_mode="UPDATE",
        columns_mapping=CONTACT_COLUMNS,
    )
    schema = MetrikaCdpEnsureSchemaOperator(
        task_id="ensure_schema", counter_id=COUNTER_ID, order_statuses=CRM_ORDER_STATUSES
    )
    orders = MetrikaUploadOrdersOperator(
        task_id="upload_orders",
        rows=extract_orders(),
        counter_id=COUNTER_ID,
        merge_mode="SAVE",
        order_statuses=CRM_ORDER_STATUSES,
    )
    [contacts, schema] >> orders
    # [END howto_upload_cdp]

    @task
    def summarize(contacts_result: dict[str, Any], orders_result: dict[str, Any]) -> dict[str, Any]:
        # Each operator returns a JobsResult: "ids" and "jobs" are lists, also for one uploading.
        summary = {
            name: {
                "uploading_id": job["id"],
                "status": job["status"],
                "elements_count": job["counters"].get("elements_count"),
            }
            for name, result in (("contacts", contacts_result), ("orders", orders_result))
            for job in result["jobs"]
        }
        print("METRIKA SUMMARY " + json.dumps(summary, sort_keys=True))
        return summary

    summarize(contacts.output, orders.output)


metrika_crm_to_cdp()
