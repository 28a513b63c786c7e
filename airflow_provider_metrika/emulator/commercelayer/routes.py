"""The Commerce Layer emulator's routes and application (token under ``/oauth/``, API under ``/api/``)."""

from __future__ import annotations

from aiohttp import web

from airflow_provider_metrika.emulator.commercelayer import handlers
from airflow_provider_metrika.emulator.commercelayer.pipeline import STATE, TOKEN_PATH, jsonapi_pipeline
from airflow_provider_metrika.emulator.commercelayer.state import State
from airflow_provider_metrika.emulator.serving import vendor_app

IMPORTS = "/api/imports"
IMPORT = IMPORTS + "/{import_id}"
CONTROL = "/_emulator/commercelayer"


def build_app(state: State) -> web.Application:
    return vendor_app(
        state,
        STATE,
        jsonapi_pipeline,
        [
            web.post(TOKEN_PATH, handlers.token),
            web.post(IMPORTS, handlers.create_import),
            web.get(IMPORTS, handlers.list_imports),
            web.get(IMPORT, handlers.get_import),
            web.patch(IMPORT, handlers.update_import),
            web.delete(IMPORT, handlers.delete_import),
            web.get(CONTROL + "/imports", handlers.control_imports),
            web.get(CONTROL + "/records/{resource_type}", handlers.control_records),
            web.post(CONTROL + "/revoke_tokens", handlers.control_revoke_tokens),
        ],
        client_max_size=64 << 20,
    )
