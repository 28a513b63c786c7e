"""FleetioImportSensor and FleetioImportTrigger against the Fleetio emulator over loopback."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from types import SimpleNamespace

import pytest

from airflow_provider_metrika.exceptions import MetrikaClientError, MetrikaConfigError
from airflow_provider_metrika.fleetio.sensors import FleetioImportSensor
from airflow_provider_metrika.fleetio.triggers import FleetioImportTrigger
from airflow_provider_metrika.jobs import poller as poller_module
from airflow_provider_metrika.version_compat import AirflowFailException, TaskDeferred
from tests.conftest import FLEETIO_ACCOUNT, FLEETIO_API_KEY
from tests.integration.test_fleetio_status import person_imports

pytestmark = pytest.mark.integration

METERS = [{"status": "created"}, {"status": "updated"}]


def sensor(**kwargs):
    kwargs.setdefault("deferrable", False)
    return FleetioImportSensor(task_id="wait", **kwargs)


def poke_until_done(task, emulator, *, step=5.0, limit=20):
    for _ in range(limit):
        answer = task.poke({})
        if answer.is_done:
            return answer.xcom_value
        emulator.advance(step)
    raise AssertionError("the sensor never finished")


class TriggerClock:
    """The trigger's poller waits by moving the emulator clock: nothing sleeps."""

    def __init__(self, emulator, monkeypatch):
        self.emulator, self.now, self.pauses = emulator, 0.0, []
        monkeypatch.setattr(poller_module, "sleep", self.sleep)
        monkeypatch.setattr(poller_module, "monotonic", lambda: self.now)

    async def sleep(self, seconds: float) -> None:
        self.pauses.append(seconds)
        self.now += seconds
        self.emulator.advance(seconds)
        await asyncio.sleep(0)


async def first_event(trigger) -> dict:
    async for event in trigger.run():
        return event.payload
    raise AssertionError("the trigger ended without an event")


def test_waits_for_a_given_import_and_returns_the_jobs_result(fleetio, fleetio_conn):
    wanted = person_imports(fleetio, "meters.csv", rows=METERS)
    result = poke_until_done(sensor(import_id=wanted), fleetio)
    assert result["vendor"] == "fleetio" and result["ids"] == [wanted]
    (job,) = result["jobs"]
    assert (job["status"], job["state"], job["kind"], job["scope"]) == (
        "complete",
        "success",
        "VehicleImport",
        "fleetio_default",
    )


def test_a_failed_import_fails_without_retries_with_its_rows(fleetio, fleetio_conn):
    bad = person_imports(fleetio, rows=[{"status": "error", "message": "Vehicle can't be blank"}])
    fleetio.advance(15)
    pushed = {}
    ti = SimpleNamespace(xcom_push=lambda key, value: pushed.update({key: value}))
    with pytest.raises(AirflowFailException, match="row 1: Vehicle can't be blank"):
        sensor(import_id=bad).poke({"ti": ti})
    (job,) = pushed["failed_jobs"]["jobs"]
    assert job["state"] == "failure" and job["issues"] == ["row 1: Vehicle can't be blank"]


@pytest.mark.parametrize(("policy", "outcome"), [("fail", "fails"), ("succeed", "succeeds")])
def test_partially_complete_follows_the_policy(fleetio, fleetio_conn, policy, outcome):
    partial = person_imports(fleetio, rows=[{"status": "created"}, {"status": "error", "message": "bad meter"}])
    fleetio.advance(15)
    task = sensor(import_id=partial, partially_complete=policy)
    if outcome == "fails":
        with pytest.raises(AirflowFailException, match=r"partially_complete.*row 2: bad meter"):
            task.poke({})
    else:
        result = task.poke({}).xcom_value
        assert result["jobs"][0]["issues"] == ["row 2: bad meter"] and result["jobs"][0]["state"] == "partial"


def test_a_filter_waits_until_a_matching_import_appears_then_until_it_ends(fleetio, fleetio_conn):
    start = dt.datetime.fromtimestamp(fleetio.now(), dt.UTC)
    person_imports(fleetio, "fuel.csv", type="FuelEntryImport")
    task = sensor(import_type="MeterEntryImport", file_name="meters_*.csv", created_after=start.isoformat())
    assert not task.poke({}).is_done
    fleetio.advance(60)
    person_imports(fleetio, "meters_other.csv", type="MeterEntryImport", note="x")
    wanted = person_imports(fleetio, "meters_2026.csv", type="MeterEntryImport")
    person_imports(fleetio, "vehicles.csv")
    result = poke_until_done(task, fleetio)
    assert len(result["ids"]) == 2 and wanted in result["ids"]
    assert {j["extra"]["file_name"] for j in result["jobs"]} == {"meters_other.csv", "meters_2026.csv"}


def test_an_unknown_import_is_a_permanent_error(fleetio, fleetio_conn):
    person_imports(fleetio)
    with pytest.raises(MetrikaClientError, match="import 77 is not among"):
        sensor(import_id="77").poke({})


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({}, "needs import_id or at least one of import_type"),
        ({"import_id": 3, "import_type": "VehicleImport"}, "not both: got import_id and import_type"),
        ({"created_after": "yesterday"}, "created_after must be an ISO 8601"),
        ({"created_after": "2026-01-01T00:00:00"}, "created_after needs a timezone-aware"),
        ({"import_type": 5}, "import_type must be non-empty text"),
        ({"import_id": {"what": 1}}, "import_id: a dict must be a jobs result"),
        ({"import_id": "abc"}, "import_id must be a positive integer"),
        (
            {"import_id": {"vendor": "metrika", "ids": ["1"], "jobs": [], "warnings": []}},
            "the upstream jobs are 'metrika' jobs, this task waits on 'fleetio'",
        ),
    ],
)
def test_bad_input_names_the_parameter(fleetio, fleetio_conn, kwargs, match):
    with pytest.raises(Exception, match=match) as caught:
        sensor(**kwargs).poke({})
    assert isinstance(caught.value, MetrikaConfigError) or "import_id must" in str(caught.value)


def test_bad_policy_is_refused_at_parse_time():
    with pytest.raises(MetrikaConfigError, match="partially_complete must be 'fail' or 'succeed'"):
        FleetioImportSensor(task_id="w", import_id=1, partially_complete="maybe")


def test_deferring_hands_ids_or_the_filter_to_the_trigger_without_secrets(fleetio, fleetio_conn):
    running = person_imports(fleetio)
    with pytest.raises(TaskDeferred) as deferred:
        sensor(import_id=running, deferrable=True, poke_interval=30).execute({})
    classpath, kwargs = deferred.value.trigger.serialize()
    assert classpath == "airflow_provider_metrika.fleetio.triggers.FleetioImportTrigger"
    assert kwargs["job_ids"] == [running] and kwargs["match"] is None and kwargs["scope"] == "fleetio_default"
    with pytest.raises(TaskDeferred) as searching:
        sensor(import_type="MeterEntryImport", deferrable=True).execute({})
    _, search_kwargs = searching.value.trigger.serialize()
    assert search_kwargs["job_ids"] == [] and search_kwargs["match"] == {"import_type": "MeterEntryImport"}
    text = json.dumps([kwargs, search_kwargs])
    assert FLEETIO_API_KEY not in text and FLEETIO_ACCOUNT not in text


async def test_the_trigger_waits_through_the_shared_poller(fleetio, fleetio_conn, monkeypatch):
    clock = TriggerClock(fleetio, monkeypatch)
    ids = [person_imports(fleetio, f"v{i}.csv") for i in range(3)]
    trigger = FleetioImportTrigger(conn_id=fleetio_conn, scope="fleetio_default", job_ids=ids, poll_interval=5)
    event = await first_event(trigger)
    assert event["status"] == "success" and event["result"]["ids"] == ids
    assert clock.pauses and all(j["state"] == "success" for j in event["result"]["jobs"])


async def test_the_trigger_searches_then_waits_and_fails_on_a_rolled_back_import(fleetio, fleetio_conn, monkeypatch):
    clock = TriggerClock(fleetio, monkeypatch)
    trigger = FleetioImportTrigger(
        conn_id=fleetio_conn,
        scope="fleetio_default",
        match={"import_type": "MeterEntryImport"},
        poll_interval=5,
    )
    task = asyncio.ensure_future(first_event(trigger))
    for _ in range(3):
        await asyncio.sleep(0.05)
    assert not task.done()
    person_imports(fleetio, "m.csv", type="MeterEntryImport", outcome="rolled_back")
    event = await asyncio.wait_for(task, timeout=30)
    assert event["status"] == "error" and event["terminal"] and "rolled_back" in event["message"]
    assert clock.pauses


async def test_a_search_started_in_the_triggerer_reads_the_account_there_and_ends_the_task_there(
    fleetio, fleetio_conn, monkeypatch
):
    from airflow.triggers.base import TaskSuccessEvent

    TriggerClock(fleetio, monkeypatch)
    wanted = person_imports(fleetio, "meters_1.csv", type="MeterEntryImport")
    trigger = FleetioImportTrigger(
        conn_id=fleetio_conn, scope="", match={"file_name": "meters_*.csv"}, poll_interval=5, end_from_trigger=True
    )
    event = await asyncio.wait_for(anext(trigger.run()), timeout=30)
    assert isinstance(event, TaskSuccessEvent) and trigger.scope == "fleetio_default"
    result = event.xcoms["return_value"]
    assert result["ids"] == [wanted] and result["jobs"][0]["scope"] == "fleetio_default"


async def test_waits_on_one_account_share_one_scan_per_poll(fleetio, fleetio_conn, monkeypatch):
    TriggerClock(fleetio, monkeypatch)
    first, second = person_imports(fleetio, "a.csv"), person_imports(fleetio, "b.csv")
    triggers = [
        FleetioImportTrigger(conn_id=fleetio_conn, scope="fleetio_default", job_ids=[wanted], poll_interval=5)
        for wanted in (first, second)
    ]
    events = await asyncio.gather(*(first_event(t) for t in triggers))
    assert [e["result"]["ids"] for e in events] == [[first], [second]]
    scans = sum(r["count"] for r in fleetio.request_stats()["requests"] if r["route"] == "/api/v1/imports")
    assert scans == 4  # new, queued, processing, complete: one scan per poll answers both waits
