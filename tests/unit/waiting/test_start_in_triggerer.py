"""The sensor started and ended in the triggerer: StartTriggerArgs, ids rendered there, the end of the task."""

from __future__ import annotations

import datetime

import pytest

from airflow_provider_metrika.exceptions import MetrikaConfigError
from airflow_provider_metrika.jobs import trigger_start
from airflow_provider_metrika.sensors.uploading import MetrikaUploadingSensor
from airflow_provider_metrika.triggers.uploading import MetrikaUploadingTrigger
from airflow_provider_metrika.version_compat import TaskDeferred, TriggerEvent
from tests.unit.waiting.conftest import make_uploading
from tests.unit.waiting.test_trigger import FakeAsyncHook, install, make_trigger, sleeps  # noqa: F401

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2
    from airflow import DAG

try:
    from airflow.providers.standard.operators.empty import EmptyOperator
except ImportError:  # Airflow 2
    from airflow.operators.empty import EmptyOperator

START = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)


def sensor_after_upload(**kwargs):
    with DAG("d", schedule=None, start_date=START):
        upload = EmptyOperator(task_id="upload")
        params = {"kind": "calls", "counter_id": 12345, "start_from_trigger": True, "end_from_trigger": True}
        return MetrikaUploadingSensor(task_id="wait", uploading_id=upload.output, **(params | kwargs))


def test_the_scheduler_gets_a_trigger_with_the_ids_as_a_template(monkeypatch):
    monkeypatch.setattr(trigger_start, "TRIGGER_RENDERS_TEMPLATES", True)
    sensor = sensor_after_upload(poke_interval=5, timeout=600, min_linked_ratio=0.5)
    args = sensor.start_trigger_args
    assert sensor.start_from_trigger is True
    assert args.trigger_cls == "airflow_provider_metrika.triggers.uploading.MetrikaUploadingTrigger"
    assert args.next_method == "execute_complete" and args.timeout == datetime.timedelta(seconds=600)
    kwargs = args.trigger_kwargs
    assert kwargs["job_ids"] == "{{ ti.xcom_pull(task_ids='upload', key='return_value', map_indexes=-1) | tojson }}"
    assert kwargs["scope"] == "12345" and kwargs["kind"] == "calls" and kwargs["end_from_trigger"] is True
    assert kwargs["poll_interval"] == 5 and kwargs["min_linked_ratio"] == 0.5
    assert "upload" in sensor.upstream_task_ids  # the XCom still orders the tasks


def test_without_start_from_trigger_nothing_starts_in_the_triggerer():
    sensor = sensor_after_upload(start_from_trigger=False)
    assert not sensor.start_from_trigger and sensor.start_trigger_args is None


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"kind": None}, "kind"),
        ({"kind": "{{ params.kind }}"}, "kind"),
        ({"counter_id": None}, "counter_id"),
        ({"counter_id": "{{ params.counter }}"}, "counter_id"),
        ({"counter_id": 0}, "counter_id"),
        ({"counter_id": True}, "counter_id"),
        ({"kind": "contacts"}, "kind"),  # a synchronous CDP upload has no status to wait on
    ],
)
def test_what_the_triggerer_cannot_learn_must_be_given(kwargs, parameter):
    with pytest.raises(MetrikaConfigError, match=parameter):
        sensor_after_upload(**kwargs)


def test_airflow_2_takes_only_ids_known_when_the_dag_is_parsed(monkeypatch):
    monkeypatch.setattr(trigger_start, "TRIGGER_RENDERS_TEMPLATES", False)
    with pytest.raises(MetrikaConfigError, match="uploading_id"):
        sensor_after_upload()
    sensor = MetrikaUploadingSensor(
        task_id="w", uploading_id=["7"], kind="calls", counter_id=5, start_from_trigger=True
    )
    assert sensor.start_trigger_args.trigger_kwargs["job_ids"] == ["7"]


def test_the_trigger_renders_the_upload_operators_xcom_of_any_shape():
    trigger = make_trigger(uploading_ids="{{ x }}")
    assert trigger.ids_from_rendered({"vendor": "metrika", "ids": ["3"], "jobs": []}) == ["3"]
    assert trigger.ids_from_rendered({"uploading_id": "4", "kind": "offline_conversions", "counter_id": 5}) == ["4"]
    assert trigger.serialize()[1]["job_ids"] == "{{ x }}"  # restarted triggerers render it again


async def test_an_unrendered_template_fails_the_wait_with_a_clear_error():
    with pytest.raises(MetrikaConfigError, match="not rendered"):
        await make_trigger(uploading_ids="{{ x }}").run().asend(None)


async def test_a_success_ends_the_task_in_the_triggerer(monkeypatch, sleeps):  # noqa: F811
    from airflow.triggers.base import TaskSuccessEvent

    install(monkeypatch, FakeAsyncHook([make_uploading("PROCESSED", linked_quantity=2)]))
    event = await make_trigger(end_from_trigger=True).run().asend(None)
    assert isinstance(event, TaskSuccessEvent)
    assert event.xcoms["return_value"]["jobs"][0]["counters"]["linked_quantity"] == 2


async def test_a_failure_resumes_on_a_worker_even_with_end_from_trigger(monkeypatch, sleeps):  # noqa: F811
    from airflow.triggers.base import BaseTaskEndEvent

    install(monkeypatch, FakeAsyncHook([make_uploading("LINKAGE_FAILURE", line_quantity=4)]))
    event = await make_trigger(end_from_trigger=True).run().asend(None)
    assert isinstance(event, TriggerEvent) and not isinstance(event, BaseTaskEndEvent)
    assert event.payload["status"] == "error" and event.payload["terminal"]


def test_end_from_trigger_is_serialized_only_when_set():
    assert "end_from_trigger" not in make_trigger().serialize()[1]
    _, kwargs = make_trigger(end_from_trigger=True).serialize()
    assert kwargs["end_from_trigger"] is True
    assert MetrikaUploadingTrigger(**kwargs).end_from_trigger is True


def test_a_deferring_sensor_hands_end_from_trigger_to_its_trigger(mocker):
    hook = mocker.Mock()
    hook.resolve_counter_id.side_effect = int
    hook.get_uploading.return_value = make_uploading("PREPARED")
    mocker.patch("airflow_provider_metrika.sensors.uploading.MetrikaHook", return_value=hook)
    sensor = MetrikaUploadingSensor(task_id="w", uploading_id="1", counter_id=5, deferrable=True, end_from_trigger=True)
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute({})
    assert deferred.value.trigger.end_from_trigger is True
