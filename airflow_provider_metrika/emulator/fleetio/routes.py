"""The Fleetio emulator's routes and application (API under ``/api/v1/``)."""

from __future__ import annotations

from aiohttp import web

from airflow_provider_metrika.emulator.fleetio import handlers
from airflow_provider_metrika.emulator.fleetio.pipeline import STATE, fleetio_pipeline
from airflow_provider_metrika.emulator.fleetio.state import State
from airflow_provider_metrika.emulator.serving import vendor_app

IMPORTS = "/api/v1/imports"
RESULTS = IMPORTS + "/{import_id}/results"
CONTROL = "/_emulator/fleetio"


def build_app(state: State) -> web.Application:
    return vendor_app(
        state,
        STATE,
        fleetio_pipeline,
        [
            web.get(IMPORTS, handlers.list_imports),
            web.get(RESULTS, handlers.import_results),
            web.post(CONTROL + "/imports", handlers.control_add_import),
            web.get(CONTROL + "/imports", handlers.control_imports),
            web.post(CONTROL + "/imports/{import_id}/rollback", handlers.control_roll_back),
        ],
    )
