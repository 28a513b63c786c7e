"""Airflow assets for Fleetio imports, ``fleetio://<account>/<import type>``, and the sensor's lineage.

A DAG can be scheduled on "an import of this type completed in this account": the sensor marks its
declared ``fleetio://`` outlets with what Fleetio reported (import ids, statuses, file names, failed
rows), and on Airflow 3 an :class:`~airflow_provider_metrika.fleetio.watch.FleetioImportWatchTrigger`
in an ``AssetWatcher`` fires such an asset's events by itself. The scheme is registered in
``get_provider_info()`` with this sanitizer and OpenLineage converter
(https://airflow.apache.org/docs/apache-airflow/stable/authoring-and-scheduling/assets.html).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from airflow_provider_metrika.jobs.assets import AssetScheme, annotate_outlets, scope_and_kind, summaries_of
from airflow_provider_metrika.jobs.lineage import grouped, jobs_lineage, keep_result

SCHEME = "fleetio"
_ACCOUNT = re.compile(r"[a-z0-9][a-z0-9_.-]{0,99}")
#: Import types are CamelCase class names (``VehicleImport``, ``MeterEntryImport``).
_IMPORT_TYPE = re.compile(r"[A-Z][A-Za-z0-9]{0,99}")
RESULT_ATTRIBUTE = "_fleetio_final_result"

#: ``fleetio://<account>/<import type>``: an account name as the host, an import type as the path.
ASSETS = AssetScheme(
    name=SCHEME,
    scope=lambda host: host if _ACCOUNT.fullmatch(host) else None,
    kind=lambda path: bool(_IMPORT_TYPE.fullmatch(path)),
    scope_error=f"needs an account name as its host: {SCHEME}://<account>/<import type>",
    kind_error="needs an import type as its path, such as /VehicleImport",
    labels=("account", "import_type"),
)
asset_uri = ASSETS.uri
sanitize_uri = ASSETS.sanitize
parse_asset_uri = ASSETS.parse
convert_asset_to_openlineage = ASSETS.to_openlineage


def create_asset(*, account: str, import_type: str, extra: dict[str, Any] | None = None) -> Any:
    """The asset (``Dataset`` on Airflow 2) of one account's imports of one type."""
    return ASSETS.asset(account, import_type, extra)


def event_extra(jobs: list[Mapping[str, Any]]) -> dict[str, Any]:
    """What an asset event carries: import ids, statuses, file names and failed rows (never row contents)."""
    return {
        "import_ids": [str(job.get("id")) for job in jobs],
        "statuses": sorted({str(job.get("status")) for job in jobs}),
        "file_names": [str((job.get("extra") or {}).get("file_name")) for job in jobs],
        "error_rows": sum(int((job.get("counters") or {}).get("error_rows", 0)) for job in jobs),
    }


def completed(task: Any, context: Any, result: Any) -> Any:
    """A sensor's final success: kept for lineage, marked on its ``fleetio://`` outlets; returns ``result``."""
    return annotate_outlets(
        task,
        context,
        keep_result(task, RESULT_ATTRIBUTE, result),
        scheme=ASSETS,
        jobs=summaries_of(result),
        final=True,
        describe=event_extra,
        vendor="Fleetio",
        not_final="",
        nothing="this wait saw no {kind} import in account {scope}",
    )


def sensor_lineage(task: Any) -> Any:
    """``OperatorLineage`` of a finished sensor: the imports it saw as inputs, their ids as a run facet."""
    return jobs_lineage(
        grouped(summaries_of(getattr(task, RESULT_ATTRIBUTE, None)), scope_and_kind),
        scheme=ASSETS,
        describe=event_extra,
        ids_key="import_ids",
        jobs_are_inputs=True,
    )
