"""ERP/PIM catalogue → Commerce Layer: SKUs, then their prices, through imports; waits deferred; a summary.

extract_catalog: the day's SKUs and prices from the ERP/PIM (a deterministic stand-in generated here):
    SKUs as a CSV file (an object store URL works the same), prices as rows
import_skus: one import per 10,000 SKUs (at most 10 open per organization), waited for in the triggerer
import_prices: the prices into one price list (``parent_resource_id``), once the SKUs exist
summarize: prints what Commerce Layer made of both (ids, inputs, processed, errors)

Run it without credentials against the bundled emulator: ``scripts/demo.sh --dag commercelayer_skus_prices``.
"""

from __future__ import annotations

import csv
import json
import os
import zlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

try:  # Airflow 3
    from airflow.sdk import dag, task
except ImportError:  # Airflow 2.11
    from airflow.decorators import dag, task

from airflow_provider_metrika.commercelayer.operators import CommerceLayerImportOperator

DATA_DIR = Path(os.environ.get("METRIKA_EXAMPLE_DATA_DIR", "/tmp/commercelayer-example"))
PRICE_LIST_ID = os.environ.get("COMMERCELAYER_PRICE_LIST_ID", "vLrWQSwJOm")
SKU_COUNT = int(os.environ.get("COMMERCELAYER_EXAMPLE_SKUS", "2500"))
POLL_SECONDS = float(os.environ.get("METRIKA_EXAMPLE_POLL_SECONDS", "30"))


def erp_catalogue(count: int) -> list[dict[str, Any]]:
    """Stand-in for the ERP/PIM export: SKU code, name, shipping category and a price in cents."""
    rows = []
    for n in range(count):
        code = f"TSHIRT{n:06d}"
        rows.append(
            {
                "code": code,
                "name": f"T-shirt #{n}",
                "shipping_category_id": "ZKcvSFMBrw",
                "amount_cents": 1500 + zlib.crc32(code.encode()) % 3000,
            }
        )
    return rows


@dag(
    dag_id="commercelayer_skus_prices",
    schedule="@daily",
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    tags=["commercelayer", "example"],
    default_args={"retries": 2},
)
def commercelayer_skus_prices():
    @task(multiple_outputs=True)
    def extract_catalog(run_id=None) -> dict[str, Any]:
        catalogue = erp_catalogue(SKU_COUNT)
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        path = DATA_DIR / "skus.csv"
        with path.open("w", newline="", encoding="utf-8") as out:
            writer = csv.DictWriter(out, fieldnames=["code", "name", "shipping_category_id"], extrasaction="ignore")
            writer.writeheader()
            writer.writerows(catalogue)
        prices = [{"sku_code": row["code"], "amount_cents": row["amount_cents"]} for row in catalogue]
        return {"skus_file": str(path), "prices": prices}

    catalog = extract_catalog()

    # [START howto_commercelayer_import]
    import_skus = CommerceLayerImportOperator(
        task_id="import_skus",
        resource_type="skus",
        src=catalog["skus_file"],
        format="csv",
        metadata={"source": "erp", "run_id": "{{ run_id }}"},
        deferrable=True,
        poll_interval=POLL_SECONDS,
    )
    # [END howto_commercelayer_import]

    import_prices = CommerceLayerImportOperator(
        task_id="import_prices",
        resource_type="prices",
        rows=catalog["prices"],
        parent_resource_id=PRICE_LIST_ID,
        deferrable=True,
        poll_interval=POLL_SECONDS,
    )
    import_skus >> import_prices

    @task
    def summarize(skus: dict[str, Any], prices: dict[str, Any]) -> dict[str, Any]:
        def totals(result: dict[str, Any]) -> dict[str, Any]:
            jobs = result["jobs"]
            return {
                "imports": len(jobs),
                "states": sorted({job["state"] for job in jobs}),
                **{
                    name: sum(job["counters"].get(name, 0) for job in jobs)
                    for name in ("inputs_size", "processed_count", "errors_count")
                },
            }

        summary = {"skus": totals(skus), "prices": totals(prices)}
        print("COMMERCELAYER SUMMARY " + json.dumps(summary, sort_keys=True))
        return summary

    summarize(import_skus.output, import_prices.output)


commercelayer_skus_prices()
