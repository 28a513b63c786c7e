"""Every vendor's connection form reaches Airflow's UI: the ProvidersManager registers its fields and labels.

Airflow 2.11 reads ``get_connection_form_widgets``/``get_ui_field_behaviour`` only from a hook class's own
``__dict__``: a method inherited from a shared base is ignored, and the form then shows bare Host/Login/Password
without the vendor's extra fields (what headless Chromium showed for Commerce Layer and Fleetio).
"""

from __future__ import annotations

import pytest

from airflow_provider_metrika import get_provider_info
from airflow_provider_metrika.commercelayer.hooks import CommerceLayerHook
from airflow_provider_metrika.fleetio.hooks import FleetioHook
from airflow_provider_metrika.hooks.metrika import MetrikaHook

HOOKS = [MetrikaHook, CommerceLayerHook, FleetioHook]


@pytest.fixture(scope="module")
def providers_manager():
    from airflow.providers_manager import ProvidersManager

    return ProvidersManager()


@pytest.mark.parametrize("hook", HOOKS, ids=lambda hook: hook.conn_type)
def test_each_hook_carries_its_own_form_methods(hook):
    assert "get_connection_form_widgets" in hook.__dict__
    assert "get_ui_field_behaviour" in hook.__dict__


@pytest.mark.parametrize("hook", HOOKS, ids=lambda hook: hook.conn_type)
def test_airflow_registers_each_vendors_fields_and_labels(hook, providers_manager):
    (declared,) = [c for c in get_provider_info()["connection-types"] if c["connection-type"] == hook.conn_type]
    widgets = providers_manager.connection_form_widgets
    for field in declared["conn-fields"]:
        assert f"extra__{hook.conn_type}__{field}" in widgets, field
    behaviour = providers_manager.field_behaviours[hook.conn_type]
    assert behaviour["relabeling"] == declared["ui-field-behaviour"]["relabeling"]
