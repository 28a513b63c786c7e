"""The wait policy against the emulator: static calls, the minimum share of linked rows; poke, blocking wait
and trigger reach the same verdict."""

from __future__ import annotations

import time

import pytest

from airflow_provider_metrika.operators.upload import (
    MetrikaUploadCallsOperator,
    MetrikaUploadOfflineConversionsOperator,
)
from airflow_provider_metrika.sensors.uploading import MetrikaUploadingSensor
from airflow_provider_metrika.triggers.uploading import MetrikaUploadingTrigger
from airflow_provider_metrika.version_compat import AirflowFailException, TaskDeferred
from tests.reliability.support import COUNTER, TriggerTime, run_trigger
from tests.xcom import one_upload, only_job

pytestmark = pytest.mark.integration


def task_log(capsys) -> str:
    """What the task logged (Airflow's task logger writes to the console, not to caplog)."""
    out, err = capsys.readouterr()
    return out + err


def calls_file(path, static: list[int]):
    now = int(time.time()) - 600
    rows = "".join(f"unknown{i},{now - i},{flag}\n" for i, flag in enumerate(static))
    path.write_text("UserId,DateTime,StaticCall\n" + rows)
    return str(path)


def conversions_file(path, emulator, linked: int, unlinked: int):
    known = [f"crm-visitor-{i}" for i in range(linked)]
    emulator.add_visitors(known)
    now = int(time.time()) - 600
    ids = known + [f"unknown{i}" for i in range(unlinked)]
    path.write_text("UserId,Target,DateTime\n" + "".join(f"{uid},paid,{now - i}\n" for i, uid in enumerate(ids)))
    return str(path)


def test_static_calls_end_in_linkage_failure_and_the_task_succeeds_with_a_warning(
    metrika_conn, emulator, emulated_waits, context, tmp_path, capsys
):
    op = MetrikaUploadCallsOperator(
        task_id="calls", src=calls_file(tmp_path / "calls.csv", [1, 1, 1]), wait_for_completion=True
    )
    result = op.execute(context)
    assert result["warnings"] and "static calls are never linked" in result["warnings"][0]
    result = only_job(result)
    assert result["status"] == "LINKAGE_FAILURE" and result["static_calls_quantity"] == 3
    assert "static calls are never linked to visits" in task_log(capsys)


def test_calls_with_unlinked_dynamic_calls_still_fail(metrika_conn, emulator, emulated_waits, context, tmp_path):
    op = MetrikaUploadCallsOperator(
        task_id="calls", src=calls_file(tmp_path / "calls.csv", [1, 0]), wait_for_completion=True
    )
    with pytest.raises(AirflowFailException, match=r"LINKAGE_FAILURE.*dynamic_calls_quantity=1"):
        op.execute(context)


def test_linkage_failure_fail_fails_even_static_calls(metrika_conn, emulator, emulated_waits, context, tmp_path):
    op = MetrikaUploadCallsOperator(
        task_id="calls",
        src=calls_file(tmp_path / "calls.csv", [1]),
        wait_for_completion=True,
        linkage_failure="fail",
    )
    with pytest.raises(AirflowFailException, match="LINKAGE_FAILURE"):
        op.execute(context)


def test_low_linkage_fails_the_blocking_wait_with_the_counters(
    metrika_conn, emulator, emulated_waits, context, tmp_path
):
    op = MetrikaUploadOfflineConversionsOperator(
        task_id="up",
        src=conversions_file(tmp_path / "c.csv", emulator, linked=1, unlinked=9),
        wait_for_completion=True,
        min_linked_ratio=0.5,
    )
    expected = r"only 1 of 10 rows linked to visitors \(10.0%\).*min_linked_ratio=0.5"
    with pytest.raises(AirflowFailException, match=expected):
        op.execute(context)


def test_the_sensor_poke_reaches_the_same_verdicts(metrika_conn, emulator, context, tmp_path, capsys):
    src = conversions_file(tmp_path / "c.csv", emulator, linked=1, unlinked=9)
    xcom = MetrikaUploadOfflineConversionsOperator(task_id="up", src=src).execute(context)
    emulator.finish_all()
    strict = MetrikaUploadingSensor(task_id="w1", uploading_id=xcom, deferrable=False, min_linked_ratio=0.5)
    with pytest.raises(AirflowFailException, match="only 1 of 10"):
        strict.poke(context)
    lenient = MetrikaUploadingSensor(
        task_id="w2", uploading_id=xcom, deferrable=False, min_linked_ratio=0.5, on_low_linkage="warn"
    )
    done = lenient.poke(context)
    assert done.is_done and only_job(done.xcom_value)["linked_quantity"] == 1 and "only 1 of 10" in task_log(capsys)
    assert MetrikaUploadingSensor(task_id="w3", uploading_id=xcom, deferrable=False).poke(context).is_done


async def test_the_trigger_reaches_the_same_verdicts(metrika_conn, emulator, monkeypatch, context, tmp_path):
    static = MetrikaUploadCallsOperator(task_id="calls", src=calls_file(tmp_path / "calls.csv", [1, 1])).execute(
        context
    )
    low = MetrikaUploadOfflineConversionsOperator(
        task_id="up", src=conversions_file(tmp_path / "c.csv", emulator, linked=1, unlinked=3)
    ).execute(context)
    clock = TriggerTime(emulator).install(monkeypatch)

    def trigger(kind, uploading_id, **policy):
        return MetrikaUploadingTrigger(
            kind=kind, counter_id=COUNTER, uploading_ids=[uploading_id], poll_interval=60, **policy
        )

    low_event, restarts = await run_trigger(
        trigger("offline_conversions", one_upload(low)["uploading_id"], min_linked_ratio=0.5), clock, restart_after=1
    )
    assert restarts == 1  # rebuilt from serialize(): the policy travelled with it
    assert low_event["status"] == "error" and low_event["terminal"] and "only 1 of 4" in low_event["message"]
    calls_event, _ = await run_trigger(trigger("calls", one_upload(static)["uploading_id"]), clock)
    assert calls_event["status"] == "success" and "static calls" in calls_event["warnings"][0]


def test_a_deferrable_operator_hands_its_policy_to_the_trigger(metrika_conn, emulator, context, tmp_path):
    op = MetrikaUploadOfflineConversionsOperator(
        task_id="up",
        src=conversions_file(tmp_path / "c.csv", emulator, linked=1, unlinked=0),
        wait_for_completion=True,
        deferrable=True,
        min_linked_ratio=0.8,
        on_low_linkage="warn",
    )
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(context)
    _, kwargs = deferred.value.trigger.serialize()
    assert (kwargs["min_linked_ratio"], kwargs["on_low_linkage"], kwargs["linkage_failure"]) == (0.8, "warn", None)
