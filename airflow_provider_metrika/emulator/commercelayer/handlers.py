"""Handlers of the Commerce Layer emulator: the token endpoint and the imports resource.

Token: ``POST /oauth/token`` with the client-credentials grant
(https://docs.commercelayer.io/core/authentication/client-credentials). Imports: create, list
(``filter[q][...]``, ``sort``, ``page[...]``), retrieve (``fields[imports]``), update
(``_interrupt``, ``reference``, ``reference_origin``, ``metadata``) and delete
(https://docs.commercelayer.io/core/v/api-reference/imports).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from airflow_provider_metrika.commercelayer.import_object import MAX_PAGE_SIZE
from airflow_provider_metrika.emulator.commercelayer import resources
from airflow_provider_metrika.emulator.commercelayer.errors import MEDIA_TYPE, JsonApiError, validation_error
from airflow_provider_metrika.emulator.commercelayer.pipeline import STATE
from airflow_provider_metrika.emulator.commercelayer.state import State, StoredImport
from airflow_provider_metrika.emulator.commercelayer.views import ATTRIBUTES, import_resource, timestamp
from airflow_provider_metrika.emulator.config import token_hash
from airflow_provider_metrika.emulator.errors import ApiError

_CREATE_ATTRIBUTES = frozenset(
    {
        "resource_type",
        "format",
        "parent_resource_id",
        "inputs",
        "skip_errors",
        "cleanup_records",
        "reference",
        "reference_origin",
        "metadata",
    }
)
_UPDATE_ATTRIBUTES = frozenset({"_interrupt", "reference", "reference_origin", "metadata"})
_SCOPE = re.compile(
    r"(market|stock_location|store):(id|code):[A-Za-z0-9_-]+( (market|stock_location|store):(id|code):[A-Za-z0-9_-]+)*"
)
_FILTER = re.compile(r"filter\[q\]\[([a-z_]+)\]")
_MATCHERS = ("_not_eq", "_eq", "_in", "_start", "_end", "_cont", "_gteq", "_gt", "_lteq", "_lt", "_null", "_present")
_FILTERABLE = frozenset(
    {
        "status",
        "resource_type",
        "reference",
        "reference_origin",
        "created_at",
        "updated_at",
        "errors_count",
        "processed_count",
        "inputs_size",
        "id",
    }
)
_SORTABLE = frozenset({"created_at", "updated_at", "reference", "status", "id", "errors_count"})


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, content_type=MEDIA_TYPE)


async def _body(request: web.Request) -> Any:
    raw = await request.read()
    try:
        return json.loads(raw) if raw.strip() else {}
    except ValueError:
        raise ApiError(400, "BAD_REQUEST", "the request body is not valid JSON") from None


def _base_url(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}"


# -- token ------------------------------------------------------------------------------------------


async def token(request: web.Request) -> web.Response:
    state = request.app[STATE]
    if request.content_type == "application/x-www-form-urlencoded":
        body: Any = dict(await request.post())
    else:
        body = await _body(request)
    if not isinstance(body, Mapping):
        raise ApiError(400, "BAD_REQUEST", "the token request must be a JSON object")
    if body.get("grant_type") != "client_credentials":
        raise ApiError(400, "UNSUPPORTED_GRANT_TYPE", "grant_type must be client_credentials")
    client_id, secret = body.get("client_id"), body.get("client_secret")
    if not isinstance(client_id, str) or not client_id or not isinstance(secret, str) or not secret:
        raise ApiError(401, "INVALID_CLIENT", "client_id and client_secret are required")
    clients = state.config.clients
    if clients is not None and clients.get(client_id) != token_hash(secret):
        detail = "Client authentication failed due to unknown client or wrong secret."
        if state.config.echo_credentials:
            detail += f" (client_id {client_id}, client_secret {secret})"
        raise ApiError(401, "INVALID_CLIENT", detail)
    scope = body.get("scope") or "market:all"
    if scope != "market:all" and (not isinstance(scope, str) or not _SCOPE.fullmatch(scope)):
        raise ApiError(400, "INVALID_SCOPE", f"scope {scope!r} is not valid")
    access_token, ttl = state.issue_token(client_id, scope)
    return web.json_response(
        {
            "access_token": access_token,
            "token_type": "bearer",
            "expires_in": ttl,
            "scope": scope,
            "created_at": int(state.now()),
        }
    )


# -- imports ----------------------------------------------------------------------------------------


async def _attributes(request: web.Request, allowed: frozenset[str], with_id: str | None = None) -> dict[str, Any]:
    body = await _body(request)
    data = body.get("data") if isinstance(body, Mapping) else None
    if not isinstance(data, Mapping) or not isinstance(data.get("attributes", {}), Mapping):
        raise ApiError(400, "BAD_REQUEST", "the body must be a JSON:API document {data: {type, attributes}}")
    if data.get("type") != "imports":
        raise ApiError(409, "CONFLICT", f"data.type must be 'imports', not {data.get('type')!r}")
    if with_id is not None and data.get("id") != with_id:
        raise ApiError(409, "CONFLICT", "data.id must match the id in the URL")
    attributes = dict(data.get("attributes") or {})
    unknown = sorted(set(attributes) - allowed)
    if unknown:
        raise ApiError(400, "PARAMETER_NOT_ALLOWED", f"attributes not allowed here: {', '.join(unknown)}")
    return attributes


def _optional_text(attributes: Mapping[str, Any], name: str) -> None:
    if attributes.get(name) is not None and not isinstance(attributes[name], str):
        raise validation_error(name, "must be a string")


def _check_common(attributes: Mapping[str, Any]) -> None:
    for name in ("reference", "reference_origin", "parent_resource_id"):
        _optional_text(attributes, name)
    if attributes.get("metadata") is not None and not isinstance(attributes["metadata"], Mapping):
        raise validation_error("metadata", "must be an object")


async def create_import(request: web.Request) -> web.Response:
    state = request.app[STATE]
    attributes = await _attributes(request, _CREATE_ATTRIBUTES)
    _check_common(attributes)
    resource_type = attributes.get("resource_type")
    if not resource_type:
        raise validation_error("resource_type", "can't be blank", "can't be blank")
    if resource_type not in resources.RESOURCE_TYPES:
        raise validation_error("resource_type", "is not included in the list", "is not included in the list")
    fmt = attributes.get("format") or "json"
    if fmt not in ("json", "csv"):
        raise validation_error("format", "is not included in the list", "is not included in the list")
    raw = attributes.get("inputs")
    if raw in (None, "", []):
        raise validation_error("inputs", "can't be blank", "can't be blank")
    if fmt == "csv":
        if not isinstance(raw, str):
            raise validation_error("inputs", "must be a CSV string when format is csv")
        inputs: list[Any] = resources.csv_inputs(raw)
    else:
        if not isinstance(raw, list):
            raise validation_error("inputs", "must be an array of objects (send format 'csv' for CSV text)")
        inputs = raw
    if len(inputs) > state.config.max_inputs:
        raise validation_error("inputs", f"is too long (maximum is {state.config.max_inputs} elements)")
    for name in ("skip_errors", "cleanup_records"):
        if attributes.get(name) is not None and not isinstance(attributes[name], bool):
            raise validation_error(name, "must be true or false")
    record = {
        "resource_type": resource_type,
        "format": fmt,
        "parent_resource_id": attributes.get("parent_resource_id"),
        "skip_errors": bool(attributes.get("skip_errors", False)),
        "cleanup_records": bool(attributes.get("cleanup_records", False)),
        "reference": attributes.get("reference"),
        "reference_origin": attributes.get("reference_origin"),
        "metadata": dict(attributes.get("metadata") or {}),
    }
    item = state.create_import(record, inputs)
    return _json({"data": _render(request, state, item)}, status=201)


def _fields(request: web.Request) -> list[str] | None:
    raw = request.query.get("fields[imports]")
    if raw is None:
        return None
    names = [name.strip() for name in raw.split(",") if name.strip()]
    unknown = [name for name in names if name not in ATTRIBUTES]
    if unknown:
        raise JsonApiError(
            400, "INVALID_FIELD", "Invalid field", f"{', '.join(unknown)} is not a valid field for imports"
        )
    return names


def _render(request: web.Request, state: State, item: StoredImport) -> dict[str, Any]:
    return import_resource(
        item, _base_url(request), state.config.mode, _fields(request), lambda: state.inputs_of(item.id)
    )


def _found(state: State, import_id: str) -> StoredImport:
    item = state.get_import(import_id)
    if item is None:
        raise ApiError(404, "RECORD_NOT_FOUND", "The requested resource was not found")
    return item


async def get_import(request: web.Request) -> web.Response:
    state = request.app[STATE]
    return _json({"data": _render(request, state, _found(state, request.match_info["import_id"]))})


async def update_import(request: web.Request) -> web.Response:
    state = request.app[STATE]
    item = _found(state, request.match_info["import_id"])
    attributes = await _attributes(request, _UPDATE_ATTRIBUTES, with_id=item.id)
    _check_common(attributes)
    interrupt = attributes.pop("_interrupt", None)
    if interrupt is not None and not isinstance(interrupt, bool):
        raise validation_error("_interrupt", "must be true or false")
    if interrupt and item.status == "completed":
        raise validation_error("_interrupt", "cannot interrupt a completed import", "is invalid")
    for name in ("reference", "reference_origin"):
        if name in attributes:
            item.record[name] = attributes[name]
    if "metadata" in attributes:
        item.record["metadata"] = dict(attributes["metadata"] or {})
    item.record["updated_at"] = state.now()
    state.save(item)
    if interrupt:
        state.interrupt(item)
    return _json({"data": _render(request, state, item)})


async def delete_import(request: web.Request) -> web.Response:
    state = request.app[STATE]
    state.delete_import(_found(state, request.match_info["import_id"]).id)
    return web.Response(status=204)


async def list_imports(request: web.Request) -> web.Response:
    state = request.app[STATE]
    number = _page_param(request, "page[number]", 1, None)
    size = _page_param(request, "page[size]", 10, MAX_PAGE_SIZE)
    found = [item for item in state.imports() if _matches(item, _filters(request))]
    for name, descending in reversed(_sorts(request)):
        found.sort(key=lambda item, name=name: _sort_value(item, name), reverse=descending)
    pages = max(1, math.ceil(len(found) / size))
    chunk = found[(number - 1) * size : number * size]
    links = {"first": _page_link(request, 1, size), "last": _page_link(request, pages, size)}
    if number > 1:
        links["prev"] = _page_link(request, min(number - 1, pages), size)
    if number < pages:
        links["next"] = _page_link(request, number + 1, size)
    return _json(
        {
            "data": [_render(request, state, item) for item in chunk],
            "meta": {"record_count": len(found), "page_count": pages},
            "links": links,
        }
    )


def _page_param(request: web.Request, name: str, default: int, maximum: int | None) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or int(raw) < 1 or (maximum is not None and int(raw) > maximum):
        bound = f" between 1 and {maximum}" if maximum else " >= 1"
        raise ApiError(400, "BAD_REQUEST", f"{name} must be an integer{bound}")
    return int(raw)


def _page_link(request: web.Request, number: int, size: int) -> str:
    query = {**request.query, "page[number]": str(number), "page[size]": str(size)}
    return str(request.url.with_query(query))


def _filters(request: web.Request) -> list[tuple[str, str, str]]:
    found = []
    for key, value in request.query.items():
        if not key.startswith("filter"):
            continue
        match = _FILTER.fullmatch(key)
        if match is None:
            raise ApiError(400, "INVALID_FILTER", f"{key} is not a valid filter (use filter[q][<attribute>_<matcher>])")
        predicate = match.group(1)
        matcher = next((m for m in _MATCHERS if predicate.endswith(m)), None)
        attribute = predicate[: -len(matcher)] if matcher else ""
        if matcher is None or attribute not in _FILTERABLE:
            raise ApiError(400, "INVALID_FILTER", f"{predicate} is not a valid filter for imports")
        found.append((attribute, matcher, value))
    return found


def _value(item: StoredImport, attribute: str) -> Any:
    if attribute == "id":
        return item.id
    if attribute in ("created_at", "updated_at"):
        return timestamp(item.record.get(attribute))
    return item.record.get(attribute)


def _matches(item: StoredImport, filters: list[tuple[str, str, str]]) -> bool:
    for attribute, matcher, wanted in filters:
        actual = _value(item, attribute)
        text = "" if actual is None else str(actual)
        if matcher in ("_gt", "_gteq", "_lt", "_lteq"):
            left, right = _comparable(actual), _comparable(wanted)
            ok = (
                {
                    "_gt": left > right,
                    "_gteq": left >= right,
                    "_lt": left < right,
                    "_lteq": left <= right,
                }[matcher]
                if actual is not None
                else False
            )
        else:
            ok = {
                "_eq": actual is not None and text == wanted,
                "_not_eq": text != wanted,
                "_in": text in wanted.split(","),
                "_start": actual is not None and text.startswith(wanted),
                "_end": actual is not None and text.endswith(wanted),
                "_cont": actual is not None and wanted in text,
                "_null": (actual is None) == (wanted.lower() == "true"),
                "_present": (actual not in (None, "")) == (wanted.lower() == "true"),
            }[matcher]
        if not ok:
            return False
    return True


def _comparable(value: Any) -> Any:
    text = str(value)
    try:
        return (0, float(text), "")
    except ValueError:
        return (1, 0.0, text)


def _sorts(request: web.Request) -> list[tuple[str, bool]]:
    raw = request.query.get("sort")
    if not raw:
        return []
    sorts = []
    for part in raw.split(","):
        name = part.strip().lstrip("-")
        if name not in _SORTABLE:
            raise ApiError(400, "INVALID_SORT", f"{name!r} is not a valid sort for imports")
        sorts.append((name, part.strip().startswith("-")))
    return sorts


def _sort_value(item: StoredImport, name: str) -> Any:
    value = _value(item, name)
    return (value is None, "" if value is None else value)


# -- control ----------------------------------------------------------------------------------------


async def control_imports(request: web.Request) -> web.Response:
    """Every import (any status), settled to the emulator clock; inputs left out."""
    state = request.app[STATE]
    state.settle()
    fields = [name for name in ATTRIBUTES if name != "inputs"]
    return web.json_response(
        {
            "imports": [
                import_resource(item, _base_url(request), state.config.mode, fields, list) for item in state.imports()
            ]
        }
    )


async def control_records(request: web.Request) -> web.Response:
    """The organization's records of one resource type, as imports left them."""
    state = request.app[STATE]
    state.settle()
    return web.json_response({"records": state.records(request.match_info["resource_type"])})


async def control_revoke_tokens(request: web.Request) -> web.Response:
    """Forget every issued token: the next API call with one gets 401."""
    return web.json_response({"revoked": request.app[STATE].revoke_tokens()})
