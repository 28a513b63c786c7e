"""Commerce Layer and Fleetio sensors started in the triggerer: what the scheduler gets, what each line takes."""

from __future__ import annotations

import datetime

import pytest

from airflow_provider_metrika.commercelayer.sensors import CommerceLayerImportSensor
from airflow_provider_metrika.exceptions import ProviderConfigError
from airflow_provider_metrika.fleetio.sensors import FleetioImportSensor
from airflow_provider_metrika.fleetio.triggers import FleetioImportTrigger
from airflow_provider_metrika.jobs import trigger_start
from airflow_provider_metrika.version_compat import BaseTrigger

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2
    from airflow import DAG

try:
    from airflow.providers.standard.operators.empty import EmptyOperator
except ImportError:  # Airflow 2
    from airflow.operators.empty import EmptyOperator

START = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
FROM_XCOM = "{{ ti.xcom_pull(task_ids='upstream', key='return_value', map_indexes=-1) | tojson }}"


@pytest.fixture
def renders(monkeypatch):
    """Airflow 3's triggerer renders templates (the flag as each line sets it)."""
    monkeypatch.setattr(trigger_start, "TRIGGER_RENDERS_TEMPLATES", True)


@pytest.fixture
def airflow_2(monkeypatch):
    """Airflow 2.11's triggerer renders nothing."""
    monkeypatch.setattr(trigger_start, "TRIGGER_RENDERS_TEMPLATES", False)


def in_dag(make):
    with DAG("d", schedule=None, start_date=START):
        upstream = EmptyOperator(task_id="upstream")
        return make(upstream.output)


def start_kwargs(sensor):
    assert sensor.start_from_trigger is True and sensor.start_trigger_args.next_method == "execute_complete"
    return sensor.start_trigger_args.trigger_kwargs


def test_commerce_layer_ids_from_xcom_reach_the_scheduler_as_a_template(renders):
    sensor = in_dag(
        lambda output: CommerceLayerImportSensor(
            task_id="w", import_id=output, start_from_trigger=True, end_from_trigger=True, max_error_ratio=0.1
        )
    )
    kwargs = start_kwargs(sensor)
    assert sensor.start_trigger_args.trigger_cls.endswith("commercelayer.triggers.CommerceLayerImportTrigger")
    assert kwargs["job_ids"] == FROM_XCOM and kwargs["end_from_trigger"] is True
    assert kwargs["scope"] == ""  # the organization is read in the triggerer: no connection is read at parse time
    assert (kwargs["max_error_ratio"], kwargs["poll_interval"], kwargs["conn_id"]) == (0.1, 30, "commercelayer_default")
    assert "upstream" in sensor.upstream_task_ids


def test_commerce_layer_on_airflow_2_takes_only_ids_known_when_the_dag_is_parsed(airflow_2):
    with pytest.raises(ProviderConfigError, match="import_id: start_from_trigger=True on this Airflow"):
        in_dag(lambda output: CommerceLayerImportSensor(task_id="w", import_id=output, start_from_trigger=True))
    sensor = CommerceLayerImportSensor(task_id="w", import_id=["a1", "a2"], start_from_trigger=True)
    assert start_kwargs(sensor)["job_ids"] == ["a1", "a2"]


def test_a_templated_connection_cannot_start_in_the_triggerer(renders):
    with pytest.raises(ProviderConfigError, match="commercelayer_conn_id: start_from_trigger=True needs it known"):
        CommerceLayerImportSensor(
            task_id="w", import_id="a1", commercelayer_conn_id="{{ var.value.cl }}", start_from_trigger=True
        )
    with pytest.raises(ProviderConfigError, match="fleetio_conn_id"):
        FleetioImportSensor(task_id="w", import_id="1", fleetio_conn_id="{{ params.c }}", start_from_trigger=True)


def test_fleetio_ids_from_xcom_reach_the_scheduler_as_a_template(renders):
    sensor = in_dag(lambda output: FleetioImportSensor(task_id="w", import_id=output, start_from_trigger=True))
    kwargs = start_kwargs(sensor)
    assert sensor.start_trigger_args.trigger_cls.endswith("fleetio.triggers.FleetioImportTrigger")
    assert (kwargs["job_ids"], kwargs["match"], kwargs["scope"]) == (FROM_XCOM, None, "")


def test_a_fleetio_filter_is_checked_at_parse_time_and_its_templates_left_to_the_triggerer(renders):
    sensor = FleetioImportSensor(
        task_id="w",
        import_type="MeterEntryImport",
        created_after="{{ data_interval_start }}",
        start_from_trigger=True,
    )
    kwargs = start_kwargs(sensor)
    assert kwargs["job_ids"] == []
    assert kwargs["match"] == {"import_type": "MeterEntryImport", "created_after": "{{ data_interval_start }}"}
    literal = FleetioImportSensor(task_id="w", created_after=START, start_from_trigger=True)
    assert start_kwargs(literal)["match"] == {"created_after": "2026-01-01T00:00:00Z"}
    with pytest.raises(ProviderConfigError, match="created_after must be an ISO 8601"):
        FleetioImportSensor(task_id="w", created_after="yesterday", start_from_trigger=True)


def test_a_templated_fleetio_filter_on_airflow_2_names_the_parameter(airflow_2):
    with pytest.raises(ProviderConfigError, match="created_after: start_from_trigger=True on this Airflow"):
        FleetioImportSensor(task_id="w", created_after="{{ data_interval_start }}", start_from_trigger=True)
    sensor = FleetioImportSensor(task_id="w", file_name="meters_*.csv", start_from_trigger=True)
    assert start_kwargs(sensor)["match"] == {"file_name": "meters_*.csv"}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "needs import_id or at least one of"),
        ({"import_id": "5", "note": "x"}, "pass import_id or a filter"),
    ],
)
def test_fleetio_start_needs_one_target(renders, kwargs, message):
    with pytest.raises(ProviderConfigError, match=message):
        FleetioImportSensor(task_id="w", start_from_trigger=True, **kwargs)


def test_an_upstream_output_as_a_fleetio_filter_cannot_start_in_the_triggerer(renders):
    with pytest.raises(ProviderConfigError, match="note: start_from_trigger=True needs it known"):
        in_dag(lambda output: FleetioImportSensor(task_id="w", note=output, start_from_trigger=True))


def test_the_fleetio_trigger_renders_and_checks_its_filter_in_the_triggerer():
    trigger = FleetioImportTrigger(
        conn_id="fleetio_default", scope="", match={"import_type": "VehicleImport", "created_after": "{{ when }}"}
    )
    if not trigger_start.TRIGGER_RENDERS_TEMPLATES:  # Airflow 2.11: the sensor refuses such a filter (test above)
        assert not hasattr(BaseTrigger, "render_template_fields")
        return
    trigger.render_template_fields({"when": "2026-03-01T06:00:00+03:00"})
    assert trigger.match == {"import_type": "VehicleImport", "created_after": "2026-03-01T03:00:00Z"}
    bad = FleetioImportTrigger(conn_id="fleetio_default", scope="", match={"created_after": "{{ when }}"})
    with pytest.raises(ProviderConfigError, match="created_after must be an ISO 8601"):
        bad.render_template_fields({"when": "None"})


async def test_an_unrendered_fleetio_filter_fails_the_wait_naming_it():
    trigger = FleetioImportTrigger(conn_id="fleetio_default", scope="acme", match={"note": "{{ params.note }}"})
    with pytest.raises(ProviderConfigError, match="note: a template that was not rendered"):
        await trigger.wait_for_outcome()
