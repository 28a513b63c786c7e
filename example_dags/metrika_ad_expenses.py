"""Ad platform costs → Yandex Metrika expenses, replaced day by day (a rerun replaces, it never adds).

extract_costs: the interval's costs per campaign from the ad platforms' exports (generated in the
    demo), without Yandex Direct rows: Metrika already imports Direct costs, uploading them doubles them
replace_expenses: deletes the day's expenses of this provider, waits (deferred) until Metrika has
    processed the deletion, uploads the day's rows and waits until they are processed
summarize: prints what Metrika holds for the day

Run it without a token against the bundled emulator: see the README.
"""

from __future__ import annotations

import json
import os
import zlib
from datetime import UTC, datetime
from typing import Any

try:  # Airflow 3
    from airflow.sdk import dag, task
except ImportError:  # Airflow 2.11
    from airflow.decorators import dag, task

from airflow.timetables.interval import CronDataIntervalTimetable
from data_window import data_window

from airflow_provider_metrika.operators.expenses import MetrikaReplaceExpensesOperator

COUNTER_ID = int(os.environ.get("METRIKA_COUNTER_ID", "12345"))
PROVIDER = "airflow-example"
CAMPAIGNS = [("google", "cpc", "brand"), ("vk", "cpm", "retargeting"), ("telegram", "cpm", "channel"),
             ("yandex", "cpc", "search")]  # fmt: skip


def platform_costs(day: str) -> list[dict[str, Any]]:
    """Stand-in for the ad platforms' cost exports: deterministic amounts per campaign and day."""
    rows = []
    for source, medium, campaign in CAMPAIGNS:
        seed = zlib.crc32(f"{day}:{campaign}".encode())
        rows.append(
            {
                "date": day,
                "utm_source": source,
                "utm_medium": medium,
                "utm_campaign": campaign,
                "expenses": f"{seed % 100000 / 100:.2f}",
                "currency": "RUB",
                "clicks": seed % 500,
            }
        )
    return rows


@dag(
    dag_id="metrika_ad_expenses",
    schedule=CronDataIntervalTimetable("0 3 * * *", timezone="UTC"),
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    tags=["metrika", "example"],
    default_args={"retries": 2},
)
def metrika_ad_expenses():
    @task(multiple_outputs=True)
    def extract_costs(data_interval_start=None, data_interval_end=None) -> dict[str, Any]:
        """The day's costs; a run triggered without a logical date (Airflow 3) has no interval: the previous day."""
        from airflow_provider_metrika.formats.expenses import is_yandex_direct

        day = data_window(data_interval_start, data_interval_end).start.astimezone(UTC).strftime("%Y-%m-%d")
        return {"day": day, "rows": [row for row in platform_costs(day) if not is_yandex_direct(row["utm_source"])]}

    costs = extract_costs()

    # [START howto_replace_expenses]
    replace = MetrikaReplaceExpensesOperator(
        task_id="replace_expenses",
        rows=costs["rows"],
        date_from=costs["day"],
        provider=PROVIDER,
        counter_id=COUNTER_ID,
        comment="adcosts",
        deferrable=True,
        poll_interval=1,
    )
    # [END howto_replace_expenses]

    @task
    def summarize(result: dict[str, Any]) -> dict[str, Any]:
        job = result["jobs"][0]  # a JobsResult: "ids" and "jobs" are lists, also for one uploading
        summary = {
            "uploading_id": job["id"],
            "status": job["status"],
            "source_quantity": job["counters"].get("source_quantity"),
            "kind": job["kind"],
        }
        print("METRIKA SUMMARY " + json.dumps(summary, sort_keys=True))
        return summary

    summarize(replace.output)


metrika_ad_expenses()
