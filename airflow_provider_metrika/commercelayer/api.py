"""What Commerce Layer's answers mean, without I/O: error bodies, import objects, request shapes.

Errors are JSON:API ``{"errors": [{"title", "detail", "code", "status", "source"}]}``
(https://docs.commercelayer.io/core/handling-errors); an import is a resource object whose
attributes are documented at https://docs.commercelayer.io/core/v/api-reference/imports/object.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypedDict, Unpack

from airflow_provider_metrika.commercelayer.import_object import (
    ATTRIBUTES,
    MAX_INPUTS,
    MAX_PAGE_SIZE,
    OPEN_STATUSES,
)
from airflow_provider_metrika.commercelayer.import_object import STATUSES as STATUSES
from airflow_provider_metrika.exceptions import MetrikaApiError, MetrikaConfigError
from airflow_provider_metrika.hooks.connection import require_int
from airflow_provider_metrika.hooks.retry import json_or_none, plain_text

MEDIA_TYPE = "application/vnd.api+json"
IMPORTS_PATH = "/api/imports"
FORMATS = ("json", "csv")
#: What a wait reads: every attribute but ``inputs`` and the two it never needs
#: (sparse fieldset, https://jsonapi.org/format/#fetching-sparse-fieldsets).
STATUS_FIELDS = tuple(name for name in ATTRIBUTES if name not in ("inputs", "cleanup_records", "attachment_url"))
_PATH_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
SERVICE = "Commerce Layer"


def error_details(body: str) -> tuple[str, str]:
    """(code, reason) of a JSON:API error body; the reason joins title, detail and the attribute at fault."""
    decoded = json_or_none(body)
    if not isinstance(decoded, Mapping):
        return "unknown", plain_text(body) or "empty response body"
    errors = [e for e in decoded.get("errors") or [] if isinstance(e, Mapping)]
    if not errors:
        return "unknown", plain_text(body) or "no reason given"
    code = next((str(e["code"]) for e in errors if e.get("code")), "unknown")
    reasons = []
    for error in errors:
        text = ": ".join(str(error[k]) for k in ("title", "detail") if error.get(k))
        source = error.get("source")
        pointer = source.get("pointer") if isinstance(source, Mapping) else None
        reasons.append(f"{text} (at {pointer})" if pointer else text)
    return code, "; ".join(r for r in reasons if r) or "no reason given"


def retry_after(status: int, headers: Mapping[str, str]) -> str | None:
    """How long to wait after a 429: the whole ``X-Ratelimit-Interval`` (the window is sliding).

    Commerce Layer sends no ``Retry-After`` (https://docs.commercelayer.io/core/rate-limits);
    after one interval every request counted against the window has left it.
    """
    if status != 429:
        return None
    return headers.get("Retry-After") or headers.get("X-Ratelimit-Interval")


def path_id(import_id: str) -> str:
    """An import id checked to be safe inside a URL path."""
    text = str(import_id).strip() if isinstance(import_id, str) else ""
    if not _PATH_ID.fullmatch(text):
        raise MetrikaConfigError(f"import_id must be a Commerce Layer id (letters, digits, - or _), got {import_id!r}")
    return text


def fields_param(fields: tuple[str, ...] | list[str]) -> str:
    """``fields[imports]`` for ``fields``; ``inputs`` is refused (it can be 10,000 objects on every poll)."""
    if "inputs" in fields:
        raise MetrikaConfigError("fields must not include 'inputs': an import's inputs are never read back")
    return ",".join(fields)


def list_params(
    *,
    filters: Mapping[str, Any] | None,
    sort: str | None,
    page_size: int,
    fields: tuple[str, ...] | list[str],
) -> dict[str, Any]:
    """Query of an imports listing: ``filter[q][<predicate>]`` (Ransack), sort, page size, sparse fieldset
    (https://docs.commercelayer.io/core/filtering-data)."""
    size = require_int(page_size, "page_size", minimum=1, maximum=MAX_PAGE_SIZE)
    params: dict[str, Any] = {f"filter[q][{name}]": value for name, value in (filters or {}).items()}
    params.update({"sort": sort, "page[size]": size, "fields[imports]": fields_param(fields)})
    return params


def record_count(body: Mapping[str, Any]) -> int:
    """``meta.record_count`` of a listing (how many match its filters); an answer without it is an error."""
    meta = body.get("meta")
    count = meta.get("record_count") if isinstance(meta, Mapping) else None
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise MetrikaApiError(200, "invalid_response", "the listing carries no meta.record_count", service=SERVICE)
    return count


def by_id_chunks(import_ids: Iterable[str]) -> list[list[str]]:
    """The ids, checked and without repeats, in groups of one listing page (25)."""
    ids = [path_id(i) for i in dict.fromkeys(import_ids)]
    return [ids[start : start + MAX_PAGE_SIZE] for start in range(0, len(ids), MAX_PAGE_SIZE)]


def by_id_params(chunk: Sequence[str], fields: Sequence[str] = STATUS_FIELDS) -> dict[str, Any]:
    """Query listing the imports of ``chunk`` (at most 25 ids) in one page: ``filter[q][id_in]``."""
    return list_params(filters={"id_in": ",".join(chunk)}, sort=None, page_size=MAX_PAGE_SIZE, fields=tuple(fields))


def imports_in(chunk: Sequence[str], body: Mapping[str, Any]) -> dict[str, CommerceLayerImport]:
    """The imports of a by-id listing that were asked for, by id (a server's extra items are ignored)."""
    wanted = set(chunk)
    return {item.id: item for item in imports_from_document(body) if item.id in wanted}


def page_count(body: Mapping[str, Any]) -> int | None:
    """``meta.page_count`` of a listing, None when absent or not an integer."""
    meta = body.get("meta")
    count = meta.get("page_count") if isinstance(meta, Mapping) else None
    return count if isinstance(count, int) and not isinstance(count, bool) else None


class ImportOptions(TypedDict, total=False):
    """A new import's attributes besides its resource type and inputs
    (https://docs.commercelayer.io/core/v/api-reference/imports/create)."""

    #: ``json`` (default) or ``csv``
    format: str
    parent_resource_id: str | None
    #: keep importing past invalid inputs (default False)
    skip_errors: bool
    reference: str | None
    reference_origin: str | None
    metadata: Mapping[str, Any] | None


def create_document(resource_type: str, inputs: list[Any] | str, **options: Unpack[ImportOptions]) -> dict[str, Any]:
    """The POST body of a new import, parameters checked (each error names its parameter)."""
    format = options.get("format", "json")
    unknown = sorted(set(options) - set(ImportOptions.__annotations__))
    if unknown:
        raise MetrikaConfigError(f"an import takes no parameter {', '.join(unknown)}")
    if not isinstance(resource_type, str) or not resource_type.strip():
        raise MetrikaConfigError("resource_type must be a Commerce Layer resource type such as 'skus'")
    if format not in FORMATS:
        raise MetrikaConfigError(f"format must be one of {', '.join(FORMATS)}, got {format!r}")
    if format == "csv" and not isinstance(inputs, str):
        raise MetrikaConfigError("inputs must be CSV text (with a header line) when format is 'csv'")
    if format == "json" and not isinstance(inputs, list):
        raise MetrikaConfigError("inputs must be a list of objects when format is 'json'")
    size = len(inputs) if isinstance(inputs, list) else max(0, len(inputs.strip().splitlines()) - 1)
    if size == 0:
        raise MetrikaConfigError("inputs is empty: an import needs at least one input")
    if size > MAX_INPUTS:
        raise MetrikaConfigError(f"inputs holds {size} items; an import takes at most {MAX_INPUTS}: split it")
    if isinstance(inputs, list):
        bad = next((i for i, item in enumerate(inputs) if not isinstance(item, Mapping)), None)
        if bad is not None:
            raise MetrikaConfigError(f"inputs[{bad}] must be an object, got {type(inputs[bad]).__name__}")
    attributes: dict[str, Any] = {
        "resource_type": resource_type.strip(),
        "format": format,
        "inputs": inputs,
        "skip_errors": bool(options.get("skip_errors", False)),
    }
    for name in ("parent_resource_id", "reference", "reference_origin"):
        value = options.get(name)
        if value is not None:
            if not isinstance(value, str):
                raise MetrikaConfigError(f"{name} must be a string, got {type(value).__name__}")
            attributes[name] = value
    metadata = options.get("metadata")
    if metadata is not None:
        if not isinstance(metadata, Mapping):
            raise MetrikaConfigError(f"metadata must be a mapping, got {type(metadata).__name__}")
        attributes["metadata"] = dict(metadata)
    return {"data": {"type": "imports", "attributes": attributes}}


def update_document(import_id: str, attributes: Mapping[str, Any]) -> dict[str, Any]:
    return {"data": {"type": "imports", "id": import_id, "attributes": dict(attributes)}}


def read_request(import_id: str, fields: Sequence[str] = STATUS_FIELDS) -> tuple[str, dict[str, str]]:
    """(path, query) that retrieves one import with a sparse fieldset."""
    return f"{IMPORTS_PATH}/{path_id(import_id)}", {"fields[imports]": fields_param(tuple(fields))}


def interrupt_request(import_id: str) -> tuple[str, dict[str, str], dict[str, Any]]:
    """(path, query, body) of ``_interrupt`` (https://docs.commercelayer.io/core/v/api-reference/imports/update)."""
    path, params = read_request(import_id)
    return path, params, update_document(path_id(import_id), {"_interrupt": True})


@dataclasses.dataclass(frozen=True)
class CommerceLayerImport:
    """One import as the API showed it (``attributes`` holds every attribute read)."""

    id: str
    status: str
    attributes: Mapping[str, Any]
    #: ``meta.mode`` of the answer: ``test`` or ``live`` (None when not said).
    mode: str | None = None

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def reference(self) -> str | None:
        return self.attributes.get("reference")

    def count(self, name: str) -> int:
        """A counter (``inputs_size``, ``processed_count``, ``errors_count``, ...), 0 when absent."""
        value = self.attributes.get(name)
        return value if isinstance(value, int) and not isinstance(value, bool) else 0

    @classmethod
    def from_resource(cls, resource: Any) -> CommerceLayerImport:
        if not isinstance(resource, Mapping) or resource.get("type") != "imports" or not resource.get("id"):
            raise MetrikaApiError(200, "invalid_response", "expected an imports resource object", service=SERVICE)
        attributes = resource.get("attributes")
        attributes = dict(attributes) if isinstance(attributes, Mapping) else {}
        meta = resource.get("meta")
        mode = meta.get("mode") if isinstance(meta, Mapping) else None
        return cls(
            id=str(resource["id"]),
            status=str(attributes.get("status") or ""),
            attributes=attributes,
            mode=mode if mode in ("test", "live") else None,
        )


def import_from_document(body: Mapping[str, Any]) -> CommerceLayerImport:
    return CommerceLayerImport.from_resource(body.get("data"))


def imports_from_document(body: Mapping[str, Any]) -> list[CommerceLayerImport]:
    data = body.get("data")
    if not isinstance(data, list):
        raise MetrikaApiError(200, "invalid_response", "expected a list of imports under 'data'", service=SERVICE)
    return [CommerceLayerImport.from_resource(item) for item in data]
