"""Killing a deferred wait: Airflow's own trigger runner decides whether ``on_kill`` (``_interrupt``) runs.

Airflow 3.3 cancels a trigger with a user-action message when a user marks the deferred task failed or
succeeded or clears it, and only then awaits ``trigger.on_kill()``; a triggerer that stops (a restart, a
redistribution) cancels its triggers without that message. Airflow 2.11 has no trigger ``on_kill``. The
tests run the triggerer's real ``TriggerRunner.run_trigger`` on a stand-in runner.
"""

from __future__ import annotations

import asyncio
import collections

import pytest
from airflow.jobs import triggerer_job_runner

from airflow_provider_metrika.commercelayer.hooks import CommerceLayerHook
from airflow_provider_metrika.commercelayer.status import organization
from airflow_provider_metrika.commercelayer.triggers import CommerceLayerImportTrigger
from tests.integration.test_commercelayer_wait import GOOD

pytestmark = pytest.mark.integration
USER_ACTION = getattr(triggerer_job_runner, "_USER_ACTION_CANCEL_MSG", None)  # Airflow 3.3+


class Log:
    """Both log styles the runners use (structlog's awaited ``ainfo`` on 3.x, plain ``info`` on 2.11)."""

    def __getattr__(self, name):
        if name.startswith("a"):

            async def logged(*args, **kwargs):
                return None

            return logged
        return lambda *args, **kwargs: None


class StandInRunner:
    """Just what ``run_trigger`` reads from its runner."""

    def __init__(self):
        self.triggers = {1: {"name": "cl-wait", "events": 0}}
        self.events = collections.deque()
        self.log = Log()
        self._shared_streams = None

    def set_individual_trigger_logging(self, trigger):  # Airflow 2.11
        return None

    def mark_trigger_end(self, trigger):  # Airflow 2.11
        return None


@pytest.fixture
def open_import(commercelayer, commercelayer_conn):
    hook = CommerceLayerHook(commercelayer_conn)
    yield hook.create_import("skus", GOOD).id
    hook.close()


async def killed(trigger, message):
    """Run the trigger in Airflow's runner, let it poll, then cancel it as Airflow would."""

    class TaskInstance:  # what Airflow 2.11 reads on a cancel (3.3 takes None)
        trigger_timeout = None

    trigger.task_instance = None if USER_ACTION is not None else TaskInstance()
    runner = StandInRunner()
    task = asyncio.ensure_future(triggerer_job_runner.TriggerRunner.run_trigger(runner, 1, trigger))
    for _ in range(50):
        await asyncio.sleep(0.01)
    task.cancel(message) if message else task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    return runner


def status_of(commercelayer, import_id):
    return next(i for i in commercelayer.call("GET", "commercelayer/imports")["imports"] if i["id"] == import_id)[
        "attributes"
    ]["status"]


def trigger_for(conn_id, url, import_id, **kwargs):
    return CommerceLayerImportTrigger(
        conn_id=conn_id, scope=organization(url), job_ids=[import_id], poll_interval=60, **kwargs
    )


async def test_a_triggerer_that_stops_never_interrupts(
    commercelayer, commercelayer_process, commercelayer_conn, open_import, monkeypatch
):
    monkeypatch.setenv("AIRFLOW_DISABLE_GREENBACK_PORTAL", "true")
    await killed(trigger_for(commercelayer_conn, commercelayer_process.url, open_import), None)
    assert status_of(commercelayer, open_import) == "pending"


if USER_ACTION is not None:  # Airflow 2.11 never calls a trigger's on_kill: nothing to test there

    async def test_a_user_killing_the_task_interrupts_its_open_import(
        commercelayer, commercelayer_process, commercelayer_conn, open_import, monkeypatch
    ):
        monkeypatch.setenv("AIRFLOW_DISABLE_GREENBACK_PORTAL", "true")
        await killed(trigger_for(commercelayer_conn, commercelayer_process.url, open_import), USER_ACTION)
        assert status_of(commercelayer, open_import) == "interrupted"

    async def test_interrupt_on_kill_false_leaves_the_import_running(
        commercelayer, commercelayer_process, commercelayer_conn, open_import, monkeypatch
    ):
        monkeypatch.setenv("AIRFLOW_DISABLE_GREENBACK_PORTAL", "true")
        trigger = trigger_for(commercelayer_conn, commercelayer_process.url, open_import, interrupt_on_kill=False)
        await killed(trigger, USER_ACTION)
        assert status_of(commercelayer, open_import) == "pending"


async def test_on_kill_leaves_a_finished_import_alone(
    commercelayer, commercelayer_process, commercelayer_conn, open_import
):
    """The import finished between the last poll and the kill: nothing to interrupt, no error."""
    commercelayer.advance(20)
    await trigger_for(commercelayer_conn, commercelayer_process.url, open_import).on_kill()
    assert status_of(commercelayer, open_import) == "completed"
