"""The token stays out of what the operators, the sensor and the trigger hand on, whatever the server echoes.

The hostile server plays Metrika for one upload-and-wait, quoting the request's token
(JSON-escaped, percent-encoded, in base64 ...) in every field of every answer it can.
Checked: the XCom return value and pushed XComs, the rendered fields, ``TaskDeferred``,
the trigger's ``serialize()`` kwargs, every ``TriggerEvent`` payload and what
``execute_complete`` returns or raises, plus every log record at DEBUG.
"""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from airflow_provider_metrika.jobs import poller as poller_module
from airflow_provider_metrika.operators.upload import MetrikaUploadOfflineConversionsOperator
from airflow_provider_metrika.sensors.uploading import MetrikaUploadingSensor
from airflow_provider_metrika.triggers.uploading import MetrikaUploadingTrigger
from airflow_provider_metrika.version_compat import TaskDeferred
from tests.adversarial.hostile_server import ENCODINGS, Answer, error_answer, error_texts
from tests.integration.conftest import FakeTaskInstance
from tests.xcom import one_upload

pytestmark = pytest.mark.adversarial

QUOTING = ["verbatim", "backslash u", "percent every byte", "html hex", "base64 of header", "spaced"]


def echoing(encoding: str, *, status: str = "PROCESSED", fail_polls: int = 0):
    """A Metrika that stores one uploading and quotes the token in every text field of every answer."""
    state = {"polls": 0, "comment": ""}

    def uploading(token: str) -> dict:
        quote = ENCODINGS[encoding](token)
        return {
            "id": 7,
            "status": status,
            "comment": state["comment"],
            "source_quantity": 5,
            "line_quantity": 5,
            "linked_quantity": 4,
            "goal_not_found_quantity": quote,
            "user_not_found_quantity": quote,
            "note": quote,
        }

    def plan(seen) -> Answer:
        if seen.method == "POST":
            state["comment"] = seen.query.get("comment", "")
            return Answer(200, json.dumps({"uploading": {**uploading(seen.token), "status": "UPLOADED"}}))
        state["polls"] += 1
        if state["polls"] <= fail_polls:
            return error_answer(401, "errors[].message", ENCODINGS[encoding](seen.token), spelling="all escaped")
        if seen.path.endswith("/uploadings"):
            return Answer(200, json.dumps({"uploadings": [uploading(seen.token)] if state["comment"] else []}))
        return Answer(200, json.dumps({"uploading": uploading(seen.token)}))

    return plan


def conversions(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text(f"ClientId,Target,DateTime\n101,paid,{int(time.time()) - 3600}\n")
    return path


@pytest.fixture
def no_waiting(monkeypatch):
    async def pause(seconds: float) -> None:
        await asyncio.sleep(0)

    clock = iter(range(0, 10**9, 60))
    monkeypatch.setattr(poller_module, "sleep", pause)
    monkeypatch.setattr(poller_module, "monotonic", lambda: next(clock))


async def first_event(trigger: MetrikaUploadingTrigger) -> dict:
    async for event in trigger.run():
        return event.payload
    raise AssertionError("the trigger ended without an event")


@pytest.mark.parametrize("encoding", QUOTING)
def test_upload_xcom_and_rendered_fields(hostile, exposure, tmp_path, encoding):
    hostile.plan = echoing(encoding)
    ti = FakeTaskInstance()
    op = MetrikaUploadOfflineConversionsOperator(task_id="up", src=str(conversions(tmp_path)), comment="crm")
    result = op.execute({"ti": ti})
    exposure.add_json("the XCom return value", result)
    exposure.add_json("the pushed XComs", ti.xcom)
    exposure.add("the operator", repr(op), *(repr(getattr(op, field)) for field in op.template_fields))
    assert one_upload(result)["uploading_id"] == "7"


@pytest.mark.parametrize("encoding", QUOTING)
def test_deferral_trigger_kwargs_events_and_completion(hostile, exposure, tmp_path, no_waiting, encoding):
    hostile.plan = echoing(encoding)
    op = MetrikaUploadOfflineConversionsOperator(
        task_id="up", src=str(conversions(tmp_path)), comment="crm", wait_for_completion=True, deferrable=True
    )
    with pytest.raises(TaskDeferred) as deferred:
        op.execute({"ti": FakeTaskInstance()})
    trigger = deferred.value.trigger
    _, kwargs = trigger.serialize()
    exposure.add_json("the trigger's serialize() kwargs", kwargs)
    exposure.add("the deferral", repr(deferred.value), repr(trigger))
    payload = asyncio.run(first_event(MetrikaUploadingTrigger(**kwargs)))
    exposure.add_json("the TriggerEvent payload", payload)
    assert payload["status"] == "success"
    exposure.add_json("execute_complete's return value", op.execute_complete({}, payload))


@pytest.mark.parametrize("encoding", QUOTING)
def test_failing_polls_error_event_and_sensor(hostile, exposure, tmp_path, no_waiting, encoding):
    hostile.plan = echoing(encoding, fail_polls=10**6)
    trigger = MetrikaUploadingTrigger(
        kind="offline_conversions", counter_id=12345, uploading_ids=["7"], metrika_conn_id="metrika_default"
    )
    payload = asyncio.run(first_event(trigger))
    exposure.add_json("the error TriggerEvent payload", payload)
    assert payload["status"] == "error"
    op = MetrikaUploadOfflineConversionsOperator(task_id="up", src=str(conversions(tmp_path)))
    with pytest.raises(Exception) as completion:
        op.execute_complete({}, payload)
    exposure.add("execute_complete's error", *error_texts(completion.value))
    sensor = MetrikaUploadingSensor(task_id="wait", uploading_id="7", counter_id=12345, deferrable=False)
    with pytest.raises(Exception) as poked:
        sensor.poke({"ti": FakeTaskInstance()})
    exposure.add("the sensor's error", *error_texts(poked.value))
