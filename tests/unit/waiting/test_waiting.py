"""Metrika's side of the wait: which uploadings a sensor waits on, its waiter's events and the blocking wait."""

import logging

import pytest

from airflow_provider_metrika.exceptions import MetrikaClientError, MetrikaConfigError
from airflow_provider_metrika.jobs.waiting import finish_wait, wait_blocking
from airflow_provider_metrika.sensors.uploading import target_from
from airflow_provider_metrika.version_compat import AirflowException, AirflowFailException
from airflow_provider_metrika.waiting import fetch_uploadings, metrika_waiter, require_pollable
from tests.unit.waiting.conftest import make_uploading, outcome

LOG = logging.getLogger("test")


def jobs_result_of(*uploadings):
    return finish_wait(outcome(list(uploadings)), LOG)


@pytest.mark.parametrize(
    ("value", "ids"),
    [
        (7, ["7"]),
        (" 8 ", ["8"]),
        (["1", 2], ["1", "2"]),
        ({"uploading_id": "9", "kind": "calls"}, ["9"]),  # the XCom shapes of earlier versions
        ([{"uploading_id": 1}, {"uploading_id": 2}], ["1", "2"]),
        ({"uploadings": [{"uploading_id": 3}]}, ["3"]),
    ],
)
def test_target_ids(value, ids):
    assert target_from(value, "calls", 5)[2] == ids


def test_target_reads_kind_and_counter_from_a_jobs_result():
    result = jobs_result_of(
        make_uploading("PROCESSED", "4", kind="calls", counter_id=8),
        make_uploading("PROCESSED", "5", kind="calls", counter_id=8),
    )
    assert target_from(result, None, None) == ("calls", "8", ["4", "5"])
    assert target_from(result["jobs"][1], None, None) == ("calls", "8", ["5"])
    assert target_from(result, "calls", 9)[1] == 9  # the caller's counter wins


@pytest.mark.parametrize("value", [None, "", [], "  ", {"status": "x"}, 1.5])
def test_target_rejects_garbage_naming_the_parameter(value):
    with pytest.raises(MetrikaConfigError, match="uploading_id"):
        target_from(value, "calls", 5)


def test_require_pollable_refuses_cdp_kinds():
    assert require_pollable("calls") == "calls"
    with pytest.raises(MetrikaConfigError, match="synchronously"):
        require_pollable("contacts")


def test_outcome_waits_while_any_is_running():
    assert outcome([make_uploading("PROCESSED"), make_uploading("MATCHED", "2")]) is None


def test_outcome_success_when_all_succeeded():
    event = outcome([make_uploading("PROCESSED", linked_quantity=3)])
    assert event["status"] == "success" and event["terminal"]
    assert event["result"]["jobs"][0]["counters"]["linked_quantity"] == 3


def test_outcome_fails_at_once_on_any_failure():
    event = outcome(
        [make_uploading("LINKAGE_FAILURE", line_quantity=4, linked_quantity=0), make_uploading("MATCHED", "2")]
    )
    assert event["status"] == "error" and event["terminal"]
    assert "LINKAGE_FAILURE" in event["message"] and "line_quantity=4" in event["message"]
    assert "visitor" in event["message"]
    assert event["result"]["ids"] == ["1", "2"]  # the failed wait still reports what it saw


def test_finish_wait_returns_a_jobs_result_also_for_one_uploading():
    one = jobs_result_of(make_uploading("PROCESSED"))
    assert one["vendor"] == "metrika" and one["ids"] == ["1"]
    job = one["jobs"][0]
    assert (job["kind"], job["scope"], job["id"], job["status"], job["state"]) == (
        "offline_conversions",
        "5",
        "1",
        "PROCESSED",
        "success",
    )
    assert job["extra"] == {"comment": "c"}
    two = jobs_result_of(make_uploading("PROCESSED"), make_uploading("PROCESSED", "2"))
    assert two["ids"] == ["1", "2"] and [j["id"] for j in two["jobs"]] == ["1", "2"]


def test_finish_wait_raises_fail_exception_with_message():
    with pytest.raises(AirflowFailException, match="LINKAGE_FAILURE"):
        finish_wait(outcome([make_uploading("LINKAGE_FAILURE")]), LOG)
    with pytest.raises(AirflowException, match="failed") as err:
        finish_wait({"status": "error"}, LOG)
    assert not isinstance(err.value, AirflowFailException)  # not terminal: a retry may reattach


def wait(hook, **kwargs):
    waiter = metrika_waiter("offline_conversions", 5, ["1"], max_consecutive_failures=kwargs.pop("failures", 10))
    params = dict(poll_interval=30, timeout=1000, log=LOG, clock=lambda: 0.0, sleep=lambda s: None)
    params.update(kwargs)
    return wait_blocking(fetch_uploadings(hook, "offline_conversions", 5, ["1"]), waiter, **params)


def test_wait_blocking_polls_until_terminal(mocker):
    hook = mocker.Mock()
    hook.get_uploading.side_effect = [
        make_uploading("PREPARED"),
        make_uploading("MATCHED"),
        make_uploading("PROCESSED"),
    ]
    sleeps = []
    event = wait(hook, sleep=sleeps.append)
    assert event["status"] == "success" and sleeps == [30, 30]
    hook.get_uploading.assert_called_with("offline_conversions", 5, "1")


def test_wait_blocking_times_out_naming_the_last_status(mocker):
    hook = mocker.Mock()
    hook.get_uploading.return_value = make_uploading("MATCHED")
    times = iter([0.0, 10.0, 20.0])
    with pytest.raises(
        AirflowException, match=r"timed out after 15s.*offline_conversions uploadings 1 of counter 5.*MATCHED"
    ):
        wait(hook, poll_interval=10, timeout=15, clock=lambda: next(times))


def test_wait_blocking_raises_a_permanent_error_as_it_is(mocker):
    hook = mocker.Mock()
    hook.get_uploading.side_effect = MetrikaClientError(403, "access_denied", "no rights")
    with pytest.raises(MetrikaClientError):
        wait(hook)


def test_wait_blocking_raises_a_bug_as_it_is(mocker):
    hook = mocker.Mock()
    hook.get_uploading.side_effect = KeyError("bug")
    with pytest.raises(KeyError):
        wait(hook)


def test_target_refuses_another_vendors_jobs_result():
    from airflow_provider_metrika.jobs.record import JobRecord, JobState, jobs_result

    fleetio = jobs_result("fleetio", [JobRecord("fleetio", "vehicles", "acct", "9", "complete", JobState.SUCCESS)])
    with pytest.raises(MetrikaConfigError, match="uploading_id: the upstream jobs are 'fleetio' jobs"):
        target_from(fleetio, None, None)
