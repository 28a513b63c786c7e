"""The middleware every Fleetio request passes, and Fleetio's two error body shapes.

API requests: date version (``X-Api-Version``, else the key's pinned one), credentials
(``Authorization: Token <key>`` and ``Account-Token``), a sliding-window rate limit per key
with ``Retry-After``, request counting and injected faults.

Errors (https://developer.fleetio.com/docs/overview/response-codes): 422 is
``{"errors": {"<field>": ["msg"]}}`` and 429 ``{"error": "..."}`` on every version; 401, 403,
404 and 500 are problem details ``{"status", "title", "detail", "instance"}`` from the
2024-01-01 version on, and before it the legacy bodies (``HTTP Token: Access denied.`` as
text for 401, an empty 403, ``{"error": ...}`` otherwise).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping

from aiohttp import web

from airflow_provider_metrika.emulator.config import token_hash
from airflow_provider_metrika.emulator.errors import ApiError
from airflow_provider_metrika.emulator.faults import Handler, run_with_fault
from airflow_provider_metrika.emulator.fleetio.settings import DATE_VERSION
from airflow_provider_metrika.emulator.fleetio.state import State
from airflow_provider_metrika.emulator.serving import error_middleware

log = logging.getLogger(__name__)

STATE = web.AppKey("fleetio_emulator_state", State)
#: The first date version with problem-details errors and keyset-paginated lists.
PROBLEM_DETAILS_VERSION = "2024-01-01"
VERSION = "fleetio_api_version"
_TOKEN = re.compile(r"Token\s+(\S+)\s*")
_TITLES = {
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    500: "Internal Server Error",
}


class FieldErrors(ApiError):
    """A 422 naming the fields at fault."""

    def __init__(self, fields: Mapping[str, list[str]]):
        self.fields = {name: list(messages) for name, messages in fields.items()}
        summary = "; ".join(f"{name} {' '.join(messages)}" for name, messages in self.fields.items())
        super().__init__(422, "unprocessable_entity", summary)


def field_error(name: str, message: str) -> FieldErrors:
    return FieldErrors({name: [message]})


def error_response(error: ApiError, request: web.Request) -> web.Response:
    headers = error.headers
    if isinstance(error, FieldErrors):
        return web.json_response({"errors": error.fields}, status=422, headers=headers)
    if error.status == 429 or (error.status not in _TITLES and error.status < 500):
        return web.json_response({"error": error.message}, status=error.status, headers=headers)
    version = request.get(VERSION) or request.app[STATE].config.key_version
    if version >= PROBLEM_DETAILS_VERSION:
        body = {
            "status": error.status,
            "title": _TITLES.get(error.status, "Error"),
            "detail": error.message,
            "instance": request.path,
        }
        return web.json_response(body, status=error.status, headers=headers, content_type="application/problem+json")
    if error.status == 401:
        return web.Response(text="HTTP Token: Access denied.\n", status=401, headers=headers)
    if error.status == 403:
        return web.Response(status=403, headers=headers)
    return web.json_response({"error": error.message}, status=error.status, headers=headers)


async def _api_request(request: web.Request, handler: Handler) -> web.StreamResponse:
    state = request.app[STATE]
    version = request.headers.get("X-Api-Version", "").strip() or state.config.key_version
    if not DATE_VERSION.fullmatch(version):
        raise field_error("X-Api-Version", f"{version!r} is not a date version like 2024-01-01")
    request[VERSION] = version
    caller = _authenticate(request, state)
    window = state.check_window(caller)
    if not window.allowed:
        state.store.count_throttled(caller, "window", "too_many_requests")
        raise state.refuse(caller, "too_many_requests", "", window.retry_after)
    route = request.match_info.route.resource.canonical if request.match_info.route.resource else request.path
    state.count_request(caller, request.method, route)
    fault = state.faults.take(request.method, request.path)
    if fault is not None:
        return await run_with_fault(fault, request, handler, state, caller)  # type: ignore[arg-type]
    return await handler(request)


def _authenticate(request: web.Request, state: State) -> str:
    """The key's hash (what limits and counts use); 401 on missing or unknown credentials."""
    header = request.headers.get("Authorization", "")
    account = request.headers.get("Account-Token", "").strip()
    match = _TOKEN.fullmatch(header)
    key = match.group(1) if match else ""
    keys = state.config.api_keys
    if not key or not account or (keys is not None and keys.get(token_hash(key)) != account):
        detail = "Invalid or missing API key or account token ('Authorization: Token <key>' and 'Account-Token')"
        if state.config.echo_credentials:
            detail += f" (Authorization {header}, Account-Token {account})"
        raise ApiError(401, "unauthorized", detail)
    return token_hash(key)


fleetio_pipeline = error_middleware(error_response, _api_request)
