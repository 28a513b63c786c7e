"""The deferrable import operator waits for a free import slot in the triggerer, against the emulator.

Commerce Layer runs at most ten imports of an organization at once; the operator keeps at most
``max_open_imports`` open. Deferrable, it frees the worker while no slot is free and resumes to send the
next parts; a triggerer restart or a task retry mid-queue never sends a part twice. The poller's pauses
advance the emulator's clock: no test sleeps.
"""

from __future__ import annotations

import asyncio
import importlib

import pytest

from airflow_provider_metrika.commercelayer.hooks import CommerceLayerHook
from airflow_provider_metrika.commercelayer.operators import CommerceLayerImportOperator
from airflow_provider_metrika.commercelayer.triggers import CommerceLayerImportTrigger, CommerceLayerOpenSlotTrigger
from airflow_provider_metrika.jobs import poller as poller_module
from airflow_provider_metrika.version_compat import TaskDeferred
from tests.integration.conftest import FakeTaskInstance
from tests.unit.operators.fakes import FakeStore

pytestmark = pytest.mark.integration
ROWS = [{"code": f"SKU{i:03d}", "name": f"Item {i}"} for i in range(25)]  # 5 parts of 5


@pytest.fixture
def emulated_polls(commercelayer, monkeypatch):
    """The poller's pauses advance the emulator's clock."""
    now = [0.0]

    async def sleep(seconds):
        now[0] += seconds
        commercelayer.advance(seconds)
        await asyncio.sleep(0)

    monkeypatch.setattr(poller_module, "sleep", sleep)
    monkeypatch.setattr(poller_module, "monotonic", lambda: now[0])
    return now


def operator(**kwargs):
    options = {
        "task_id": "import",
        "resource_type": "skus",
        "rows": ROWS,
        "chunk_size": 5,
        "max_open_imports": 2,
        "deferrable": True,
        "poll_interval": 5,
        **kwargs,
    }
    return CommerceLayerImportOperator(**options)


def imports_of(commercelayer):
    return commercelayer.call("GET", "commercelayer/imports")["imports"]


def restored(trigger):
    """The trigger as a (re)started triggerer builds it: from its serialized classpath and kwargs only."""
    classpath, kwargs = trigger.serialize()
    module, name = classpath.rsplit(".", 1)
    return getattr(importlib.import_module(module), name)(**kwargs)


def first_event(trigger):
    async def run():
        return (await anext(restored(trigger).run())).payload

    return asyncio.run(run())


def drive(context, deferred_first=None, **kwargs):
    """Run the task as Airflow would: each deferral's trigger to its event, then a fresh task resumes."""
    deferrals = []
    call = lambda: operator(**kwargs).execute(context)  # noqa: E731
    if deferred_first is not None:
        deferrals.append(deferred_first)
        call = resumer(context, deferred_first, kwargs)
    while True:
        try:
            return call(), deferrals
        except TaskDeferred as deferred:
            deferrals.append(deferred)
            call = resumer(context, deferred, kwargs)


def resumer(context, deferred, kwargs):
    event = first_event(deferred.trigger)
    return lambda: getattr(operator(**kwargs), deferred.method_name)(context, event, **(deferred.kwargs or {}))


def max_open_at_once(found):
    most = 0
    for item in found:
        created = item["attributes"]["created_at"]
        open_then = [
            other
            for other in found
            if other["attributes"]["created_at"] <= created
            and (other["attributes"]["completed_at"] or other["attributes"]["interrupted_at"] or 9e12) > created
        ]
        most = max(most, len(open_then))
    return most


def assert_each_part_imported_once(commercelayer, result):
    found = imports_of(commercelayer)
    parts = sorted(item["attributes"]["reference"].rsplit("-p", 1)[1] for item in found)
    assert len(found) == 5 and parts == [f"{n}of5" for n in range(1, 6)]
    assert sorted(result["ids"]) == sorted(item["id"] for item in found)
    records = commercelayer.call("GET", "commercelayer/records/skus")["records"]
    assert len(records) == 25 and {r["writes"] for r in records} == {1}


def test_the_deferrable_operator_waits_for_slots_in_the_triggerer_and_sends_each_part_once(
    commercelayer, commercelayer_conn, emulated_polls, mocker
):
    searches = mocker.spy(CommerceLayerHook, "iter_imports")
    context = {"ti": FakeTaskInstance(dag_id="cl", task_id="import")}
    result, deferrals = drive(context)
    slot_waits = [d for d in deferrals if isinstance(d.trigger, CommerceLayerOpenSlotTrigger)]
    assert slot_waits and all(d.method_name == "resume_sending" for d in slot_waits)
    assert isinstance(deferrals[-1].trigger, CommerceLayerImportTrigger) and deferrals[-1].method_name == (
        "execute_complete"
    )
    # one fingerprint search per part before its send (again for the part whose send waited for a slot): a
    # resume reads the parts sent before it back by id
    searched = sum(1 for call in searches.call_args_list if "reference_start" in call.kwargs["filters"])
    assert searched == 5 + len(slot_waits)
    first = slot_waits[0].trigger
    assert len(first.job_ids) == 2 and first.slots_needed == 1 and first.sent_ids == first.job_ids
    assert slot_waits[0].kwargs["slot_deadline"] > 0 and sorted(slot_waits[0].kwargs["sent"].values()) == sorted(
        first.sent_ids
    )
    assert {job["state"] for job in result["jobs"]} == {"success"} and len(result["ids"]) == 5
    assert_each_part_imported_once(commercelayer, result)
    assert max_open_at_once(imports_of(commercelayer)) <= 2


def test_a_triggerer_restart_mid_slot_wait_resumes_without_resending_or_interrupting(
    commercelayer, commercelayer_conn, emulated_polls, monkeypatch
):
    context = {"ti": FakeTaskInstance(dag_id="cl", task_id="import")}
    with pytest.raises(TaskDeferred) as deferred:
        operator().execute(context)
    polled = []

    async def stuck_after_first_poll(seconds):  # the triggerer dies during its first pause
        polled.append(seconds)
        await asyncio.Event().wait()

    async def run_then_die():
        task = asyncio.ensure_future(anext(restored(deferred.value.trigger).run()))
        while not polled:
            await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    with monkeypatch.context() as patched:
        patched.setattr(poller_module, "sleep", stuck_after_first_poll)
        asyncio.run(run_then_die())
    assert len(imports_of(commercelayer)) == 2
    assert {item["attributes"]["status"] for item in imports_of(commercelayer)} <= {"pending", "in_progress"}
    result, _ = drive(context, deferred.value)  # a new triggerer runs the same trigger from its kwargs
    assert_each_part_imported_once(commercelayer, result)


@pytest.mark.parametrize("durable", [True, False], ids=["journal", "fingerprint"])
def test_a_task_retry_mid_queue_sends_only_the_parts_not_sent(
    commercelayer, commercelayer_conn, emulated_polls, durable
):
    store = FakeStore()
    first_try = {"ti": FakeTaskInstance(dag_id="cl", task_id="import"), "task_state_store": store}
    with pytest.raises(TaskDeferred):
        operator(durable=durable).execute(first_try)
    sent = sorted(item["id"] for item in imports_of(commercelayer))
    assert len(sent) == 2
    # the worker died while deferred; Airflow's retry starts the task from the beginning, slots still full
    retry = {"ti": FakeTaskInstance(dag_id="cl", task_id="import"), "task_state_store": store}
    with pytest.raises(TaskDeferred) as deferred:
        operator(durable=durable).execute(retry)
    assert sorted(item["id"] for item in imports_of(commercelayer)) == sent
    assert isinstance(deferred.value.trigger, CommerceLayerOpenSlotTrigger)
    assert sorted(deferred.value.trigger.sent_ids) == sent
    result, _ = drive(retry, deferred.value, durable=durable)
    assert_each_part_imported_once(commercelayer, result)


def test_other_tasks_imports_holding_the_slots_are_waited_on_and_never_interrupted(
    commercelayer, commercelayer_conn, emulated_polls
):
    hook = CommerceLayerHook(commercelayer_conn)
    others = [hook.create_import("skus", [{"code": f"O{i}", "name": "other"}]).id for i in range(2)]
    context = {"ti": FakeTaskInstance(dag_id="cl", task_id="import")}
    with pytest.raises(TaskDeferred) as deferred:
        operator().execute(context)
    trigger = deferred.value.trigger
    assert trigger.job_ids == others and trigger.sent_ids == [] and imports_of(commercelayer)[2:] == []
    asyncio.run(restored(trigger).on_kill())  # a user kills the task while it waits for a slot
    assert {item["attributes"]["status"] for item in imports_of(commercelayer)} == {"pending"}


def test_killing_the_task_mid_queue_interrupts_only_its_own_imports(commercelayer, commercelayer_conn, emulated_polls):
    hook = CommerceLayerHook(commercelayer_conn)
    other = hook.create_import("skus", [{"code": "O1", "name": "other"}]).id
    context = {"ti": FakeTaskInstance(dag_id="cl", task_id="import")}
    with pytest.raises(TaskDeferred) as deferred:
        operator(max_open_imports=3).execute(context)
    trigger = deferred.value.trigger
    assert len(trigger.sent_ids) == 2 and other in trigger.job_ids
    asyncio.run(restored(trigger).on_kill())
    statuses = {item["id"]: item["attributes"]["status"] for item in imports_of(commercelayer)}
    assert statuses.pop(other) == "pending" and set(statuses.values()) == {"interrupted"}
