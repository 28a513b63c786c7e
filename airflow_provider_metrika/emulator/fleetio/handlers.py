"""Handlers of the Fleetio emulator: List Imports, an import's row results, and the control calls.

List Imports: https://developer.fleetio.com/docs/api/v-1-imports (``per_page`` 2 to 100,
``start_cursor``, ``filter[status][include]``, ``filter[created_at|updated_at][lt|lte|gt|gte]``
with one operator per field, ``sort[id|created_at|updated_at]``). Results:
https://developer.fleetio.com/docs/api/v-1-imports-results. Fleetio's API cannot create imports (a
person uploads a file in the web app); ``POST /_emulator/fleetio/imports`` plays that person.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from typing import Any

from aiohttp import web

from airflow_provider_metrika.emulator.clock import iso_millis
from airflow_provider_metrika.emulator.errors import ApiError, invalid_parameter
from airflow_provider_metrika.emulator.fleetio import keyset
from airflow_provider_metrika.emulator.fleetio.pipeline import (
    PROBLEM_DETAILS_VERSION,
    STATE,
    VERSION,
    field_error,
)
from airflow_provider_metrika.emulator.fleetio.state import ROW_ID_BASE, State, StoredImport
from airflow_provider_metrika.fleetio.import_list import BOUNDS, ROW_STATUSES, SORT_FIELDS, STATUSES, TERMINAL

DEFAULT_PER_PAGE = 50
_FILTER = re.compile(r"filter\[([a-z_]+)\]\[([a-z_]+)\]")
_SORT = re.compile(r"sort\[([a-z_]+)\]")


def _time(epoch: float | None) -> str | None:
    return None if epoch is None else iso_millis(round(epoch * 1000))


def render_import(item: StoredImport, state: State) -> dict[str, Any]:
    stage = state.config.stage_seconds
    status, since = item.status_at(state.now(), stage)
    finished = item.finished_at(stage)
    record = item.record
    return {
        "id": item.id,
        "type": record["type"],
        "status": status,
        "file_name": record["file_name"],
        "file_size": str(record["file_size"]),
        "note": record.get("note"),
        "completed_at": _time(finished) if state.now() >= finished else None,
        "created_at": _time(item.created),
        "updated_at": _time(since),
    }


def _rows(item: StoredImport, state: State) -> list[dict[str, Any]]:
    stage = state.config.stage_seconds
    done = state.now() >= item.finished_at(stage)
    imported_type = item.record["type"].removesuffix("Import")
    rows = []
    for number, row in enumerate(item.record["rows"], start=1):
        status = row["status"] if done else "pending"
        rows.append(
            {
                "id": item.id * ROW_ID_BASE + number,
                "record_id": item.id * ROW_ID_BASE + number if status in ("created", "updated", "unaffected") else None,
                "row_number": number,
                "status": status,
                "message": row.get("message") if done else None,
                "imported_type": imported_type,
                "created_at": _time(item.created),
                "updated_at": _time(item.finished_at(stage) if done else item.created),
            }
        )
    return rows


def _per_page(request: web.Request) -> int:
    raw = request.query.get("per_page", str(DEFAULT_PER_PAGE))
    if not raw.isdigit() or not 2 <= int(raw) <= 100:
        raise field_error("per_page", "must be an integer between 2 and 100")
    return int(raw)


def _moment(name: str, raw: str) -> float:
    try:
        moment = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise field_error(name, f"{raw!r} is not an ISO 8601 date-time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.timestamp()


def _query(request: web.Request, statuses: tuple[str, ...], time_fields: tuple[str, ...], sorts: tuple[str, ...]):
    """Filters, sort and the echo of both, checked; FieldErrors names the parameter at fault."""
    conditions: list[Callable[[dict[str, Any]], bool]] = []
    filtered_by: list[dict[str, Any]] = []
    sorted_by: list[dict[str, str]] = []
    digest_parts: list[tuple[str, str]] = [("path", request.path)]
    seen_fields: set[str] = set()
    for key, value in request.query.items():
        if key in ("per_page", "start_cursor"):
            continue
        digest_parts.append((key, value))
        if key.startswith("q["):
            raise field_error(key, "Ransack-style q[...] filters are not supported here; use filter[...]")
        filter_match, sort_match = _FILTER.fullmatch(key), _SORT.fullmatch(key)
        if filter_match:
            field, operator = filter_match.groups()
            if field in seen_fields:
                raise field_error(f"filter[{field}]", "takes one operator")
            seen_fields.add(field)
            if field == "status" and operator == "include":
                wanted = [s.strip() for s in value.split(",") if s.strip()]
                bad = [s for s in wanted if s not in statuses]
                if bad or not wanted:
                    raise field_error(key, f"must list statuses among {', '.join(statuses)}")
                conditions.append(lambda r, wanted=frozenset(wanted): r["status"] in wanted)
            elif field in time_fields and operator in BOUNDS:
                bound = _moment(key, value)
                compare = {
                    "lt": lambda a, b: a < b,
                    "lte": lambda a, b: a <= b,
                    "gt": lambda a, b: a > b,
                    "gte": lambda a, b: a >= b,
                }[operator]
                conditions.append(lambda r, f=field, b=bound, c=compare: c(r["_epoch"][f], b))
            else:
                raise field_error(key, "is not a supported filter")
            filtered_by.append({field: {operator: value}})
        elif sort_match:
            field = sort_match.group(1)
            if field not in sorts or value not in ("asc", "desc"):
                raise field_error(key, f"must be sort[{'|'.join(sorts)}]=asc|desc")
            if sorted_by:
                raise field_error(key, "only one sort is supported")
            sorted_by.append({field: value})
        else:
            raise field_error(key, "is not a supported parameter")
    return conditions, filtered_by, sorted_by, keyset.query_digest(digest_parts)


def _respond(
    request: web.Request, records: list[dict[str, Any]], statuses, time_fields, sorts, default_sort
) -> web.Response:
    per_page = _per_page(request)
    conditions, filtered_by, sorted_by, digest = _query(request, statuses, time_fields, sorts)
    sorted_by = sorted_by or [default_sort]
    ((field, direction),) = sorted_by[0].items()
    matching = [r for r in records if all(check(r) for check in conditions)]
    try:
        found = keyset.page(
            matching,
            key=lambda r: [r["_epoch"][field] if field != "id" else r["id"], r["id"]],
            descending=direction == "desc",
            digest=digest,
            cursor=request.query.get("start_cursor") or None,
            per_page=per_page,
        )
    except keyset.CursorError as error:
        raise field_error("start_cursor", str(error)) from None
    return web.json_response(
        {
            "start_cursor": found.start_cursor,
            "next_cursor": found.next_cursor,
            "per_page": per_page,
            "estimated_remaining_count": found.estimated_remaining_count,
            "filtered_by": filtered_by,
            "sorted_by": sorted_by,
            "records": [{k: v for k, v in r.items() if k != "_epoch"} for r in found.records],
        }
    )


def _require_keyset_version(request: web.Request) -> None:
    if request[VERSION] < PROBLEM_DETAILS_VERSION:
        raise field_error(
            "X-Api-Version",
            f"{request[VERSION]} has no keyset-paginated lists; send X-Api-Version {PROBLEM_DETAILS_VERSION} or later",
        )


async def list_imports(request: web.Request) -> web.Response:
    state = request.app[STATE]
    _require_keyset_version(request)
    stage, now = state.config.stage_seconds, state.now()
    records = []
    for item in state.imports():
        record = render_import(item, state)
        _, since = item.status_at(now, stage)
        record["_epoch"] = {"created_at": item.created, "updated_at": since}
        records.append(record)
    return _respond(request, records, STATUSES, ("created_at", "updated_at"), SORT_FIELDS, {"id": "desc"})


async def import_results(request: web.Request) -> web.Response:
    state = request.app[STATE]
    _require_keyset_version(request)
    item = _found(state, request.match_info["import_id"])
    rows = _rows(item, state)
    for row in rows:
        row["_epoch"] = {}
    return _respond(request, rows, ROW_STATUSES, (), ("id",), {"id": "asc"})


def _found(state: State, raw_id: str) -> StoredImport:
    item = state.get_import(int(raw_id)) if raw_id.isdigit() else None
    if item is None:
        raise ApiError(404, "not_found", f"Couldn't find Import with 'id'={raw_id}")
    return item


# -- control ----------------------------------------------------------------------------------------


async def control_add_import(request: web.Request) -> web.Response:
    """A person imports a file in the web app: ``{type, file_name, note?, rows: [{status, message?}], outcome?}``.

    ``count`` (default 1) adds that many such imports at once; the answer shows the last.
    """
    state = request.app[STATE]
    body = await _json_body(request)
    rows = body.get("rows", [])
    if not isinstance(rows, list) or not all(isinstance(r, dict) and r.get("status") in ROW_STATUSES[:4] for r in rows):
        raise invalid_parameter(f"rows must be a list of {{status: one of {', '.join(ROW_STATUSES[:4])}, message?}}")
    outcome = body.get("outcome")
    if outcome is not None and outcome not in TERMINAL:
        raise invalid_parameter(f"outcome must be one of {', '.join(TERMINAL)}")
    for name in ("type", "file_name"):
        if not isinstance(body.get(name), str) or not body[name]:
            raise invalid_parameter(f"{name} must be a non-empty string")
    record = {
        "type": body["type"],
        "file_name": body["file_name"],
        "file_size": int(body.get("file_size") or 64 * (len(rows) + 1)),
        "note": body.get("note"),
        "rows": [{"status": r["status"], "message": r.get("message")} for r in rows],
        "outcome": outcome,
    }
    count = body.get("count", 1)
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 10_000:
        raise invalid_parameter("count must be an integer between 1 and 10000")
    for _ in range(count):
        item = state.add_import(record)
    return web.json_response(render_import(item, state))


async def control_roll_back(request: web.Request) -> web.Response:
    """A person rolls a finished import back."""
    state = request.app[STATE]
    item = _found(state, request.match_info["import_id"])
    state.roll_back(item)
    return web.json_response(render_import(item, state))


async def control_imports(request: web.Request) -> web.Response:
    state = request.app[STATE]
    return web.json_response({"imports": [render_import(item, state) for item in state.imports()]})


async def _json_body(request: web.Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.read() or b"{}")
    except ValueError:
        raise invalid_parameter("body must be JSON") from None
    if not isinstance(body, dict):
        raise invalid_parameter("body must be a JSON object")
    return body
