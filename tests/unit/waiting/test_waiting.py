import logging

import pytest

from airflow_provider_metrika.exceptions import MetrikaConfigError
from airflow_provider_metrika.version_compat import AirflowException, AirflowFailException
from airflow_provider_metrika.waiting import (
    finish_wait,
    normalize_uploading_ids,
    outcome,
    require_pollable,
    wait_blocking,
    xcom_result,
)
from tests.unit.waiting.conftest import make_uploading

LOG = logging.getLogger("test")


@pytest.mark.parametrize(
    ("value", "ids"),
    [
        (7, ["7"]),
        (" 8 ", ["8"]),
        (["1", 2], ["1", "2"]),
        ({"uploading_id": "9", "kind": "calls"}, ["9"]),
        ([{"uploading_id": 1}, {"uploading_id": 2}], ["1", "2"]),
        ({"uploadings": [{"uploading_id": 3}]}, ["3"]),
    ],
)
def test_normalize_uploading_ids(value, ids):
    assert normalize_uploading_ids(value) == ids


@pytest.mark.parametrize("value", [None, "", [], "  ", {"status": "x"}, 1.5])
def test_normalize_uploading_ids_rejects_garbage(value):
    with pytest.raises(MetrikaConfigError, match="uploading_id"):
        normalize_uploading_ids(value)


def test_require_pollable_refuses_cdp_kinds():
    assert require_pollable("calls") == "calls"
    with pytest.raises(MetrikaConfigError, match="synchronously"):
        require_pollable("contacts")


def test_outcome_waits_while_any_is_running():
    assert outcome([make_uploading("PROCESSED"), make_uploading("MATCHED", "2")]) is None


def test_outcome_success_when_all_succeeded():
    event = outcome([make_uploading("PROCESSED", linked_quantity=3)])
    assert event["status"] == "success"
    assert event["uploadings"][0]["linked_quantity"] == 3


def test_outcome_fails_at_once_on_any_failure():
    event = outcome(
        [make_uploading("LINKAGE_FAILURE", line_quantity=4, linked_quantity=0), make_uploading("MATCHED", "2")]
    )
    assert event["status"] == "error"
    assert "LINKAGE_FAILURE" in event["message"] and "line_quantity=4" in event["message"]
    assert "visitor" in event["message"]


def test_finish_wait_returns_single_dict_or_list():
    one = outcome([make_uploading("PROCESSED")])
    assert finish_wait(one, LOG)["uploading_id"] == "1"
    two = outcome([make_uploading("PROCESSED"), make_uploading("PROCESSED", "2")])
    assert [u["uploading_id"] for u in finish_wait(two, LOG)] == ["1", "2"]
    assert xcom_result([]) == []


def test_finish_wait_raises_fail_exception_with_message():
    with pytest.raises(AirflowFailException, match="LINKAGE_FAILURE"):
        finish_wait(outcome([make_uploading("LINKAGE_FAILURE")]), LOG)
    with pytest.raises(AirflowException, match="failed") as err:
        finish_wait({"status": "error"}, LOG)
    assert not isinstance(err.value, AirflowFailException)  # not terminal: a retry may reattach


def test_wait_blocking_polls_until_terminal(mocker):
    hook = mocker.Mock()
    hook.get_uploading.side_effect = [
        make_uploading("PREPARED"),
        make_uploading("MATCHED"),
        make_uploading("PROCESSED"),
    ]
    sleeps = []
    event = wait_blocking(
        hook,
        "offline_conversions",
        5,
        ["1"],
        poll_interval=30,
        timeout=1000,
        log=LOG,
        clock=lambda: 0.0,
        sleep=sleeps.append,
    )
    assert event["status"] == "success" and sleeps == [30, 30]


def test_wait_blocking_times_out(mocker):
    hook = mocker.Mock()
    hook.get_uploading.return_value = make_uploading("MATCHED")
    times = iter([0.0, 10.0, 20.0])
    with pytest.raises(AirflowException, match="timed out after 15s"):
        wait_blocking(
            hook,
            "offline_conversions",
            5,
            ["1"],
            poll_interval=10,
            timeout=15,
            log=LOG,
            clock=lambda: next(times),
            sleep=lambda s: None,
        )
