"""Airflow assets (datasets on Airflow 2) for Metrika uploads: ``metrika://<counter id>/<kind>``.

An upload task that declares such an outlet marks its asset event with what Metrika made
of the data (uploading ids, rows sent, accepted, linked, the linked ratio), so a downstream
"report/reconcile" DAG scheduled on the asset can read them from the triggering event.
The scheme is registered in ``get_provider_info()`` (``asset-uris``/``dataset-uris``) with a
sanitizer and an OpenLineage converter, as the community providers do for their URIs
(https://airflow.apache.org/docs/apache-airflow/stable/authoring-and-scheduling/assets.html).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import SplitResult, urlsplit

from airflow_provider_metrika.uploads import UPLOAD_KINDS, VENDOR, UploadState

log = logging.getLogger(__name__)

SCHEME = "metrika"
#: Counters summed over the uploadings of one event, under the names the event extra uses.
_EXTRA_COUNTERS = {
    "source_quantity": "rows_sent",
    "line_quantity": "rows_accepted",
    "linked_quantity": "rows_linked",
    "elements_count": "elements",
}


def asset_uri(counter_id: int | str, kind: str) -> str:
    """``metrika://<counter id>/<kind>``, checked."""
    uri = f"{SCHEME}://{counter_id}/{kind}"
    sanitize_uri(urlsplit(uri))
    return uri


def create_asset(*, counter_id: int | str, kind: str, extra: dict[str, Any] | None = None) -> Any:
    """The asset (``Dataset`` on Airflow 2) of one counter and upload kind."""
    from airflow_provider_metrika.version_compat import Asset

    return Asset(uri=asset_uri(counter_id, kind), extra=extra or {})


def sanitize_uri(uri: SplitResult) -> SplitResult:
    """Airflow's URI check for the scheme: a positive counter id as the host, a known upload kind as the path."""
    host = uri.netloc
    kind = uri.path.strip("/")
    if not host.isdigit() or int(host) < 1:
        raise ValueError(f"{SCHEME}:// asset URI needs a counter id as its host: metrika://<counter id>/<kind>")
    if kind not in UPLOAD_KINDS:
        raise ValueError(
            f"{SCHEME}:// asset URI names no upload kind: expected one of {', '.join(sorted(UPLOAD_KINDS))}"
        )
    if uri.query or uri.fragment:
        raise ValueError(f"{SCHEME}:// asset URI takes no query or fragment")
    return uri._replace(netloc=str(int(host)), path=f"/{kind}")


def sanitized(uri: str | None, scheme: str, sanitize: Callable[[SplitResult], SplitResult]) -> SplitResult | None:
    """``uri`` checked by its scheme's ``sanitize``; None for another scheme or an invalid URI (every vendor's)."""
    if not uri or not uri.startswith(f"{scheme}://"):
        return None
    try:
        return sanitize(urlsplit(uri))
    except ValueError:
        return None


def parse_asset_uri(uri: str | None) -> tuple[int, str] | None:
    """``(counter id, kind)`` of a valid ``metrika://`` URI; None for any other URI."""
    parts = sanitized(uri, SCHEME, sanitize_uri)
    return None if parts is None else (int(parts.netloc), parts.path.strip("/"))


def convert_asset_to_openlineage(asset: Any, lineage_context: Any = None) -> Any:
    """The asset as an OpenLineage dataset: namespace ``metrika://<counter>``, name the kind."""
    from airflow.providers.common.compat.openlineage.facet import Dataset

    counter_id, kind = parse_asset_uri(asset.uri) or (None, None)
    if counter_id is None:
        raise ValueError(f"not a {SCHEME}:// asset: {asset.uri!r}")
    return Dataset(namespace=f"{SCHEME}://{counter_id}", name=kind)


def event_extra(uploadings: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """What an asset event carries: uploading ids, status, summed counters and the linked ratio."""
    items = list(uploadings)
    extra: dict[str, Any] = {
        "uploading_ids": [str(u.get("uploading_id")) for u in items],
        "statuses": sorted({str(u.get("status")) for u in items}),
    }
    for counter, name in _EXTRA_COUNTERS.items():
        values = [u[counter] for u in items if isinstance(u.get(counter), int) and not isinstance(u[counter], bool)]
        if values:
            extra[name] = sum(values)
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
    outlets = [o for o in (getattr(task, "outlets", None) or []) if parse_asset_uri(getattr(o, "uri", None))]
    events = context.get("outlet_events") if hasattr(context, "get") else None
    if not outlets or events is None:
        return result
    uploadings = uploadings_of(result)
    final = bool(uploadings) and all(u.get("state") == UploadState.SUCCESS.value for u in uploadings)
    for outlet in outlets:
        counter_id, kind = parse_asset_uri(outlet.uri)  # type: ignore[misc]
        mine = [u for u in uploadings if u.get("counter_id") == counter_id and u.get("kind") == kind]
        if not final or not mine:
            log.warning(
                "Asset %s: %s; its event carries no Metrika counters",
                outlet.uri,
                "the uploadings are not processed yet (declare the outlet on the task that waits)"
                if mine
                else "this task uploaded nothing to that counter and kind",
            )
            continue
        events[outlet].extra.update(event_extra(mine) | {"counter_id": counter_id, "kind": kind})
    return result
