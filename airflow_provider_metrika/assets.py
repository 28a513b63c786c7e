"""Airflow assets (datasets on Airflow 2) for Metrika uploads: ``metrika://<counter id>/<kind>``.

An upload task that declares such an outlet marks its asset event with what Metrika made
of the data (uploading ids, rows sent, accepted, linked, the linked ratio), so a downstream
"report/reconcile" DAG scheduled on the asset can read them from the triggering event.
The scheme is registered in ``get_provider_info()`` (``asset-uris``/``dataset-uris``) with a
sanitizer and an OpenLineage converter, as the community providers do for their URIs
(https://airflow.apache.org/docs/apache-airflow/stable/authoring-and-scheduling/assets.html).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from airflow_provider_metrika.jobs.assets import AssetScheme, sanitized, summed_counters
from airflow_provider_metrika.jobs.assets import annotate_outlets as annotate_job_outlets
from airflow_provider_metrika.uploads import UPLOAD_KINDS, VENDOR, UploadState

__all__ = [
    "ASSETS",
    "SCHEME",
    "annotate_outlets",
    "asset_uri",
    "convert_asset_to_openlineage",
    "create_asset",
    "event_extra",
    "parse_asset_uri",
    "sanitize_uri",
    "sanitized",
    "uploadings_of",
]

SCHEME = "metrika"
#: Counters summed over the uploadings of one event, under the names the event extra uses.
_EXTRA_COUNTERS = {
    "source_quantity": "rows_sent",
    "line_quantity": "rows_accepted",
    "linked_quantity": "rows_linked",
    "elements_count": "elements",
}


def _counter_id(host: str) -> str | None:
    return str(int(host)) if host.isdigit() and int(host) >= 1 else None


#: ``metrika://<counter id>/<kind>``: a positive counter id as the host, a known upload kind as the path.
ASSETS = AssetScheme(
    name=SCHEME,
    scope=_counter_id,
    kind=UPLOAD_KINDS.__contains__,
    scope_error=f"needs a counter id as its host: {SCHEME}://<counter id>/<kind>",
    kind_error=f"names no upload kind: expected one of {', '.join(sorted(UPLOAD_KINDS))}",
    labels=("counter_id", "kind"),
    scope_type=int,
)
asset_uri = ASSETS.uri
sanitize_uri = ASSETS.sanitize
parse_asset_uri = ASSETS.parse
convert_asset_to_openlineage = ASSETS.to_openlineage


def create_asset(*, counter_id: int | str, kind: str, extra: dict[str, Any] | None = None) -> Any:
    """The asset (``Dataset`` on Airflow 2) of one counter and upload kind."""
    return ASSETS.asset(counter_id, kind, extra)


def event_extra(uploadings: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """What an asset event carries: uploading ids, status, summed counters and the linked ratio."""
    items = list(uploadings)
    extra: dict[str, Any] = {
        "uploading_ids": [str(u.get("uploading_id")) for u in items],
        "statuses": sorted({str(u.get("status")) for u in items}),
    }
    extra.update(summed_counters(items, _EXTRA_COUNTERS))
    if extra.get("rows_accepted"):
        extra["linked_ratio"] = round(extra.get("rows_linked", 0) / extra["rows_accepted"], 4)
    return extra


def uploadings_of(result: Any) -> list[Mapping[str, Any]]:
    """The Metrika uploadings a task returned, each as one flat dict (``uploading_id``, ``counter_id``, ``kind``,
    ``status``, ``state`` and its counters): from a JobsResult, or from the return shapes of earlier versions."""
    if isinstance(result, Mapping) and isinstance(result.get("jobs"), list):
        return [_flat(job) for job in result["jobs"] if isinstance(job, Mapping) and job.get("vendor") == VENDOR]
    if isinstance(result, Mapping):
        inner = result.get("uploadings")
        return [u for u in inner if isinstance(u, Mapping)] if isinstance(inner, list) else [result]
    if isinstance(result, list):
        return [u for u in result if isinstance(u, Mapping)]
    return []


def _flat(job: Mapping[str, Any]) -> dict[str, Any]:
    scope = str(job.get("scope", ""))
    counters = job.get("counters") if isinstance(job.get("counters"), Mapping) else {}
    return {
        **counters,
        "uploading_id": job.get("id"),
        "counter_id": int(scope) if scope.isdigit() else scope,
        "kind": job.get("kind"),
        "status": job.get("status"),
        "state": job.get("state"),
    }


def annotate_outlets(task: Any, context: Any, result: Any) -> Any:
    """Put :func:`event_extra` on every declared ``metrika://`` outlet this task's uploadings match; return ``result``.

    Only a final success counts (every uploading processed, or a CDP upload ``PASSED``): an outlet
    of a task that did not wait gets its event from Airflow without counters, and a warning here.
    """
    uploadings = uploadings_of(result)
    return annotate_job_outlets(
        task,
        context,
        result,
        scheme=ASSETS,
        jobs=uploadings,
        final=bool(uploadings) and all(u.get("state") == UploadState.SUCCESS.value for u in uploadings),
        describe=event_extra,
        vendor="Metrika",
        not_final="the uploadings are not processed yet (declare the outlet on the task that waits)",
        nothing="this task uploaded nothing to that counter and kind",
        key=lambda u: (u.get("counter_id"), u.get("kind")),
    )
