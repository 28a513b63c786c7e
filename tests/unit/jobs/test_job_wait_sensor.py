"""The sensor base of every vendor: checked waiting parameters, the poke, the deferral, start in the triggerer."""

from __future__ import annotations

import datetime

import pytest

from airflow_provider_metrika.exceptions import MetrikaRetryableError, ProviderConfigError
from airflow_provider_metrika.jobs.record import JobRecord, JobState
from airflow_provider_metrika.jobs.sensor import JobWaitSensor
from airflow_provider_metrika.jobs.trigger import JobWaitTrigger
from airflow_provider_metrika.jobs.waiting import Waiter, judge_by_state
from airflow_provider_metrika.version_compat import AirflowException, TaskDeferred

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2
    from airflow import DAG

try:
    from airflow.providers.standard.operators.empty import EmptyOperator
except ImportError:  # Airflow 2
    from airflow.operators.empty import EmptyOperator


def job(state: JobState, job_id: str = "1") -> JobRecord:
    return JobRecord("acme", "things", "shop", job_id, state.value, state, {})


class AcmeWaitTrigger(JobWaitTrigger):
    vendor = "acme"

    def judge(self, record):
        return judge_by_state(record)


class AcmeSensor(JobWaitSensor):
    """A vendor as small as the base allows: polls answer from a list."""

    vendor = "acme"
    template_fields = ("job_id",)

    def __init__(self, *, job_id, answers=(), **kwargs):
        super().__init__(**kwargs)
        self.job_id = job_id
        self.answers = list(answers)
        self.prepare_start_in_triggerer()

    def make_waiter(self):
        return Waiter(vendor="acme", what="acme job", max_consecutive_failures=self.max_consecutive_failures)

    def poll(self, waiter):
        def fetch():
            answer = self.answers.pop(0)
            if isinstance(answer, BaseException):
                raise answer
            return [answer]

        return waiter.step(fetch)

    def wait_trigger(self):
        return AcmeWaitTrigger(conn_id="acme_default", scope="shop", job_ids=[self.job_id], **self.wait_kwargs())


class StartingAcmeSensor(AcmeSensor):
    def trigger_at_start(self):
        ids = self.ids_at_start("job_id", self.job_id)
        conn_id = self.known_at_start("conn_id", "acme_default")
        return AcmeWaitTrigger(conn_id=conn_id, scope="", job_ids=ids, **self.wait_kwargs())


def test_the_base_runs_in_reschedule_mode_with_the_kernels_settings():
    sensor = AcmeSensor(task_id="w", job_id="1", poke_interval=5, max_poll_interval=50, deferrable=True)
    assert sensor.mode == "reschedule" and sensor.deferrable is True
    assert (sensor.max_poll_interval, sensor.max_consecutive_failures) == (50, 10)
    assert AcmeSensor(task_id="w", job_id="1", mode="poke").mode == "poke"


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"poke_interval": 0}, "poke_interval"),
        ({"poke_interval": 10, "max_poll_interval": 5}, "max_poll_interval"),
        ({"timeout": -1}, "timeout"),
        ({"max_consecutive_failures": -1}, "max_consecutive_failures"),
        ({"max_consecutive_failures": 1.5}, "max_consecutive_failures"),
    ],
)
def test_bad_waiting_parameters_are_refused_by_name(kwargs, parameter):
    with pytest.raises(ProviderConfigError, match=parameter):
        AcmeSensor(task_id="w", job_id="1", **kwargs)


def test_pokes_share_one_failure_budget_within_a_try():
    error = MetrikaRetryableError(503, "unavailable", "down")
    sensor = AcmeSensor(task_id="w", job_id="1", max_consecutive_failures=2, answers=[error, job(JobState.RUNNING)])
    assert sensor.poke({}).is_done is False
    assert sensor.poke({}).is_done is False  # the answer resets the budget
    sensor.answers = [error, error]
    assert sensor.poke({}).is_done is False
    with pytest.raises(AirflowException, match="gave up after 2 consecutive failed polls"):
        sensor.poke({})


def test_a_terminal_poke_returns_the_jobs_result():
    done = AcmeSensor(task_id="w", job_id="1", answers=[job(JobState.SUCCESS)]).poke({})
    assert done.is_done and done.xcom_value["ids"] == ["1"] and done.xcom_value["vendor"] == "acme"


def test_a_deferrable_sensor_pokes_once_then_defers_with_its_settings():
    sensor = AcmeSensor(
        task_id="w", job_id="1", deferrable=True, poke_interval=7, timeout=90, end_from_trigger=True,
        answers=[job(JobState.RUNNING)],
    )  # fmt: skip
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute({})
    trigger = deferred.value.trigger
    assert (trigger.poll_interval, trigger.end_from_trigger, trigger.job_ids) == (7.0, True, ["1"])
    assert deferred.value.timeout == datetime.timedelta(seconds=90)
    assert sensor.execute_complete({}, {"status": "success", "result": {"ids": ["1"]}}) == {"ids": ["1"]}


def test_a_vendor_without_a_start_trigger_refuses_start_from_trigger():
    with pytest.raises(ProviderConfigError, match="start_from_trigger"):
        AcmeSensor(task_id="w", job_id="1", start_from_trigger=True)


def test_start_from_trigger_gives_the_scheduler_the_trigger_with_the_ids_to_render():
    with DAG("d", schedule=None, start_date=datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)):
        upstream = EmptyOperator(task_id="upstream")
        sensor = StartingAcmeSensor(task_id="w", job_id=["4", "5"], start_from_trigger=True, poke_interval=3)
    assert sensor.start_from_trigger is True
    kwargs = sensor.start_trigger_args.trigger_kwargs
    assert kwargs["job_ids"] == ["4", "5"] and kwargs["scope"] == "" and kwargs["poll_interval"] == 3
    assert upstream.task_id not in sensor.upstream_task_ids


@pytest.mark.parametrize("value", ["{{ params.conn }}", " {{ var.value.x }}"])
def test_what_the_trigger_takes_as_it_is_must_be_known_when_the_dag_is_parsed(value):
    with pytest.raises(ProviderConfigError, match="conn_id: start_from_trigger=True needs it known"):
        JobWaitSensor.known_at_start("conn_id", value)
    assert JobWaitSensor.known_at_start("conn_id", "acme_default") == "acme_default"
