"""The middleware every Commerce Layer request passes.

Errors become JSON:API bodies; then, for the API: the rate-limit window (per client address,
one for ``/oauth/token`` and one for ``/api/``, https://docs.commercelayer.io/core/rate-limits),
the bearer token (401 when missing, unknown or expired), content negotiation
(``application/vnd.api+json``: 406 on another ``Accept``, 415 on another body type,
https://jsonapi.org/format/#content-negotiation), request counting and injected faults.
"""

from __future__ import annotations

import logging
import re

from aiohttp import web

from airflow_provider_metrika.emulator.commercelayer.errors import MEDIA_TYPE, error_response
from airflow_provider_metrika.emulator.commercelayer.state import State
from airflow_provider_metrika.emulator.config import token_hash
from airflow_provider_metrika.emulator.errors import ApiError
from airflow_provider_metrika.emulator.faults import Handler, run_with_fault
from airflow_provider_metrika.emulator.serving import error_middleware

log = logging.getLogger(__name__)

TOKEN_PATH = "/oauth/token"
STATE = web.AppKey("commercelayer_emulator_state", State)
_BEARER = re.compile(r"Bearer\s+(\S+)\s*", re.IGNORECASE)


async def _api_request(request: web.Request, handler: Handler) -> web.StreamResponse:
    state = request.app[STATE]
    state.settle()
    caller = token_hash(request.remote or "")
    bucket = "oauth" if request.path == TOKEN_PATH else "api"
    window = state.check_window(bucket, caller)
    headers = state.limit_headers(window.limit, window.remaining, window.interval)
    if not window.allowed:
        state.store.count_throttled(caller, "window", "TOO_MANY_REQUESTS")
        raise ApiError(429, "TOO_MANY_REQUESTS", "You have exceeded the rate limit, retry later", headers)
    if bucket == "api":
        _authenticate(request, state)
        _negotiate(request)
    route = request.match_info.route.resource.canonical if request.match_info.route.resource else request.path
    state.count_request(caller, request.method, route)
    fault = state.faults.take(request.method, request.path)
    if fault is not None:
        response = await run_with_fault(fault, request, handler, state, caller)  # type: ignore[arg-type]
    else:
        response = await handler(request)
    response.headers.update(headers)
    return response


def _authenticate(request: web.Request, state: State) -> None:
    """401 unless the request carries a live token; an echoing server repeats the token in the detail."""
    header = request.headers.get("Authorization", "")
    match = _BEARER.fullmatch(header)
    if match is None:
        raise ApiError(401, "UNAUTHORIZED", "Authorization header must be 'Bearer <access token>'")
    token = match.group(1)
    expires = state.token_expiry(token)
    if expires is None or expires <= state.now():
        detail = "The access token you provided is invalid or has expired."
        if state.config.echo_credentials:
            detail += f" (token {token}, header {header})"
        raise ApiError(401, "INVALID_TOKEN", detail)


def _negotiate(request: web.Request) -> None:
    accept = request.headers.get("Accept", "")
    if accept and MEDIA_TYPE not in accept and "*/*" not in accept and "application/*" not in accept:
        raise ApiError(406, "NOT_ACCEPTABLE", f"Accept must allow {MEDIA_TYPE}")
    if request.method in ("POST", "PATCH", "PUT"):
        content_type = request.headers.get("Content-Type", "").strip()
        if content_type != MEDIA_TYPE:
            raise ApiError(415, "UNSUPPORTED_MEDIA_TYPE", f"Content-Type must be {MEDIA_TYPE}, not {content_type!r}")


jsonapi_pipeline = error_middleware(lambda error, request: error_response(error), _api_request)
