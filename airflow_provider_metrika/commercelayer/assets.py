"""Airflow assets (datasets on Airflow 2) of Commerce Layer imports: ``commercelayer://<organization>/<type>``.

The organization is the host of the connection's base endpoint (``acme.commercelayer.io``), the path
the imported resource type (``skus``). An import task that declares such an outlet marks its asset
event with what Commerce Layer made of the inputs (import ids, inputs, processed, errors), so a
downstream DAG scheduled on the asset reads them from the triggering event
(https://airflow.apache.org/docs/apache-airflow/stable/authoring-and-scheduling/assets.html).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from airflow_provider_metrika.jobs.assets import AssetScheme, summaries_of, summed_counters
from airflow_provider_metrika.jobs.assets import annotate_outlets as annotate_job_outlets
from airflow_provider_metrika.jobs.record import JobState

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

#: ``commercelayer://<organization>/<resource type>``: a host name as the organization, one resource type as the path.
ASSETS = AssetScheme(
    name=SCHEME,
    scope=lambda host: host if _HOST.fullmatch(host) else None,
    kind=lambda path: bool(_RESOURCE_TYPE.fullmatch(path)),
    scope_error=f"needs the organization's host: {SCHEME}://<slug>.commercelayer.io/<type>",
    kind_error="needs one resource type as its path (skus, prices, ...)",
    labels=("organization", "resource_type"),
)
asset_uri = ASSETS.uri
sanitize_uri = ASSETS.sanitize
parse_asset_uri = ASSETS.parse
convert_asset_to_openlineage = ASSETS.to_openlineage


def create_asset(*, organization: str, resource_type: str, extra: dict[str, Any] | None = None) -> Any:
    """The asset (``Dataset`` on Airflow 2) of one organization and resource type."""
    return ASSETS.asset(organization, resource_type, extra)


def event_extra(jobs: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """What an asset event carries: import ids, states and the summed counters."""
    items = list(jobs)
    return {
        "import_ids": [str(job.get("id")) for job in items],
        "states": sorted({str(job.get("state")) for job in items}),
    } | summed_counters((job.get("counters") for job in items), _EXTRA_COUNTERS)


def annotate_outlets(task: Any, context: Any, result: Any) -> Any:
    """Put :func:`event_extra` on each declared ``commercelayer://`` outlet the task's imports match; ``result`` back.

    Only a finished wait counts (every import completed): an outlet of a task that did not wait gets its
    event from Airflow without counters, and a warning here.
    """
    jobs = summaries_of(result)
    finished = {JobState.SUCCESS.value, JobState.PARTIAL.value}
    return annotate_job_outlets(
        task,
        context,
        result,
        scheme=ASSETS,
        jobs=jobs,
        final=bool(jobs) and all(job.get("state") in finished for job in jobs),
        describe=event_extra,
        vendor="Commerce Layer",
        not_final="the imports are not finished (declare the outlet on a task that waits)",
        nothing="this task imported nothing of that resource type into that organization",
    )
