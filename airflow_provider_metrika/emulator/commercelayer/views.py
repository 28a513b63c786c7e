"""The JSON:API documents the emulator answers with (https://jsonapi.org/format/#document-structure)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from airflow_provider_metrika.commercelayer.import_object import ATTRIBUTES
from airflow_provider_metrika.emulator.clock import iso_millis
from airflow_provider_metrika.emulator.commercelayer.state import StoredImport

_TIMES = frozenset({"started_at", "completed_at", "interrupted_at", "created_at", "updated_at"})


def timestamp(epoch: float | None) -> str | None:
    return None if epoch is None else iso_millis(round(epoch * 1000))


def import_resource(
    item: StoredImport, base_url: str, mode: str, fields: Iterable[str] | None, inputs: Callable[[], list[Any]]
) -> dict[str, Any]:
    """One import as a resource object; ``fields`` is the sparse fieldset (``inputs`` is read only if asked)."""
    wanted = ATTRIBUTES if fields is None else tuple(name for name in ATTRIBUTES if name in set(fields))
    attributes: dict[str, Any] = {}
    for name in wanted:
        if name == "inputs":
            attributes[name] = inputs()
        elif name in _TIMES:
            attributes[name] = timestamp(item.record.get(name))
        else:
            attributes[name] = item.record.get(name)
    self_link = f"{base_url}/api/imports/{item.id}"
    return {
        "id": item.id,
        "type": "imports",
        "links": {"self": self_link},
        "attributes": attributes,
        "relationships": {
            "events": {"links": {"self": f"{self_link}/relationships/events", "related": f"{self_link}/events"}}
        },
        "meta": {"mode": mode},
    }
