"""Airflow assets (datasets on Airflow 2) of Commerce Layer imports: ``commercelayer://<organization>/<type>``.

The organization is the host of the connection's base endpoint (``acme.commercelayer.io``), the path
the imported resource type (``skus``). An import task that declares such an outlet marks its asset
event with what Commerce Layer made of the inputs (import ids, inputs, processed, errors), so a
downstream DAG scheduled on the asset reads them from the triggering event
(https://airflow.apache.org/docs/apache-airflow/stable/authoring-and-scheduling/assets.html).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import SplitResult, urlsplit

from airflow_provider_metrika.jobs.record import JobState

log = logging.getLogger(__name__)

SCHEME = "commercelayer"
_HOST = re.compile(r"[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:\d{1,5})?")
_RESOURCE_TYPE = re.compile(r"[a-z][a-z_]{0,63}")
#: Counters summed over the imports of one event, under the names the event extra uses.
_EXTRA_COUNTERS = {
    "inputs_size": "inputs",
    "processed_count": "processed",
    "errors_count": "errors",
    "warnings_count": "warnings",
}


def asset_uri(organization: str, resource_type: str) -> str:
    """``commercelayer://<organization>/<resource type>``, checked."""
    uri = f"{SCHEME}://{organization}/{resource_type}"
    return sanitize_uri(urlsplit(uri)).geturl()


def create_asset(*, organization: str, resource_type: str, extra: dict[str, Any] | None = None) -> Any:
    """The asset (``Dataset`` on Airflow 2) of one organization and resource type."""
    from airflow_provider_metrika.version_compat import Asset

    return Asset(uri=asset_uri(organization, resource_type), extra=extra or {})


def sanitize_uri(uri: SplitResult) -> SplitResult:
    """Airflow's URI check for the scheme: a host name as the organization, one resource type as the path."""
    host = uri.netloc.lower()
    resource_type = uri.path.strip("/")
    if not _HOST.fullmatch(host):
        raise ValueError(
            f"{SCHEME}:// asset URI needs the organization's host: commercelayer://<slug>.commercelayer.io/<type>"
        )
    if not _RESOURCE_TYPE.fullmatch(resource_type):
        raise ValueError(f"{SCHEME}:// asset URI needs one resource type as its path (skus, prices, ...)")
    if uri.query or uri.fragment:
        raise ValueError(f"{SCHEME}:// asset URI takes no query or fragment")
    return uri._replace(netloc=host, path=f"/{resource_type}")


def parse_asset_uri(uri: str | None) -> tuple[str, str] | None:
    """``(organization, resource type)`` of a valid ``commercelayer://`` URI; None for any other URI."""
    if not uri or not uri.startswith(f"{SCHEME}://"):
        return None
    try:
        parts = sanitize_uri(urlsplit(uri))
    except ValueError:
        return None
    return parts.netloc, parts.path.strip("/")


def convert_asset_to_openlineage(asset: Any, lineage_context: Any = None) -> Any:
    """The asset as an OpenLineage dataset: namespace ``commercelayer://<organization>``, name the resource type."""
    from airflow.providers.common.compat.openlineage.facet import Dataset

    parsed = parse_asset_uri(asset.uri)
    if parsed is None:
        raise ValueError(f"not a {SCHEME}:// asset: {asset.uri!r}")
    return Dataset(namespace=f"{SCHEME}://{parsed[0]}", name=parsed[1])


def event_extra(jobs: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """What an asset event carries: import ids, states and the summed counters."""
    items = list(jobs)
    extra: dict[str, Any] = {
        "import_ids": [str(job.get("id")) for job in items],
        "states": sorted({str(job.get("state")) for job in items}),
    }
    for counter, name in _EXTRA_COUNTERS.items():
        values = [
            job["counters"][counter]
            for job in items
            if isinstance(job.get("counters"), Mapping) and isinstance(job["counters"].get(counter), int)
        ]
        if values:
            extra[name] = sum(values)
    return extra


def annotate_outlets(task: Any, context: Any, result: Any) -> Any:
    """Put :func:`event_extra` on each declared ``commercelayer://`` outlet the task's imports match; ``result`` back.

    Only a finished wait counts (every import completed): an outlet of a task that did not wait gets its
    event from Airflow without counters, and a warning here.
    """
    outlets = [o for o in (getattr(task, "outlets", None) or []) if parse_asset_uri(getattr(o, "uri", None))]
    events = context.get("outlet_events") if hasattr(context, "get") else None
    if not outlets or events is None or not isinstance(result, Mapping):
        return result
    jobs = [job for job in result.get("jobs") or [] if isinstance(job, Mapping)]
    finished = {JobState.SUCCESS.value, JobState.PARTIAL.value}
    final = bool(jobs) and all(job.get("state") in finished for job in jobs)
    for outlet in outlets:
        organization, resource_type = parse_asset_uri(outlet.uri)  # type: ignore[misc]
        mine = [job for job in jobs if job.get("scope") == organization and job.get("kind") == resource_type]
        if not final or not mine:
            log.warning(
                "Asset %s: %s; its event carries no Commerce Layer counters",
                outlet.uri,
                "the imports are not finished (declare the outlet on a task that waits)"
                if mine
                else "this task imported nothing of that resource type into that organization",
            )
            continue
        events[outlet].extra.update(event_extra(mine) | {"organization": organization, "resource_type": resource_type})
    return result
