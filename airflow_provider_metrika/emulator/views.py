"""The JSON shapes Metrika answers with, built from stored uploadings."""

from __future__ import annotations

from typing import Any

from airflow_provider_metrika.emulator.clock import iso_millis, iso_seconds
from airflow_provider_metrika.emulator.lifecycle import CDP_KINDS, EXPENSES_KIND, USER_PARAMS_KIND
from airflow_provider_metrika.emulator.store import StoredUploading

_CONVERSION_COUNTERS = ("linked_quantity", "goal_not_found_quantity", "user_not_found_quantity")
_CALLS_COUNTERS = ("static_calls_quantity", "dynamic_calls_quantity")


def render_uploading(uploading: StoredUploading, status: str, terminal: bool) -> dict[str, Any]:
    """The object under ``uploading``; row/link counters are filled only once terminal."""
    if uploading.kind in CDP_KINDS:
        return render_cdp_uploading(uploading)
    if uploading.kind == EXPENSES_KIND:
        return {
            "id": uploading.id,
            "create_time": iso_seconds(uploading.created),
            "source_quantity": uploading.rows,
            "provider": uploading.attrs["provider"] or "",
            "comment": uploading.comment,
            "type": uploading.variant,
            "status": status,
        }
    linkage = uploading.linkage if terminal and uploading.linkage else {}
    if uploading.kind == USER_PARAMS_KIND:
        linked = linkage.get("linked_quantity", 0)
        percentage = 100.0 * linked / uploading.rows if uploading.rows else 0.0
        return {
            "id": uploading.id,
            "create_time": iso_seconds(uploading.created),
            "line_quantity": uploading.rows,
            "linked_quantity": linked,
            "linked_percentage": f"{percentage:.2f}",
            "comment": uploading.comment,
            "content_id_type": uploading.attrs["content_id_type"],
            "action": uploading.attrs["action"],
            "status": status,
        }
    body: dict[str, Any] = {
        "id": uploading.id,
        "create_time": iso_seconds(uploading.created),
        "source_quantity": uploading.rows,
        "line_quantity": uploading.rows,
        "comment": uploading.comment,
        "type": uploading.variant,
        "client_id_type": uploading.attrs["client_id_type"],
        "status": status,
    }
    counters = _CONVERSION_COUNTERS + (_CALLS_COUNTERS if uploading.kind == "calls" else ())
    body.update({name: linkage.get(name, 0) for name in counters})
    return body


def render_cdp_uploading(uploading: StoredUploading) -> dict[str, Any]:
    """``UploadingMetaExternal`` (§5.1); ``attrs`` holds what validation decided."""
    attrs = uploading.attrs
    return {
        "uploading_id": str(uploading.id),
        "datetime": iso_millis(uploading.created_ms),
        "api_validation_status": attrs["api_validation_status"],
        "api_validation_errors": attrs["api_validation_errors"],
        "elements_count": uploading.rows,
        "entity_type": "SYSTEM",
        "entity_subtype": attrs["entity_subtype"],
        "uploading_format": attrs["uploading_format"],
        "uploading_source": "API",
        "uploading_title": uploading.comment,
    }
