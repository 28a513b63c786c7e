"""Airflow 3.x: run a DAG whenever a meter readings import completes in Fleetio (an AssetWatcher).

The asset ``fleetio://fleetio_default/MeterEntryImport`` is watched by a FleetioImportWatchTrigger in
the triggerer: every ``MeterEntryImport`` that reaches ``complete`` in the account becomes an asset
event, and each event schedules a run of this DAG. Watches on one connection share one List Imports
poll; the watermark is kept in the asset's state store (Airflow 3.3). On Airflow 2.11, which has no
event-driven scheduling, this file defines no DAG.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime

from airflow_provider_metrika.fleetio.watch import BaseEventTrigger

if BaseEventTrigger is not None:
    from airflow.sdk import Asset, AssetWatcher, dag, task

    from airflow_provider_metrika.fleetio.watch import FleetioImportWatchTrigger

    # [START howto_fleetio_asset_watcher]
    METER_IMPORTS = Asset(
        name="fleetio_meter_imports",
        uri="fleetio://fleetio_default/MeterEntryImport",
        watchers=[
            AssetWatcher(
                name="fleetio_meter_imports_completed",
                trigger=FleetioImportWatchTrigger(
                    conn_id="fleetio_default",
                    import_type="MeterEntryImport",
                    poll_interval=float(os.environ.get("METRIKA_EXAMPLE_POLL_SECONDS", "60")),
                ),
            )
        ],
    )

    @dag(
        dag_id="fleetio_on_meter_import",
        schedule=[METER_IMPORTS],
        start_date=datetime(2026, 1, 1, tzinfo=UTC),
        catchup=False,
        tags=["fleetio", "example"],
    )
    def fleetio_on_meter_import():
        @task
        def load_completed_import(triggering_asset_events=None) -> dict:
            """Each triggering event carries the import (id, type, status, file name, times)."""
            events = [e for group in (triggering_asset_events or {}).values() for e in group]
            imports = [e.extra.get("payload", e.extra) for e in events]
            summary = {"events": len(events), "file_names": sorted(str(i.get("file_name")) for i in imports)}
            print("FLEETIO SUMMARY " + json.dumps(summary, sort_keys=True))
            return summary

        load_completed_import()

    # [END howto_fleetio_asset_watcher]

    fleetio_on_meter_import()
