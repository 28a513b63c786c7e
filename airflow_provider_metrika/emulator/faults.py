"""Fault injection: make chosen requests fail, stall or lose their connection.

A fault is ``{method, path (regex searched in the request path), action, times, ...}``
and fires on the next ``times`` matching Metrika-API requests (``times: null`` = always).
Faults are kept in the store so they survive a restart like everything else.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import re
import socket
import struct
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web

from airflow_provider_metrika.emulator.errors import ApiError, invalid_parameter
from airflow_provider_metrika.emulator.quotas import QuotaGuard
from airflow_provider_metrika.emulator.store import Store, StoredFault

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
FAULT_ACTIONS = ("status", "quota", "delay", "reset_before", "reset_after", "drop_response")
_OPTIONAL = {"status": int, "error_type": str, "message": str, "seconds": float, "retry_after": float}


def parse_fault(spec: Mapping[str, Any]) -> tuple[dict[str, Any], int | None]:
    """Validate a fault spec from the control API: (clean spec, times)."""
    if not isinstance(spec, Mapping):
        raise invalid_parameter("a fault must be a JSON object")
    action = spec.get("action")
    if action not in FAULT_ACTIONS:
        raise invalid_parameter(f"fault action must be one of {', '.join(FAULT_ACTIONS)}")
    method = str(spec.get("method", "*")).upper()
    path = str(spec.get("path", ""))
    try:
        re.compile(path)
    except re.error as error:
        raise invalid_parameter(f"fault path is not a valid regex: {error}") from None
    times = spec.get("times", 1)
    if times is not None and (isinstance(times, bool) or not isinstance(times, int) or times < 1):
        raise invalid_parameter("fault times must be a positive integer or null (always)")
    clean: dict[str, Any] = {"method": method, "path": path, "action": action, "times": times}
    for name, kind in _OPTIONAL.items():
        if spec.get(name) is not None:
            try:
                clean[name] = kind(spec[name])
            except (TypeError, ValueError):
                raise invalid_parameter(f"fault {name} must be a {kind.__name__}") from None
    unknown = set(spec) - set(clean) - {"id"}
    if unknown:
        raise invalid_parameter(f"unknown fault fields: {', '.join(sorted(unknown))}")
    return clean, times


@functools.lru_cache(maxsize=256)
def _pattern(path: str) -> re.Pattern[str]:
    return re.compile(path)


class FaultBook:
    """Stored faults and which one a request trips."""

    def __init__(self, store: Store):
        self._store = store

    def add(self, spec: Mapping[str, Any]) -> int:
        clean, times = parse_fault(spec)
        return self._store.add_fault(clean, times)

    def take(self, method: str, path: str) -> StoredFault | None:
        """The first armed fault matching the request, counted as hit."""
        for fault in self._store.armed_faults():
            if fault.spec["method"] in ("*", method) and _pattern(fault.spec["path"]).search(path):
                self._store.record_fault_hit(fault.id)
                return fault
        return None


async def run_with_fault(
    fault: StoredFault, request: web.Request, handler: Handler, quotas: QuotaGuard, token_hash: str
) -> web.StreamResponse:
    """Handle the request the way the fault says."""
    spec = fault.spec
    action = spec["action"]
    message = spec.get("message") or f"injected fault {fault.id}"
    if action == "status":
        raise ApiError(spec.get("status", 503), spec.get("error_type", "backend_error"), message)
    if action == "quota":
        error_type = spec.get("error_type", "quota_requests_by_uid")
        raise quotas.refuse(token_hash, error_type, message, spec.get("retry_after"), spec.get("status"))
    if action == "delay":
        await asyncio.sleep(spec.get("seconds", 1.0))
        return await handler(request)
    if action == "reset_before":
        return _abort(request)
    with contextlib.suppress(ApiError):
        await handler(request)
    if action == "drop_response":
        await asyncio.sleep(spec.get("seconds", 30.0))
    return _abort(request)


def _abort(request: web.Request) -> web.StreamResponse:
    """Drop the TCP connection (RST) so the client sees a reset, not an HTTP answer."""
    transport = request.transport
    if transport is not None:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
    return web.Response(status=499)
