"""Airflow assets for Fleetio imports, ``fleetio://<account>/<import type>``, and the sensor's lineage.

A DAG can be scheduled on "an import of this type completed in this account": the sensor marks its
declared ``fleetio://`` outlets with what Fleetio reported (import ids, statuses, file names, failed
rows), and on Airflow 3 an :class:`~airflow_provider_metrika.fleetio.watch.FleetioImportWatchTrigger`
in an ``AssetWatcher`` fires such an asset's events by itself. The scheme is registered in
``get_provider_info()`` with this sanitizer and OpenLineage converter
(https://airflow.apache.org/docs/apache-airflow/stable/authoring-and-scheduling/assets.html).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import SplitResult, urlsplit

from airflow_provider_metrika.assets import sanitized

log = logging.getLogger(__name__)

SCHEME = "fleetio"
_ACCOUNT = re.compile(r"[a-z0-9][a-z0-9_.-]{0,99}")
#: Import types are CamelCase class names (``VehicleImport``, ``MeterEntryImport``).
_IMPORT_TYPE = re.compile(r"[A-Z][A-Za-z0-9]{0,99}")
RESULT_ATTRIBUTE = "_fleetio_final_result"


def asset_uri(account: str, import_type: str) -> str:
    """``fleetio://<account>/<import type>``, checked."""
    uri = f"{SCHEME}://{account}/{import_type}"
    sanitize_uri(urlsplit(uri))
    return uri


def create_asset(*, account: str, import_type: str, extra: dict[str, Any] | None = None) -> Any:
    """The asset (``Dataset`` on Airflow 2) of one account's imports of one type."""
    from airflow_provider_metrika.version_compat import Asset

    return Asset(uri=asset_uri(account, import_type), extra=extra or {})


def sanitize_uri(uri: SplitResult) -> SplitResult:
    """Airflow's URI check for the scheme: an account name as the host, an import type as the path."""
    account = uri.netloc.lower()
    import_type = uri.path.strip("/")
    if not _ACCOUNT.fullmatch(account):
        raise ValueError(f"{SCHEME}:// asset URI needs an account name as its host: fleetio://<account>/<import type>")
    if not _IMPORT_TYPE.fullmatch(import_type):
        raise ValueError(f"{SCHEME}:// asset URI needs an import type as its path, such as /VehicleImport")
    if uri.query or uri.fragment:
        raise ValueError(f"{SCHEME}:// asset URI takes no query or fragment")
    return uri._replace(netloc=account, path=f"/{import_type}")


def parse_asset_uri(uri: str | None) -> tuple[str, str] | None:
    """``(account, import type)`` of a valid ``fleetio://`` URI; None for any other URI."""
    parts = sanitized(uri, SCHEME, sanitize_uri)
    return None if parts is None else (parts.netloc, parts.path.strip("/"))


def convert_asset_to_openlineage(asset: Any, lineage_context: Any = None) -> Any:
    """The asset as an OpenLineage dataset: namespace ``fleetio://<account>``, name the import type."""
    from airflow.providers.common.compat.openlineage.facet import Dataset

    parsed = parse_asset_uri(asset.uri)
    if parsed is None:
        raise ValueError(f"not a {SCHEME}:// asset: {asset.uri!r}")
    return Dataset(namespace=f"{SCHEME}://{parsed[0]}", name=parsed[1])


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
    setattr(task, RESULT_ATTRIBUTE, result)
    outlets = [o for o in (getattr(task, "outlets", None) or []) if parse_asset_uri(getattr(o, "uri", None))]
    events = context.get("outlet_events") if hasattr(context, "get") else None
    if not outlets or events is None or not isinstance(result, Mapping):
        return result
    jobs = [job for job in result.get("jobs") or [] if isinstance(job, Mapping)]
    for outlet in outlets:
        account, import_type = parse_asset_uri(outlet.uri)  # type: ignore[misc]
        mine = [j for j in jobs if j.get("scope") == account and j.get("kind") == import_type]
        if not mine:
            log.warning("Asset %s: this wait saw no %s import in account %s", outlet.uri, import_type, account)
            continue
        events[outlet].extra.update(event_extra(mine) | {"account": account, "import_type": import_type})
    return result


def sensor_lineage(task: Any) -> Any:
    """``OperatorLineage`` of a finished sensor: the imports it saw as inputs, their ids as a run facet."""
    from airflow.providers.common.compat.openlineage.facet import Dataset, ExternalQueryRunFacet
    from airflow.providers.openlineage.extractors import OperatorLineage

    result = getattr(task, RESULT_ATTRIBUTE, None)
    jobs = [j for j in (result or {}).get("jobs", []) if isinstance(j, Mapping)] if isinstance(result, Mapping) else []
    groups: dict[tuple[str, str], list[str]] = {}
    for job in jobs:
        groups.setdefault((str(job.get("scope")), str(job.get("kind"))), []).append(str(job.get("id")))
    inputs = [Dataset(namespace=f"{SCHEME}://{account}", name=kind) for account, kind in groups]
    run_facets = {}
    if groups:
        ids = [i for group in groups.values() for i in group]
        account = next(iter(groups))[0]
        run_facets["externalQuery"] = ExternalQueryRunFacet(
            externalQueryId=",".join(ids), source=f"{SCHEME}://{account}"
        )
    return OperatorLineage(inputs=inputs, outputs=[], run_facets=run_facets)
