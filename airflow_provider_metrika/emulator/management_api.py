"""Handlers of the management API: counter, offline conversions, calls, user parameters."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator, Mapping
from typing import Any

from aiohttp import web

from airflow_provider_metrika.emulator.errors import ApiError, invalid_parameter, missing_parameter, not_found
from airflow_provider_metrika.emulator.expenses import DEFAULT_PROVIDER, REMOVAL, UPLOAD, ExpenseFile
from airflow_provider_metrika.emulator.linkage import remove_quietly
from airflow_provider_metrika.emulator.pipeline import CALLER
from airflow_provider_metrika.emulator.receive import (
    ReceivedFile,
    int_param,
    parse_json,
    path_int,
    read_body,
    receive_file,
)
from airflow_provider_metrika.emulator.rules import (
    CONTENT_ID_TYPES,
    CONVERSION_TYPES,
    USER_PARAMS_ACTIONS,
    ConversionFile,
    UserParamsFile,
    check_choice,
    check_comment,
)
from airflow_provider_metrika.emulator.state import STATE, EmulatorState
from airflow_provider_metrika.emulator.store import StoredUploading

DEFAULT_LIST_LIMIT = 10000
CONFIRM_BODY_BYTES = 1 << 20


def counter_id_of(request: web.Request) -> int:
    return int(request.match_info["counter_id"])


def _counter(counter_id: int) -> dict[str, Any]:
    return {
        "id": counter_id,
        "name": f"Emulated counter {counter_id}",
        "time_zone_name": "Europe/Moscow",
        "status": "Active",
    }


async def get_counter(request: web.Request) -> web.Response:
    return web.json_response({"counter": _counter(counter_id_of(request))})


async def list_counters(request: web.Request) -> web.Response:
    """``GET /management/v1/counters``: the token's counters (from the token map), else those holding data.

    Paged with ``offset`` (1-based, as in Metrika) and ``per_page``; ``rows`` is the total.
    """
    state = request.app[STATE]
    per_page = int_param(request.query, "per_page", 1000, minimum=1)
    offset = int_param(request.query, "offset", 1, minimum=1)
    tokens = state.config.tokens
    if tokens is not None:
        if request[CALLER] not in tokens:
            raise ApiError(403, "invalid_token", "the OAuth token is not valid")
        ids = sorted(tokens[request[CALLER]])
    else:
        ids = state.store.counter_ids()
    page = ids[offset - 1 : offset - 1 + per_page]
    return web.json_response({"rows": len(ids), "counters": [_counter(counter_id) for counter_id in page]})


def _conversion_variant(request: web.Request, kind: str) -> str:
    if kind == "calls":
        return "CALLS"
    return check_choice("type", request.query.get("type"), CONVERSION_TYPES, default="BASIC")


async def upload_conversions(request: web.Request, kind: str) -> web.Response:
    """``upload`` and ``upload_calls``: stream, check, spool for linkage, store."""
    state = request.app[STATE]
    # The calls page states no character rule for the comment.
    chars = "any" if kind == "calls" else state.config.comment_chars
    comment = check_comment(request.query.get("comment"), chars)
    variant = _conversion_variant(request, kind)
    checker = ConversionFile(variant, state.now() + state.config.future_tolerance_seconds)
    with _spool_until_stored(state) as spool:
        received = await receive_file(request, checker, spool)
        attrs = {"client_id_type": checker.client_id_type, "linkage_columns": checker.linkage_columns.to_json()}
        if kind == "calls" and request.query.get("new_goal_name"):
            attrs["new_goal_name"] = request.query["new_goal_name"]
        uploading = _store_file_uploading(state, request, kind, variant, comment, checker.rows, received, attrs, spool)
    return web.json_response({"uploading": await state.view(uploading)})


async def upload_user_params(request: web.Request) -> web.Response:
    state = request.app[STATE]
    action = check_choice("action", request.query.get("action"), USER_PARAMS_ACTIONS)
    comment = check_comment(request.query.get("comment"), state.config.comment_chars)
    if state.config.upload_comment == "ignore":
        comment = ""  # only the confirm body (or a PUT) sets it
    checker = UserParamsFile()
    with _spool_until_stored(state) as spool:
        received = await receive_file(request, checker, spool)
        attrs = {
            "content_id_type": checker.content_id_type.lower(),
            "action": action,
            "linkage_columns": checker.linkage_columns.to_json(),
        }
        uploading = _store_file_uploading(
            state, request, "user_params", "", comment, checker.rows, received, attrs, spool
        )
    return web.json_response({"uploading": await state.view(uploading)})


async def upload_expenses(request: web.Request, removal: bool) -> web.Response:
    """``expense/upload`` and ``expense/delete``: one list of uploadings, typed EXPENSES or REMOVES.

    The file is kept (spooled) for the ledger (``/_emulator/expenses``); ``provider`` defaults to
    ``default`` on upload, and a deletion without one applies to every provider.
    """
    state = request.app[STATE]
    comment = check_comment(request.query.get("comment"), state.config.comment_chars)
    provider = request.query.get("provider") or (None if removal else DEFAULT_PROVIDER)
    checker = ExpenseFile(removal)
    variant = REMOVAL if removal else UPLOAD
    with _spool_until_stored(state) as spool:
        received = await receive_file(request, checker, spool)
        attrs = {"provider": provider}
        uploading = _store_file_uploading(
            state, request, "expenses", variant, comment, checker.rows, received, attrs, spool
        )
    return web.json_response({"uploading": await state.view(uploading)})


@contextlib.contextmanager
def _spool_until_stored(state: EmulatorState) -> Iterator[str]:
    """A new spool path whose file is removed unless the block (receive, then store) succeeds."""
    path = state.new_spool_path()
    try:
        yield path
    except BaseException:
        remove_quietly(path)
        raise


def _store_file_uploading(
    state: EmulatorState,
    request: web.Request,
    kind: str,
    variant: str,
    comment: str,
    rows: int,
    received: ReceivedFile,
    attrs: dict,
    spool: str,
) -> StoredUploading:
    now = state.now()
    uploading = StoredUploading(
        id=0,
        kind=kind,
        variant=variant,
        counter_id=counter_id_of(request),
        created=now,
        created_ms=int(now * 1000),
        comment=comment,
        rows=rows,
        sha256=received.sha256,
        size=received.size,
        attrs=attrs,
        visitor_seq=state.store.visitor_seq(),
        spool=spool,
    )
    state.store.add_uploading(uploading)
    return uploading


async def list_uploadings(request: web.Request, kind: str) -> web.Response:
    """Newest first; ``type`` filters offline conversions only when given."""
    state = request.app[STATE]
    limit = int_param(request.query, "limit", DEFAULT_LIST_LIMIT)
    offset = int_param(request.query, "offset", 0)
    variant = None
    if kind == "offline_conversions" and request.query.get("type"):
        variant = check_choice("type", request.query["type"], CONVERSION_TYPES)
    found = state.store.list_uploadings([kind], counter_id_of(request), variant, limit=limit, offset=offset)
    return web.json_response({"uploadings": [await state.view(uploading) for uploading in found]})


def _find(request: web.Request, kind: str) -> StoredUploading:
    state = request.app[STATE]
    uploading_id = path_int(request, "uploading_id")
    uploading = state.store.get_uploading(kind, counter_id_of(request), uploading_id)
    if uploading is None:
        raise not_found(f"{kind} uploading {uploading_id} not found on counter {counter_id_of(request)}")
    return uploading


async def get_uploading(request: web.Request, kind: str) -> web.Response:
    uploading = _find(request, kind)
    return web.json_response({"uploading": await request.app[STATE].view(uploading)})


async def confirm_user_params(request: web.Request) -> web.Response:
    """Confirm once, applying ``comment``, ``content_id_type`` and ``action`` from the body.

    The body is ``{"uploading": {...}}`` or empty. A client tested against production sets
    the comment this way and reads it back (https://github.com/pikhovkin/yametrikapy, its
    test suite). A header-less ``id,key,value`` file needs ``content_id_type`` here.
    """
    state = request.app[STATE]
    uploading = _find(request, "user_params")
    changes = _user_params_changes(state, await _uploading_body(request))
    if uploading.confirmed is not None:
        raise invalid_parameter(f"user_params uploading {uploading.id} is already confirmed")
    content_id_type = changes.get("content_id_type") or uploading.attrs.get("content_id_type")
    if not content_id_type:
        raise missing_parameter(
            "content_id_type (client_id or user_id) is required in the confirm body: "
            "the file names no ClientId or UserId column"
        )
    _apply(state, uploading, changes)
    uploading.confirmed = state.now()
    state.store.set_confirmed(uploading.id, uploading.confirmed)
    return web.json_response({"uploading": await state.view(uploading)})


async def edit_user_params(request: web.Request) -> web.Response:
    """``PUT …/user_params/uploading/{id}`` [legacy, api2]: change the comment (or action, id type)."""
    state = request.app[STATE]
    uploading = _find(request, "user_params")
    _apply(state, uploading, _user_params_changes(state, await _uploading_body(request)))
    return web.json_response({"uploading": await state.view(uploading)})


async def _uploading_body(request: web.Request) -> Mapping[str, Any]:
    """The object under ``uploading`` of a JSON body; empty for an empty body; 400 otherwise."""
    raw = await read_body(request, CONFIRM_BODY_BYTES)
    if not raw.strip():
        return {}
    document = parse_json(raw)
    item = document.get("uploading") if isinstance(document, dict) else None
    if not isinstance(item, dict):
        raise invalid_parameter('request body must be a JSON object {"uploading": {...}}')
    return item


def _user_params_changes(state: EmulatorState, item: Mapping[str, Any]) -> dict[str, Any]:
    """The editable fields of a confirm/PUT body, checked; fields not given are left alone."""
    changes: dict[str, Any] = {}
    if item.get("comment") is not None:
        if not isinstance(item["comment"], str):
            raise invalid_parameter("uploading.comment must be a string")
        changes["comment"] = check_comment(item["comment"], state.config.comment_chars)
    for name, choices in (("content_id_type", CONTENT_ID_TYPES), ("action", USER_PARAMS_ACTIONS)):
        value = item.get(name)
        if value not in (None, ""):
            changes[name] = check_choice(f"uploading.{name}", str(value), choices)
    return changes


def _apply(state: EmulatorState, uploading: StoredUploading, changes: Mapping[str, Any]) -> None:
    if "comment" in changes:
        uploading.comment = changes["comment"]
    uploading.attrs.update({name: value for name, value in changes.items() if name != "comment"})
    state.store.update_uploading(uploading.id, uploading.comment, uploading.attrs)


# -- legacy endpoints (api2) that clients such as rym and yametrikapy still call first ------------


async def set_extended_threshold(request: web.Request) -> web.Response:
    """``POST``/``DELETE …/(calls_)extended_threshold`` [legacy]: nothing to switch here; ``{"success": true}``."""
    return web.json_response({"success": True})


async def get_visit_join_threshold(request: web.Request) -> web.Response:
    """``GET …/(calls_)visit_join_threshold`` [legacy]: conversions from 21 days back can be joined."""
    day = dt.datetime.fromtimestamp(request.app[STATE].now() - 21 * 86400, tz=dt.UTC).date()
    return web.json_response({"date": day.isoformat()})
