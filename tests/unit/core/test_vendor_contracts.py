"""Each emulator models its API from the public docs; the documented tables (statuses, attributes, limits) are one
module that the client and the emulator both read, and the paths must agree."""

from __future__ import annotations

from airflow_provider_metrika.commercelayer import api as commercelayer
from airflow_provider_metrika.emulator.commercelayer import resources
from airflow_provider_metrika.emulator.commercelayer.routes import IMPORTS
from airflow_provider_metrika.emulator.commercelayer.views import ATTRIBUTES
from airflow_provider_metrika.emulator.fleetio import handlers as fleetio_handlers
from airflow_provider_metrika.emulator.fleetio import routes as fleetio_routes
from airflow_provider_metrika.fleetio import api as fleetio


def test_commerce_layer_fields_paths_and_limits_agree():
    assert set(commercelayer.STATUS_FIELDS) == set(ATTRIBUTES) - {"inputs", "cleanup_records", "attachment_url"}
    assert commercelayer.IMPORTS_PATH == IMPORTS
    assert commercelayer.MAX_INPUTS == 10_000 and "skus" in resources.RESOURCE_TYPES


def test_fleetio_statuses_and_paths_agree():
    assert fleetio.STATUSES is fleetio_handlers.STATUSES
    assert fleetio.ROW_STATUSES is fleetio_handlers.ROW_STATUSES
    assert set(fleetio_handlers.TERMINAL) == fleetio.TERMINAL_STATUSES
    assert fleetio.IMPORTS_PATH == fleetio_routes.IMPORTS
