"""Waits ride out blips: injected 5xx while polling, on the worker (blocking wait) and in the trigger."""

from __future__ import annotations

import pytest

from airflow_provider_metrika.exceptions import MetrikaClientError
from airflow_provider_metrika.operators.upload import MetrikaUploadOfflineConversionsOperator
from airflow_provider_metrika.triggers.uploading import MetrikaUploadingTrigger
from airflow_provider_metrika.version_compat import AirflowException
from tests.integration.conftest import FakeTaskInstance
from tests.reliability.support import (
    COUNTER,
    GET_PATH,
    TriggerTime,
    conversions_csv,
    point_connection,
    run_trigger,
)
from tests.xcom import only_job

pytestmark = pytest.mark.integration
POLLS = r"/offline_conversions/uploading"  # the by-id GET and the list alike


@pytest.fixture
def conn(emulator, emulator_process, monkeypatch):
    """No hook-level retries: every injected 5xx reaches the wait's own failure budget."""
    return point_connection(monkeypatch, emulator_process.url, max_retries=0)


def operator(path, **kwargs):
    return MetrikaUploadOfflineConversionsOperator(
        task_id="up", src=str(path), wait_for_completion=True, deferrable=False, poll_interval=60, **kwargs
    )


def test_blocking_wait_rides_out_5xx(conn, emulator, emulated_waits, tmp_path):
    op = operator(conversions_csv(tmp_path / "c.csv"), max_consecutive_failures=4)
    emulator.inject_fault(method="GET", path=GET_PATH, action="status", status=503, times=3)
    result = op.execute({"ti": FakeTaskInstance()})
    assert only_job(result)["status"] == "PROCESSED" and emulated_waits[:3] == [60, 60, 60]


def test_blocking_wait_gives_up_after_n_in_a_row(conn, emulator, emulated_waits, tmp_path):
    op = operator(conversions_csv(tmp_path / "c.csv"), max_consecutive_failures=3)
    emulator.inject_fault(method="GET", path=GET_PATH, action="status", status=500, times=None)
    with pytest.raises(AirflowException, match="gave up after 3 consecutive failed polls"):
        op.execute({"ti": FakeTaskInstance()})
    assert len(emulated_waits) == 2


def test_blocking_wait_fails_at_once_on_a_4xx(conn, emulator, emulated_waits, tmp_path):
    op = operator(conversions_csv(tmp_path / "c.csv"))
    emulator.inject_fault(method="GET", path=GET_PATH, action="status", status=403, error_type="access_denied")
    with pytest.raises(MetrikaClientError, match="access_denied"):
        op.execute({"ti": FakeTaskInstance()})
    assert emulated_waits == []


def trigger_for(uploading_id, **kwargs):
    return MetrikaUploadingTrigger(
        kind="offline_conversions",
        counter_id=COUNTER,
        uploading_ids=[uploading_id],
        poll_interval=60,
        max_poll_interval=60,
        **kwargs,
    )


@pytest.fixture
def clock(emulator, monkeypatch):
    return TriggerTime(emulator).install(monkeypatch)


@pytest.fixture
def uploading_id(conn, tmp_path):
    return MetrikaUploadOfflineConversionsOperator(task_id="up", src=str(conversions_csv(tmp_path / "c.csv"))).execute(
        {"ti": FakeTaskInstance()}
    )["ids"][0]


@pytest.mark.parametrize("shared", [True, False])
async def test_trigger_rides_out_5xx(emulator, clock, uploading_id, shared):
    emulator.inject_fault(method="GET", path=POLLS, action="status", status=502, times=3)
    payload, _ = await run_trigger(trigger_for(uploading_id, max_consecutive_failures=4, shared=shared), clock)
    assert payload["status"] == "success" and only_job(payload["result"])["status"] == "PROCESSED"


async def test_trigger_gives_up_after_n_in_a_row(emulator, clock, uploading_id):
    emulator.inject_fault(method="GET", path=POLLS, action="status", status=503, times=None)
    payload, _ = await run_trigger(trigger_for(uploading_id, max_consecutive_failures=3), clock)
    assert payload["status"] == "error" and "gave up after 3 consecutive failed polls" in payload["message"]


async def test_trigger_rebuilt_from_serialize_mid_wait_finishes(emulator, clock, uploading_id):
    payload, restarts = await run_trigger(trigger_for(uploading_id), clock, restart_after=2)
    assert restarts == 1 and payload["status"] == "success"
    assert len(emulator.uploadings(kind="offline_conversions")) == 1
