import pytest

from airflow_provider_metrika.exceptions import MetrikaConfigError
from airflow_provider_metrika.sensors import uploading as sensor_module
from airflow_provider_metrika.sensors.uploading import MetrikaUploadingSensor
from airflow_provider_metrika.triggers.uploading import MetrikaUploadingTrigger
from airflow_provider_metrika.version_compat import AirflowException, AirflowFailException, TaskDeferred
from tests.unit.waiting.conftest import make_uploading


@pytest.fixture
def hook(mocker):
    instance = mocker.Mock()
    instance.resolve_counter_id.side_effect = lambda value: int(value) if value not in (None, "") else 99
    mocker.patch.object(sensor_module, "MetrikaHook", return_value=instance)
    return instance


def make_sensor(**kwargs):
    params = dict(task_id="wait", uploading_id="1", counter_id=5, poke_interval=30)
    params.update(kwargs)
    return MetrikaUploadingSensor(**params)


def test_defaults():
    sensor = make_sensor()
    assert sensor.timeout == 3 * 3600
    assert sensor.mode == "reschedule"
    assert sensor.deferrable is False  # [operators] default_deferrable is False by default


def test_deferrable_default_follows_config(monkeypatch):
    monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", "True")
    assert make_sensor().deferrable is True


def test_poke_not_done_while_processing(hook):
    hook.get_uploading.return_value = make_uploading("MATCHED")
    assert make_sensor().poke({}).is_done is False
    hook.get_uploading.assert_called_once_with("offline_conversions", 5, "1")


def test_poke_done_pushes_counters(hook):
    hook.get_uploading.return_value = make_uploading("PROCESSED", linked_quantity=7)
    result = make_sensor().poke({})
    assert result.is_done and result.xcom_value["ids"] == ["1"]
    assert result.xcom_value["jobs"][0]["counters"]["linked_quantity"] == 7


def test_poke_fails_on_linkage_failure(hook):
    hook.get_uploading.return_value = make_uploading("LINKAGE_FAILURE", line_quantity=3, linked_quantity=0)
    with pytest.raises(AirflowFailException, match=r"LINKAGE_FAILURE.*line_quantity=3"):
        make_sensor().poke({})


def test_kind_and_counter_come_from_a_jobs_result(hook):
    hook.get_uploading.return_value = make_uploading("PROCESSED", kind="calls", counter_id=8)
    upstream = make_sensor(kind="calls", counter_id=8).poke({}).xcom_value
    hook.get_uploading.reset_mock()
    sensor = make_sensor(uploading_id=upstream, counter_id=None)
    assert sensor.poke({}).is_done
    hook.get_uploading.assert_called_once_with("calls", 8, "1")


def test_kind_and_counter_come_from_operator_xcom(hook):
    hook.get_uploading.return_value = make_uploading("PROCESSED", kind="calls", counter_id=8)
    sensor = make_sensor(uploading_id={"uploading_id": "4", "kind": "calls", "counter_id": 8}, counter_id=None)
    assert sensor.poke({}).is_done
    hook.get_uploading.assert_called_once_with("calls", 8, "4")


def test_cdp_kind_is_refused(hook):
    with pytest.raises(MetrikaConfigError, match="synchronously"):
        make_sensor(kind="contacts").poke({})


def test_deferrable_pokes_once_then_defers(hook):
    hook.get_uploading.return_value = make_uploading("PREPARED")
    sensor = make_sensor(deferrable=True, uploading_id=["1", "2"], max_poll_interval=300)
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute({})
    trigger = deferred.value.trigger
    assert isinstance(trigger, MetrikaUploadingTrigger)
    assert trigger.uploading_ids == ["1", "2"] and trigger.counter_id == 5
    assert trigger.poll_interval == 30 and trigger.max_poll_interval == 300
    assert deferred.value.method_name == "execute_complete"
    assert deferred.value.timeout.total_seconds() == 3 * 3600
    assert hook.get_uploading.call_count == 2  # the one poke before deferring


def test_deferrable_returns_at_once_when_already_done(hook):
    hook.get_uploading.return_value = make_uploading("PROCESSED")
    assert make_sensor(deferrable=True).execute({})["jobs"][0]["status"] == "PROCESSED"


def test_execute_complete_success_and_failure():
    sensor = make_sensor()
    result = {"vendor": "metrika", "ids": ["1"], "jobs": [], "warnings": []}
    ok = {"status": "success", "terminal": True, "message": "m", "warnings": [], "result": result}
    assert sensor.execute_complete({}, ok) == result
    with pytest.raises(AirflowException, match="carries no jobs result"):
        sensor.execute_complete({}, {"status": "success", "message": "m", "uploadings": []})
    with pytest.raises(AirflowException, match="gave up"):
        sensor.execute_complete({}, {"status": "error", "message": "gave up after 10 polls"})


def test_poke_rides_out_transient_errors_then_gives_up_retryably(hook):
    from airflow_provider_metrika.exceptions import MetrikaRetryableError

    blip = MetrikaRetryableError(503, "backend_error", "busy")
    hook.get_uploading.side_effect = [blip, make_uploading("MATCHED"), blip, blip]
    sensor = make_sensor(max_consecutive_failures=2)
    assert sensor.poke({}).is_done is False  # 1 in a row
    assert sensor.poke({}).is_done is False  # answered: the count starts again
    assert sensor.poke({}).is_done is False  # 1 in a row
    with pytest.raises(AirflowException, match="gave up after 2 consecutive failed polls") as err:
        sensor.poke({})
    assert not isinstance(err.value, AirflowFailException)  # a retry may reattach and wait again


def test_poke_fails_at_once_on_a_client_error(hook):
    from airflow_provider_metrika.exceptions import MetrikaClientError

    hook.get_uploading.side_effect = MetrikaClientError(403, "access_denied", "no rights")
    with pytest.raises(MetrikaClientError):
        make_sensor().poke({})


def test_polling_give_up_event_fails_retryably_but_terminal_status_does_not():
    sensor = make_sensor()
    with pytest.raises(AirflowException) as err:
        sensor.execute_complete({}, {"status": "error", "message": "gave up after 10 polls"})
    assert not isinstance(err.value, AirflowFailException)
    with pytest.raises(AirflowFailException):
        sensor.execute_complete({}, {"status": "error", "terminal": True, "message": "LINKAGE_FAILURE"})
