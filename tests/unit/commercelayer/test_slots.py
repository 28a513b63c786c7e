"""Free import slots: counting, the slot wait's verdicts, its trigger, and each branch of the operator (no server)."""

from __future__ import annotations

import asyncio
import time
from unittest import mock

import pytest

from airflow_provider_metrika.commercelayer import api, slots
from airflow_provider_metrika.commercelayer import triggers as triggers_module
from airflow_provider_metrika.commercelayer.operators import CommerceLayerImportOperator
from airflow_provider_metrika.commercelayer.slots import OpenSlots, SlotWaiter
from airflow_provider_metrika.commercelayer.triggers import CommerceLayerOpenSlotTrigger
from airflow_provider_metrika.exceptions import ApiClientError, ApiRetryableError
from airflow_provider_metrika.jobs.record import JobRecord, JobState
from airflow_provider_metrika.version_compat import AirflowException, TaskDeferred

SCOPE = "acme.commercelayer.io"


def record(job_id: str, state: JobState) -> JobRecord:
    return JobRecord("commercelayer", "skus", SCOPE, job_id, state.value, state, {})


def fake_hook(*counts):
    hook = mock.Mock()
    hook.open_imports.side_effect = list(counts)
    hook.settings.base_url = f"https://{SCOPE}"
    return hook


# -- OpenSlots -----------------------------------------------------------------------------------------------


def test_a_count_is_reused_until_this_task_may_have_filled_the_slots():
    hook = fake_hook((0, []), (2, ["a", "b"]))
    taken = OpenSlots(hook, 2, mock.Mock())
    assert taken.try_take() and taken.try_take()  # one count: 0 open, two slots
    assert hook.open_imports.call_count == 1
    assert not taken.try_take() and taken.oldest == ["a", "b"] and taken.needed == 1


def test_needed_counts_the_imports_queued_beyond_the_limit():
    taken = OpenSlots(fake_hook((13, ["a"])), 10, mock.Mock())
    assert not taken.try_take() and taken.needed == 4


def test_the_blocking_take_pauses_until_a_slot_is_free(monkeypatch):
    pauses = []
    monkeypatch.setattr(slots.waiting, "pause", pauses.append)
    taken = OpenSlots(fake_hook((2, ["a", "b"]), (1, ["b"])), 2, mock.Mock())
    taken.take(7, time.monotonic() + 60)
    assert pauses == [7] and taken.estimate == 2


def test_the_blocking_take_gives_up_at_its_deadline(monkeypatch):
    monkeypatch.setattr(slots.waiting, "pause", lambda seconds: None)
    taken = OpenSlots(fake_hook((2, ["a", "b"])), 2, mock.Mock())
    with pytest.raises(AirflowException, match="timed out waiting for one of the 2 open"):
        taken.take(7, time.monotonic() - 1)


# -- the slot wait -------------------------------------------------------------------------------------------


def waiter(ids=("a", "b"), needed=1):
    return SlotWaiter(list(ids), needed, SCOPE, 3, mock.Mock())


def test_the_wait_goes_on_until_enough_imports_ended():
    wait = waiter(needed=2)
    assert wait.observe([record("a", JobState.SUCCESS), record("b", JobState.RUNNING)]) is None
    event = wait.observe([record("a", JobState.SUCCESS), record("b", JobState.CANCELLED)])
    assert event["status"] == "success" and "a slot is free" in event["message"]


def test_a_failed_import_of_another_task_frees_a_slot_and_does_not_fail_this_task():
    event = waiter().observe([record("a", JobState.PARTIAL), record("b", JobState.RUNNING)])
    assert event["status"] == "success"


def test_needed_is_at_most_the_imports_watched():
    assert waiter(ids=("a",), needed=5).needed == 1 and waiter(ids=(), needed=0).needed == 1


def test_an_import_that_is_gone_frees_its_slot():
    gone = ApiClientError(404, "RECORD_NOT_FOUND", "no import a", service="Commerce Layer")
    assert waiter().poll_failed(gone)["status"] == "success"


def test_transient_poll_errors_are_ridden_out_and_a_refusal_ends_the_wait():
    wait = waiter()
    assert wait.poll_failed(ApiRetryableError(503, "unavailable", "busy")) is None
    refused = wait.poll_failed(ApiClientError(403, "FORBIDDEN", "no", service="Commerce Layer"))
    assert refused["status"] == "error" and refused["terminal"] is False


# -- the trigger ---------------------------------------------------------------------------------------------


def slot_trigger(**kwargs):
    options = {"conn_id": "cl", "scope": SCOPE, "job_ids": ["a", "b"], "slots_needed": 1, "sent_ids": ["mine"]}
    return CommerceLayerOpenSlotTrigger(**{**options, **kwargs})


def test_the_trigger_serializes_its_policy_and_is_rebuilt_from_it():
    classpath, kwargs = slot_trigger().serialize()
    assert classpath.endswith("triggers.CommerceLayerOpenSlotTrigger")
    assert kwargs["slots_needed"] == 1 and kwargs["sent_ids"] == ["mine"] and kwargs["interrupt_on_kill"] is True
    again = CommerceLayerOpenSlotTrigger(**kwargs)
    assert again.serialize() == (classpath, kwargs) and isinstance(again.waiter(), SlotWaiter)
    assert again.judge(record("a", JobState.RUNNING)).running and not again.judge(record("a", JobState.SUCCESS)).running


@pytest.mark.parametrize(
    ("kwargs", "interrupted"),
    [({}, ["mine"]), ({"interrupt_on_kill": False}, None), ({"sent_ids": []}, None)],
    ids=["its-own-imports", "asked-not-to", "nothing-sent-yet"],
)
def test_on_kill_interrupts_only_the_imports_the_task_sent(monkeypatch, kwargs, interrupted):
    calls = []

    class Hook:
        def __init__(self, conn_id):
            pass

        async def __aenter__(self):
            return self

        async def __aexit__(self, *exc):
            return None

    async def interrupt_open(hook, ids, log):
        calls.append(ids)
        return ids

    monkeypatch.setattr(triggers_module, "CommerceLayerAsyncHook", Hook)
    monkeypatch.setattr(triggers_module, "interrupt_open", interrupt_open)
    asyncio.run(slot_trigger(**kwargs).on_kill())
    assert calls == ([interrupted] if interrupted else [])


# -- the operator's branches ---------------------------------------------------------------------------------


def import_operator(hook, **kwargs):
    op = CommerceLayerImportOperator(task_id="t", resource_type="skus", rows=[], max_open_imports=2, **kwargs)
    op.__dict__["hook"] = hook
    return op


def test_not_deferrable_waits_on_the_worker(monkeypatch):
    pauses = []
    monkeypatch.setattr(slots.waiting, "pause", pauses.append)
    op = import_operator(fake_hook((2, ["a", "b"]), (0, [])), deferrable=False, poll_interval=3)
    op.take_slot()
    assert pauses == [3]


def test_deferrable_with_a_free_slot_sends_at_once():
    import_operator(fake_hook((1, ["a"])), deferrable=True).take_slot()


def test_deferrable_without_a_free_slot_defers_to_the_slot_trigger():
    op = import_operator(fake_hook((3, ["a", "b", "c"])), deferrable=True, wait_timeout=600)
    op._sent_ids, op._sent_by_mark = ["a"], {"afm1": "a"}
    with pytest.raises(TaskDeferred) as deferred:
        op.take_slot()
    trigger = deferred.value.trigger
    assert isinstance(trigger, CommerceLayerOpenSlotTrigger) and trigger.job_ids == ["a", "b", "c"]
    assert trigger.slots_needed == 2 and trigger.sent_ids == ["a"] and trigger.scope == SCOPE
    assert deferred.value.method_name == "resume_sending" and deferred.value.kwargs["sent"] == {"afm1": "a"}
    assert 590 < deferred.value.timeout.total_seconds() <= 600
    assert abs(deferred.value.kwargs["slot_deadline"] - (time.time() + 600)) < 10


def test_deferrable_counted_full_but_none_listed_counts_again_on_the_worker(monkeypatch):
    pauses = []
    monkeypatch.setattr(slots.waiting, "pause", pauses.append)
    hook = fake_hook((2, []), (2, []), (1, ["a"]))
    import_operator(hook, deferrable=True, poll_interval=4).take_slot()
    assert pauses == [4] and hook.open_imports.call_count == 3


def test_deferrable_past_its_deadline_fails_retryably():
    op = import_operator(fake_hook((2, ["a", "b"])), deferrable=True)
    op._slot_deadline = time.time() - 1
    with pytest.raises(AirflowException, match="timed out waiting for one of the 2 open"):
        op.take_slot()


@pytest.mark.parametrize("event", [{"status": "error", "message": "polling stopped: 403"}, None, "x"])
def test_a_failed_slot_wait_fails_the_try(event):
    op = import_operator(fake_hook())
    with pytest.raises(AirflowException, match="waiting for a free Commerce Layer import slot failed"):
        op.resume_sending({}, event)


def test_a_resume_sends_again_with_what_the_deferral_carried(monkeypatch):
    op = import_operator(fake_hook())
    sent = mock.Mock(return_value={"ids": []})
    monkeypatch.setattr(op, "send_and_report", sent)
    assert op.resume_sending({"x": 1}, {"status": "success"}, slot_deadline=123.0, sent={"afm1": "a"}) == {"ids": []}
    sent.assert_called_once_with({"x": 1})
    assert op._slot_deadline == 123.0 and op._resumed == {"afm1": "a"}


def imported(job_id, status="completed", reference="afm1-p1of2"):
    return api.CommerceLayerImport.from_resource(
        {"type": "imports", "id": job_id, "attributes": {"status": status, "reference": reference}}
    )


@pytest.mark.parametrize(
    ("found", "reused"),
    [
        ({"a": imported("a")}, True),
        ({"a": imported("a", status="interrupted")}, False),
        ({"a": imported("a", reference="afm9-p1of2")}, False),
        ({}, False),
    ],
    ids=["as-sent", "interrupted", "another-reference", "gone"],
)
def test_a_resume_reads_its_sent_parts_back_and_searches_for_the_others(found, reused):
    hook = fake_hook()
    hook.imports_by_id.return_value = found
    hook.iter_imports.return_value = iter([])
    op = import_operator(hook)
    op._resumed = {"afm1": "a", "afm2": "b"}
    result = op.find_sent("afm1")
    assert (result is not None and result.job_id == "a") is reused
    assert hook.iter_imports.called is not reused
    op.find_sent("afm2")
    assert hook.imports_by_id.call_count == 1  # every part sent before the deferral in one read
