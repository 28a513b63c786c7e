"""The aiohttp application: Metrika routes (paths from the UploadKind table) + control API."""

from __future__ import annotations

import functools

from aiohttp import web

from airflow_provider_metrika.emulator import cdp_api, management_api
from airflow_provider_metrika.emulator.control import routes as control_routes
from airflow_provider_metrika.emulator.csvstream import MAX_FILE_BYTES
from airflow_provider_metrika.emulator.pipeline import error_bodies
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
        *_legacy_routes(),
    ]
    for kind in (conversions, calls):
        routes.append(web.post(kind.upload_path, functools.partial(management_api.upload_conversions, kind=kind.name)))
    for kind in (conversions, calls, user_params):
        routes.append(web.get(kind.list_path, functools.partial(management_api.list_uploadings, kind=kind.name)))
        routes.append(web.get(kind.get_path, functools.partial(management_api.get_uploading, kind=kind.name)))
    for name in ("contacts", "orders", "simple_orders"):
        kind = UPLOAD_KINDS[name]
        routes.append(web.post(kind.upload_path, functools.partial(cdp_api.upload_csv, kind=name)))
        if kind.json_path:
            routes.append(web.post(kind.json_path, functools.partial(cdp_api.upload_json, kind=name)))
    return _with_json_suffix(routes)


def build_app(state: EmulatorState) -> web.Application:
    """An application serving ``state``; JSON bodies may be as large as an upload file."""
    app = web.Application(middlewares=[error_bodies], client_max_size=MAX_FILE_BYTES + (1 << 20))
    app[STATE] = state
    app.add_routes(_metrika_routes())
    app.add_routes(control_routes)
    return app
