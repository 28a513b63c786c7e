"""Handlers of the management API: counter, offline conversions, calls, user parameters."""

from __future__ import annotations

from aiohttp import web

from airflow_provider_metrika.emulator.errors import invalid_parameter, not_found
from airflow_provider_metrika.emulator.receive import ReceivedFile, int_param, path_int, receive_file
from airflow_provider_metrika.emulator.rules import (
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


def counter_id_of(request: web.Request) -> int:
    return int(request.match_info["counter_id"])


async def get_counter(request: web.Request) -> web.Response:
    counter_id = counter_id_of(request)
    return web.json_response(
        {
            "counter": {
                "id": counter_id,
                "name": f"Emulated counter {counter_id}",
                "time_zone_name": "Europe/Moscow",
                "status": "Active",
            }
        }
    )


def _conversion_variant(request: web.Request, kind: str) -> str:
    if kind == "calls":
        return "CALLS"
    return check_choice("type", request.query.get("type"), CONVERSION_TYPES, default="BASIC")


async def upload_conversions(request: web.Request, kind: str) -> web.Response:
    """``upload`` and ``upload_calls``: stream, check, spool for linkage, store."""
    state = request.app[STATE]
    comment = check_comment(request.query.get("comment"))
    variant = _conversion_variant(request, kind)
    checker = ConversionFile(variant, state.now() + state.config.future_tolerance_seconds)
    spool = state.new_spool_path()
    received = await receive_file(request, checker, spool)
    attrs = {"client_id_type": checker.client_id_type, "linkage_columns": checker.linkage_columns.to_json()}
    if kind == "calls" and request.query.get("new_goal_name"):
        attrs["new_goal_name"] = request.query["new_goal_name"]
    uploading = _store_file_uploading(state, request, kind, variant, comment, checker.rows, received, attrs, spool)
    return web.json_response({"uploading": await state.view(uploading)})


async def upload_user_params(request: web.Request) -> web.Response:
    state = request.app[STATE]
    action = check_choice("action", request.query.get("action"), USER_PARAMS_ACTIONS)
    comment = check_comment(request.query.get("comment"))
    checker = UserParamsFile()
    spool = state.new_spool_path()
    received = await receive_file(request, checker, spool)
    attrs = {
        "content_id_type": checker.content_id_type,
        "action": action,
        "linkage_columns": checker.linkage_columns.to_json(),
    }
    uploading = _store_file_uploading(state, request, "user_params", "", comment, checker.rows, received, attrs, spool)
    return web.json_response({"uploading": await state.view(uploading)})


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
    """Confirm once; the body (``{"uploading": {...}}`` or nothing) is read and ignored."""
    state = request.app[STATE]
    uploading = _find(request, "user_params")
    await request.read()
    if uploading.confirmed is not None:
        raise invalid_parameter(f"user_params uploading {uploading.id} is already confirmed")
    uploading.confirmed = state.now()
    state.store.set_confirmed(uploading.id, uploading.confirmed)
    return web.json_response({"uploading": await state.view(uploading)})
