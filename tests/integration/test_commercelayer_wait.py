"""Waiting on Commerce Layer imports against the emulator: trigger, sensor, the error-ratio policy, on_kill."""

from __future__ import annotations

import asyncio

import pytest

from airflow_provider_metrika.commercelayer.sensors import CommerceLayerImportSensor
from airflow_provider_metrika.commercelayer.status import organization
from airflow_provider_metrika.commercelayer.triggers import CommerceLayerImportTrigger
from airflow_provider_metrika.jobs import poller as poller_module
from airflow_provider_metrika.version_compat import AirflowFailException, TaskDeferred
from tests.conftest import CL_CLIENT_SECRET
from tests.emulators import requests_to

pytestmark = pytest.mark.integration
GOOD = [{"code": f"SKU{i}", "name": f"Item {i}"} for i in range(9)]
ONE_BAD = [*GOOD, {"code": "BAD1"}]  # no name: 1 of 10 fails, not above 10 %: completed with an error
MANY_BAD = [{"code": "A", "name": "a"}, {"code": "B"}, {"code": "C"}]


def list_requests(emulator) -> int:
    return requests_to(emulator, "/api/imports", "GET")


@pytest.fixture
def scope(commercelayer_process):
    return organization(commercelayer_process.url)


@pytest.fixture
def emulated_polls(commercelayer, monkeypatch):
    """The poller's pauses advance the emulator's clock (no test sleeps for a status)."""
    now = [0.0]

    async def sleep(seconds):
        now[0] += seconds
        commercelayer.advance(seconds)
        await asyncio.sleep(0)

    monkeypatch.setattr(poller_module, "sleep", sleep)
    monkeypatch.setattr(poller_module, "monotonic", lambda: now[0])
    return now


def trigger_for(conn_id, scope, ids, **kwargs):
    return CommerceLayerImportTrigger(conn_id=conn_id, scope=scope, job_ids=ids, poll_interval=5, **kwargs)


async def first_event(trigger):
    return (await anext(trigger.run())).payload


async def test_the_trigger_waits_for_every_import_with_one_list_request_per_poll(
    commercelayer_hook, commercelayer, commercelayer_conn, scope, emulated_polls
):
    ids = [commercelayer_hook.create_import("skus", GOOD, reference=f"r{i}").id for i in range(3)]
    before = list_requests(commercelayer)
    event = await first_event(trigger_for(commercelayer_conn, scope, ids))
    assert event["status"] == "success", event
    result = event["result"]
    assert result["vendor"] == "commercelayer" and result["ids"] == ids
    assert [job["state"] for job in result["jobs"]] == ["success"] * 3
    assert result["jobs"][0]["counters"]["processed_count"] == 9 and result["jobs"][0]["kind"] == "skus"
    assert result["jobs"][0]["scope"] == scope and result["jobs"][0]["extra"]["reference"] == "r0"
    polls = list_requests(commercelayer) - before
    assert 1 <= polls <= 3  # pending, in progress, completed: one listing each, never one per import


async def test_a_wait_started_in_the_triggerer_reads_the_organization_there_and_ends_the_task_there(
    commercelayer_hook, commercelayer_conn, scope, emulated_polls
):
    from airflow.triggers.base import TaskSuccessEvent

    import_id = commercelayer_hook.create_import("skus", GOOD).id
    trigger = trigger_for(commercelayer_conn, "", f'{{"ids": ["{import_id}"]}}', end_from_trigger=True)
    trigger.job_ids = trigger.ids_from_rendered({"ids": [import_id]})  # what the triggerer's rendering leaves
    event = await anext(trigger.run())
    assert isinstance(event, TaskSuccessEvent) and trigger.scope == scope
    result = event.xcoms["return_value"]
    assert result["ids"] == [import_id] and result["jobs"][0]["scope"] == scope


async def test_errors_within_max_error_ratio_succeed_with_a_warning(
    commercelayer_hook, commercelayer_conn, scope, emulated_polls
):
    import_id = commercelayer_hook.create_import("skus", ONE_BAD).id
    event = await first_event(trigger_for(commercelayer_conn, scope, [import_id], max_error_ratio=0.1))
    assert event["status"] == "success"
    (warning,) = event["warnings"]
    assert "1 of 10 inputs failed" in warning and "input BAD1: name can't be blank" in warning
    job = event["result"]["jobs"][0]
    assert job["state"] == "partial" and job["issues"] == ["input BAD1: name can't be blank"]


async def test_errors_above_max_error_ratio_fail_for_good(
    commercelayer_hook, commercelayer_conn, scope, emulated_polls
):
    import_id = commercelayer_hook.create_import("skus", ONE_BAD).id
    event = await first_event(trigger_for(commercelayer_conn, scope, [import_id]))
    assert event["status"] == "error" and event["terminal"] is True
    assert "above max_error_ratio=0" in event["message"] and "BAD1" in event["message"]


async def test_an_import_commerce_layer_interrupted_fails_and_says_why(
    commercelayer_hook, commercelayer_conn, scope, emulated_polls
):
    import_id = commercelayer_hook.create_import("skus", MANY_BAD).id
    event = await first_event(trigger_for(commercelayer_conn, scope, [import_id], max_error_ratio=1))
    assert event["status"] == "error" and event["terminal"] is True
    assert "interrupted" in event["message"] and "skip_errors=True" in event["message"]
    assert event["result"]["jobs"][0]["state"] == "cancelled"


async def test_an_unknown_import_fails_the_wait_at_once(commercelayer, commercelayer_conn, scope, emulated_polls):
    event = await first_event(trigger_for(commercelayer_conn, scope, ["nosuchimport"]))
    assert event["status"] == "error" and event["terminal"] is False
    assert "lists no import nosuchimport" in event["message"]


def test_the_trigger_serializes_without_a_secret(commercelayer_conn, scope):
    classpath, kwargs = trigger_for(commercelayer_conn, scope, ["a"], max_error_ratio=0.05).serialize()
    assert classpath == "airflow_provider_metrika.commercelayer.triggers.CommerceLayerImportTrigger"
    assert kwargs["max_error_ratio"] == 0.05 and kwargs["job_ids"] == ["a"] and kwargs["conn_id"] == commercelayer_conn
    assert CL_CLIENT_SECRET not in repr(kwargs)
    rebuilt = CommerceLayerImportTrigger(**kwargs)
    assert rebuilt.serialize() == (classpath, kwargs)


def test_the_sensor_pokes_until_done_and_returns_the_jobs_result(
    commercelayer_hook, commercelayer, commercelayer_conn, scope
):
    first = commercelayer_hook.create_import("skus", GOOD)
    second = commercelayer_hook.create_import("skus", GOOD)
    upstream = {"vendor": "commercelayer", "ids": [first.id, second.id], "jobs": [], "warnings": []}
    sensor = CommerceLayerImportSensor(task_id="wait", import_id=upstream, deferrable=False)
    assert sensor.poke({}).is_done is False
    commercelayer.advance(20)
    done = sensor.poke({})
    assert done.is_done and done.xcom_value["ids"] == [first.id, second.id]
    assert {job["state"] for job in done.xcom_value["jobs"]} == {"success"}


def test_the_sensor_fails_without_retries_on_too_many_errors(commercelayer_hook, commercelayer):
    import_id = commercelayer_hook.create_import("skus", ONE_BAD).id
    commercelayer.advance(20)
    sensor = CommerceLayerImportSensor(task_id="wait", import_id=import_id, deferrable=False)
    with pytest.raises(AirflowFailException, match="1 of 10 inputs failed"):
        sensor.poke({})


def test_the_deferrable_sensor_defers_to_the_trigger(commercelayer_hook, commercelayer_conn, scope):
    import_id = commercelayer_hook.create_import("skus", GOOD).id
    sensor = CommerceLayerImportSensor(task_id="wait", import_id=[import_id], deferrable=True, max_error_ratio=0.2)
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute({})
    trigger = deferred.value.trigger
    assert isinstance(trigger, CommerceLayerImportTrigger)
    assert (trigger.job_ids, trigger.scope, trigger.max_error_ratio) == ([import_id], scope, 0.2)
    assert trigger.interrupt_on_kill is False  # a sensor watches imports it did not create


@pytest.mark.parametrize("bad", [-0.1, 1.5, "0.1", True])
def test_a_bad_max_error_ratio_names_the_parameter(bad):
    from airflow_provider_metrika.exceptions import MetrikaConfigError

    with pytest.raises(MetrikaConfigError, match="max_error_ratio"):
        CommerceLayerImportSensor(task_id="wait", import_id="x", max_error_ratio=bad)
