"""The control API under ``/_emulator/`` (no auth): clock, config, visitors, faults, inspection."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any

from aiohttp import web

from airflow_provider_metrika.emulator.clock import iso_seconds
from airflow_provider_metrika.emulator.errors import invalid_parameter
from airflow_provider_metrika.emulator.expenses import ExpenseBatch, ledger, read_rows
from airflow_provider_metrika.emulator.harness import HARNESS, HarnessState
from airflow_provider_metrika.emulator.lifecycle import EXPENSES_KIND, is_terminal, seconds_to_finish
from airflow_provider_metrika.emulator.receive import parse_json, read_body
from airflow_provider_metrika.emulator.state import STATE

#: Every vendor's control API: clock, config, faults, request counts, reset.
routes = web.RouteTableDef()
#: Metrika's own additions: visitors, uploadings, finish_all, expenses.
metrika_routes = web.RouteTableDef()
CONTROL_BODY_BYTES = 16 << 20


async def _json_body(request: web.Request) -> Any:
    raw = await read_body(request, CONTROL_BODY_BYTES)
    if not raw.strip():
        return {}
    return parse_json(raw)


def _clock(state: HarnessState) -> web.Response:
    now = state.now()
    return web.json_response({"epoch": now, "iso": iso_seconds(now)})


@routes.get("/_emulator/health")
async def health(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


@routes.post("/_emulator/reset")
async def reset(request: web.Request) -> web.Response:
    request.app[HARNESS].reset()
    return web.json_response({"ok": True})


@routes.get("/_emulator/clock")
async def clock(request: web.Request) -> web.Response:
    return _clock(request.app[HARNESS])


@routes.post("/_emulator/clock/advance")
async def advance(request: web.Request) -> web.Response:
    body = await _json_body(request)
    seconds = body.get("seconds") if isinstance(body, dict) else None
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
        raise invalid_parameter('body must be {"seconds": N} with N >= 0')
    request.app[HARNESS].advance(float(seconds))
    return _clock(request.app[HARNESS])


@metrika_routes.post("/_emulator/finish_all")
async def finish_all(request: web.Request) -> web.Response:
    """Advance the clock so every uploading (user params: every confirmed one) is terminal."""
    state = request.app[STATE]
    state.advance(seconds_to_finish(state.config.stage_seconds))
    return _clock(state)


@routes.get("/_emulator/config")
async def get_config(request: web.Request) -> web.Response:
    return web.json_response(request.app[HARNESS].config.to_json())


@routes.post("/_emulator/config")
async def set_config(request: web.Request) -> web.Response:
    body = await _json_body(request)
    if not isinstance(body, dict):
        raise invalid_parameter("config body must be a JSON object")
    return web.json_response(request.app[HARNESS].configure(body).to_json())


@metrika_routes.post("/_emulator/visitors")
async def add_visitors(request: web.Request) -> web.Response:
    body = await _json_body(request)
    ids = body.get("ids") if isinstance(body, dict) else None
    if not isinstance(ids, list) or not all(isinstance(i, str | int) for i in ids):
        raise invalid_parameter('body must be {"ids": [visitor ids]}')
    request.app[STATE].store.add_visitors(str(i) for i in ids)
    return web.json_response({"ok": True, "added": len(ids)})


@routes.post("/_emulator/faults")
async def add_fault(request: web.Request) -> web.Response:
    fault_id = request.app[HARNESS].faults.add(await _json_body(request))
    return web.json_response({"id": fault_id})


@routes.get("/_emulator/faults")
async def list_faults(request: web.Request) -> web.Response:
    return web.json_response({"faults": [fault.to_json() for fault in request.app[HARNESS].store.faults()]})


@routes.delete("/_emulator/faults")
async def clear_faults(request: web.Request) -> web.Response:
    request.app[HARNESS].store.clear_faults()
    return web.json_response({"ok": True})


@metrika_routes.get("/_emulator/uploadings")
async def uploadings(request: web.Request) -> web.Response:
    """Every stored uploading, any kind, with its current status and file fingerprint."""
    state = request.app[STATE]
    kind = request.query.get("kind") or None
    counter = request.query.get("counter_id")
    if counter is not None and not counter.isdigit():
        raise invalid_parameter("counter_id must be an integer")
    found = state.store.list_uploadings([kind] if kind else None, int(counter) if counter else None)
    result = []
    for uploading in reversed(found):
        view = await state.view(uploading)
        result.append(
            {
                "kind": uploading.kind,
                "counter_id": uploading.counter_id,
                "id": uploading.id,
                "status": view.get("status") or view.get("api_validation_status"),
                "terminal": is_terminal(uploading, state.now(), state.config.stage_seconds),
                "comment": uploading.comment,
                "rows": uploading.rows,
                "sha256": uploading.sha256,
                "size": uploading.size,
                "create_time": view.get("create_time") or view.get("datetime"),
                "uploading": view,
            }
        )
    return web.json_response({"uploadings": result})


@metrika_routes.get("/_emulator/expenses")
async def expenses(request: web.Request) -> web.Response:
    """The expense rows a counter holds now: processed uploads minus processed deletions, in order."""
    state = request.app[STATE]
    counter = request.query.get("counter_id", "")
    if not counter.isdigit():
        raise invalid_parameter("counter_id is required and must be an integer")
    now, stage_seconds = state.now(), state.config.stage_seconds
    processed = [
        uploading
        for uploading in reversed(state.store.list_uploadings([EXPENSES_KIND], int(counter)))
        if is_terminal(uploading, now, stage_seconds) and uploading.spool
    ]
    loop = asyncio.get_running_loop()
    batches = [
        ExpenseBatch(u.id, u.variant, u.attrs.get("provider"), await loop.run_in_executor(None, read_rows, u.spool))
        for u in processed
    ]
    return web.json_response({"rows": ledger(batches)})


@routes.get("/_emulator/requests")
async def request_stats(request: web.Request) -> web.Response:
    """Request counts per token hash, day and route, plus the rate-limit answers given."""
    state = request.app[HARNESS]
    by_token: dict[str, int] = defaultdict(int)
    by_day: dict[str, int] = defaultdict(int)
    rows = []
    for row in state.store.request_counts():
        by_token[row["token_hash"]] += row["count"]
        by_day[row["day"]] += row["count"]
        rows.append({key: row[key] for key in ("token_hash", "day", "method", "route", "count")})
    throttled = [dict(row) for row in state.store.throttled_counts()]
    return web.json_response(
        {
            "total": sum(by_token.values()),
            "by_token": by_token,
            "by_day": by_day,
            "requests": rows,
            "throttled": throttled,
            "throttled_total": sum(row["count"] for row in throttled),
            "in_flight": state.in_flight_total(),
        }
    )
