"""The aiohttp application: Metrika routes (paths from the UploadKind table) + control API.

:class:`MetrikaAppRunner` serves it so that even requests aiohttp cannot parse (an unknown
method, a bad ``Content-Length`` or chunk size, an over-long header) are answered with
Metrika's JSON error body rather than aiohttp's plain-text page.
"""

from __future__ import annotations

import functools
import re
from http import HTTPStatus

from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest
from aiohttp.web_server import Server

from airflow_provider_metrika.cdp_schema import ATTRIBUTES_PATH, ORDER_STATUSES_PATH, PRODUCTS_PATH
from airflow_provider_metrika.emulator import cdp_api, cdp_schema_api, management_api
from airflow_provider_metrika.emulator.control import metrika_routes as metrika_control_routes
from airflow_provider_metrika.emulator.control import routes as control_routes
from airflow_provider_metrika.emulator.csvstream import MAX_FILE_BYTES
from airflow_provider_metrika.emulator.errors import ApiError
from airflow_provider_metrika.emulator.harness import HARNESS
from airflow_provider_metrika.emulator.pipeline import error_bodies, error_type_of
from airflow_provider_metrika.emulator.state import STATE, EmulatorState
from airflow_provider_metrika.uploads import CDP, MANAGEMENT, UPLOAD_KINDS

COUNTERS = "/management/v1/counters"


OFFLINE_CONVERSIONS = MANAGEMENT + "/offline_conversions"


def _legacy_routes() -> list[web.RouteDef]:
    """api2 endpoints that rym and yametrikapy call before uploading (not in the current docs)."""
    routes = []
    for prefix in ("", "calls_"):
        path = f"{OFFLINE_CONVERSIONS}/{prefix}extended_threshold"
        routes += [
            web.post(path, management_api.set_extended_threshold),
            web.delete(path, management_api.set_extended_threshold),
            web.get(f"{OFFLINE_CONVERSIONS}/{prefix}visit_join_threshold", management_api.get_visit_join_threshold),
        ]
    routes.append(web.put(UPLOAD_KINDS["user_params"].get_path, management_api.edit_user_params))
    return routes


def _with_json_suffix(routes: list[web.RouteDef]) -> list[web.RouteDef]:
    """Every management route also as ``<path>.json``: the old API style some clients still use.

    The aliases come first: ``{uploading_id}`` would otherwise swallow ``5.json``.
    """
    aliases = [
        web.route(route.method, route.path + ".json", route.handler)
        for route in routes
        if route.path.startswith("/management/")
    ]
    return aliases + routes


def _metrika_routes() -> list[web.RouteDef]:
    conversions, calls, user_params = (UPLOAD_KINDS[name] for name in ("offline_conversions", "calls", "user_params"))
    routes = [
        web.get(COUNTERS, management_api.list_counters),
        web.get(MANAGEMENT, management_api.get_counter),
        web.post(user_params.upload_path, management_api.upload_user_params),
        web.post(user_params.confirm_path, management_api.confirm_user_params),
        web.get(CDP + "/last_uploadings", cdp_api.last_uploadings),
        web.get(ORDER_STATUSES_PATH, cdp_schema_api.get_order_statuses),
        web.post(ORDER_STATUSES_PATH, cdp_schema_api.map_order_statuses),
        web.get(ATTRIBUTES_PATH, cdp_schema_api.get_attributes),
        web.post(ATTRIBUTES_PATH, cdp_schema_api.create_attributes),
        web.post(PRODUCTS_PATH, cdp_schema_api.create_products),
        web.get(CDP + "/schema/types", cdp_schema_api.get_types),
        web.get(CDP + "/schema/predefined_types", cdp_schema_api.get_types),
        *_legacy_routes(),
    ]
    for kind in (conversions, calls):
        routes.append(web.post(kind.upload_path, functools.partial(management_api.upload_conversions, kind=kind.name)))
    for kind in (conversions, calls, user_params):
        routes.append(web.get(kind.list_path, functools.partial(management_api.list_uploadings, kind=kind.name)))
        routes.append(web.get(kind.get_path, functools.partial(management_api.get_uploading, kind=kind.name)))
    expenses, removals = UPLOAD_KINDS["expenses"], UPLOAD_KINDS["expense_removals"]
    routes += [
        web.post(expenses.upload_path, functools.partial(management_api.upload_expenses, removal=False)),
        web.post(removals.upload_path, functools.partial(management_api.upload_expenses, removal=True)),
        web.get(expenses.list_path, functools.partial(management_api.list_uploadings, kind="expenses")),
        web.get(expenses.get_path, functools.partial(management_api.get_uploading, kind="expenses")),
    ]
    for name in ("contacts", "orders", "simple_orders"):
        kind = UPLOAD_KINDS[name]
        routes.append(web.post(kind.upload_path, functools.partial(cdp_api.upload_csv, kind=name)))
        if kind.json_path:
            routes.append(web.post(kind.json_path, functools.partial(cdp_api.upload_json, kind=name)))
    return _with_json_suffix(routes)


def build_app(state: EmulatorState) -> web.Application:
    """An application serving ``state``; a multipart part may be as large as an upload file.

    Bodies are read through :mod:`.receive` (streamed, under the body timeout, JSON capped there).
    """
    app = web.Application(middlewares=[error_bodies], client_max_size=MAX_FILE_BYTES + (1 << 20))
    app[STATE] = state
    app[HARNESS] = state
    app.add_routes(_metrika_routes())
    app.add_routes(control_routes)
    app.add_routes(metrika_control_routes)
    return app


class _MetrikaRequestHandler(RequestHandler):
    """aiohttp's connection handler, answering what never reaches the middleware in Metrika's shape."""

    def handle_error(
        self, request: BaseRequest, status: int = 500, exc: BaseException | None = None, message: str | None = None
    ) -> web.StreamResponse:
        super().handle_error(request, status, exc, message)  # logs it; raises when an answer was already sent
        # aiohttp's message quotes the offending raw bytes (maybe the Authorization header): keep only its title.
        title = re.split(r"[:'\"(]", message or "", maxsplit=1)[0].strip()[:200] or HTTPStatus(status).phrase
        response = ApiError(status, error_type_of(status), title).response()
        response.force_close()
        return response


class _MetrikaServer(Server):
    def __call__(self) -> RequestHandler:
        return _MetrikaRequestHandler(self, loop=self._loop, **self._kwargs)


class MetrikaAppRunner(web.AppRunner):
    """An ``AppRunner`` whose connections answer unparseable requests with Metrika's error body."""

    async def _make_server(self) -> Server:
        server = await super()._make_server()
        server.__class__ = _MetrikaServer  # same server, only the protocol factory differs
        return server
