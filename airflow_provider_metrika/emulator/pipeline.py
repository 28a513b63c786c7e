"""The middleware every request passes: errors as §1.3 bodies, then (Metrika API only)
route check -> auth -> counter access -> daily quota -> parallel slot -> faults -> handler.
"""

from __future__ import annotations

import logging
import re

from aiohttp import web

from airflow_provider_metrika.emulator.config import token_hash
from airflow_provider_metrika.emulator.errors import ApiError, invalid_parameter, shown
from airflow_provider_metrika.emulator.faults import Handler, run_with_fault
from airflow_provider_metrika.emulator.receive import INT64_MAX
from airflow_provider_metrika.emulator.serving import HTTP_ERROR, INTERNAL_ERROR, error_middleware
from airflow_provider_metrika.emulator.state import STATE

log = logging.getLogger(__name__)

#: Request key of the caller's token hash (handlers that list "my counters" need it).
CALLER = "metrika_token_hash"
_AUTH = re.compile(r"OAuth\s+(\S+)\s*", re.IGNORECASE)
_COUNTER = re.compile(r"[1-9][0-9]{0,18}")
_HTTP_ERROR_TYPES = {404: "not_found", 405: "method_not_allowed", 413: "invalid_uploading"}


def error_type_of(status: int) -> str:
    """The ``error_type`` for an HTTP error that no handler classified."""
    return _HTTP_ERROR_TYPES.get(status, "backend_error" if status >= 500 else "invalid_parameter")


def _metrika_error(error: ApiError, request: web.Request) -> web.StreamResponse:
    """Metrika's JSON error body; errors no handler classified get Metrika's ``error_type``."""
    if error.error_type == HTTP_ERROR:
        error = ApiError(error.status, error_type_of(error.status), error.message)
    elif error.error_type == INTERNAL_ERROR:
        error = ApiError(500, "backend_error", error.message)
    return error.response()


async def _metrika_request(request: web.Request, handler: Handler) -> web.StreamResponse:
    state = request.app[STATE]
    route = request.match_info.route.resource.canonical if request.match_info.route.resource else request.path
    caller = token_hash(_token_of(request))
    request[CALLER] = caller
    _check_access(request, caller)
    state.quotas.count(caller, request.method, route)
    with state.quotas.in_flight(caller):
        fault = state.faults.take(request.method, request.path)
        if fault is not None:
            return await run_with_fault(fault, request, handler, state.quotas, caller)
        return await handler(request)


def _token_of(request: web.Request) -> str:
    """The OAuth token from ``Authorization: OAuth <token>``; 401 otherwise. Never logged."""
    header = request.headers.get("Authorization", "")
    match = _AUTH.fullmatch(header)
    if match is None:
        reason = "is missing" if not header else "must be 'OAuth <token>'"
        raise ApiError(401, "unauthorized", f"Authorization header {reason}")
    token = match.group(1)
    if not token.isascii() or not token.isprintable():  # aiohttp hands undecodable bytes on as surrogates
        raise ApiError(401, "unauthorized", "the OAuth token must be printable ASCII")
    return token


def _check_access(request: web.Request, caller: str) -> None:
    raw = request.match_info.get("counter_id")
    if raw is None:
        return
    if not _COUNTER.fullmatch(raw) or int(raw) > INT64_MAX:
        raise invalid_parameter(f"counter id must be a positive 64-bit integer, not {shown(raw)}")
    tokens = request.app[STATE].config.tokens
    if tokens is None:
        return
    if caller not in tokens:
        raise ApiError(403, "invalid_token", "the OAuth token is not valid")
    if int(raw) not in tokens[caller]:
        raise ApiError(403, "access_denied", f"no access to counter {raw}")


#: Every error becomes Metrika's JSON error body; API requests pass auth, quotas and faults first.
error_bodies = error_middleware(_metrika_error, _metrika_request)
