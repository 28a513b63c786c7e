"""The wait policy: linkage failures (static calls) and the minimum share of linked rows, decided once."""

from __future__ import annotations

import logging

import pytest

from airflow_provider_metrika.exceptions import MetrikaConfigError
from airflow_provider_metrika.jobs.waiting import finish_wait
from airflow_provider_metrika.triggers.uploading import MetrikaUploadingTrigger
from airflow_provider_metrika.uploads import Uploading
from airflow_provider_metrika.version_compat import AirflowFailException
from airflow_provider_metrika.waiting import MetrikaJudge, WaitPolicy
from tests.unit.waiting.conftest import make_uploading, outcome

LOG = logging.getLogger("test")


def static_calls(status="LINKAGE_FAILURE", static=4, dynamic=0):
    return make_uploading(
        status,
        kind="calls",
        line_quantity=static + dynamic,
        linked_quantity=0,
        static_calls_quantity=static,
        dynamic_calls_quantity=dynamic,
    )


def test_static_calls_linkage_failure_only_warns_by_default():
    event = outcome([static_calls()])
    assert event["status"] == "success"
    (warning,) = event["warnings"]
    assert "LINKAGE_FAILURE" in warning and "static calls are never linked" in warning


def test_calls_with_dynamic_calls_that_did_not_link_fail_by_default():
    event = outcome([static_calls(static=2, dynamic=3)])
    assert event["status"] == "error" and event["terminal"]


@pytest.mark.parametrize("kind", ["offline_conversions", "chats", "user_params"])
def test_other_linkage_failures_fail_by_default(kind):
    status = "linkage_failure" if kind == "user_params" else "LINKAGE_FAILURE"
    assert outcome([make_uploading(status, kind=kind)])["status"] == "error"


def test_linkage_failure_fail_overrides_the_static_calls_default():
    event = outcome([static_calls()], WaitPolicy(linkage_failure="fail"))
    assert event["status"] == "error" and "LINKAGE_FAILURE" in event["message"]


def test_linkage_failure_warn_accepts_any_linkage_failure(caplog):
    event = outcome([make_uploading("LINKAGE_FAILURE", line_quantity=3)], WaitPolicy(linkage_failure="warn"))
    assert event["status"] == "success" and "accepted (linkage_failure='warn')" in event["warnings"][0]
    with caplog.at_level(logging.WARNING):
        assert finish_wait(event, LOG)["jobs"][0]["status"] == "LINKAGE_FAILURE"
    assert "linkage_failure='warn'" in caplog.text


def test_a_cdp_failure_is_never_softened():
    failed = Uploading.from_api("orders", 5, {"uploading_id": "u", "api_validation_status": "FAILED"})
    assert MetrikaJudge(WaitPolicy(linkage_failure="warn"))(failed.to_record()).failure is not None


def test_low_linkage_fails_with_the_counters():
    uploading = make_uploading("PROCESSED", line_quantity=100, linked_quantity=3)
    event = outcome([uploading], WaitPolicy(min_linked_ratio=0.5))
    assert event["status"] == "error" and event["terminal"]
    assert "only 3 of 100 rows linked" in event["message"] and "3.0%" in event["message"]
    assert "min_linked_ratio=0.5" in event["message"] and "line_quantity=100" in event["message"]
    with pytest.raises(AirflowFailException, match="only 3 of 100"):
        finish_wait(event, LOG)


def test_low_linkage_can_only_warn():
    uploading = make_uploading("PROCESSED", line_quantity=100, linked_quantity=3)
    event = outcome([uploading], WaitPolicy(min_linked_ratio=0.5, on_low_linkage="warn"))
    assert event["status"] == "success" and "only 3 of 100" in event["warnings"][0]


@pytest.mark.parametrize(
    ("counters", "ratio"),
    [
        ({"line_quantity": 100, "linked_quantity": 50}, 0.5),  # exactly the minimum passes
        ({"line_quantity": "10", "linked_quantity": "10"}, 1.0),  # counters as text
        ({"line_quantity": 0, "linked_quantity": 0}, 0.9),  # nothing could link: nothing to judge
    ],
)
def test_enough_linkage_passes_silently(counters, ratio):
    event = outcome([make_uploading("PROCESSED", **counters)], WaitPolicy(min_linked_ratio=ratio))
    assert event["status"] == "success" and event["warnings"] == []


def test_calls_ratio_counts_only_dynamic_calls():
    uploading = make_uploading(
        "PROCESSED",
        kind="calls",
        line_quantity=10,
        linked_quantity=2,
        static_calls_quantity=8,
        dynamic_calls_quantity=2,
    )
    assert outcome([uploading], WaitPolicy(min_linked_ratio=0.9))["status"] == "success"


def test_missing_counters_cannot_be_judged_and_say_so():
    event = outcome([make_uploading("PROCESSED")], WaitPolicy(min_linked_ratio=0.5))
    assert event["status"] == "error" and "reports no linked_quantity" in event["message"]


def test_a_warned_linkage_failure_still_meets_the_ratio_check():
    uploading = make_uploading("LINKAGE_FAILURE", line_quantity=4, linked_quantity=0)
    event = outcome([uploading], WaitPolicy(linkage_failure="warn", min_linked_ratio=0.25))
    assert event["status"] == "error" and "only 0 of 4" in event["message"]


def test_static_calls_have_nothing_that_could_link():
    event = outcome([static_calls()], WaitPolicy(min_linked_ratio=0.5))
    assert event["status"] == "success"


def test_the_policy_waits_while_any_is_running():
    assert outcome([static_calls(), make_uploading("MATCHED", "2")], WaitPolicy(min_linked_ratio=0.1)) is None


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"linkage_failure": "ignore"}, "linkage_failure"),
        ({"on_low_linkage": "skip"}, "on_low_linkage"),
        ({"min_linked_ratio": 1.5}, "min_linked_ratio"),
        ({"min_linked_ratio": -0.1}, "min_linked_ratio"),
        ({"min_linked_ratio": "half"}, "min_linked_ratio"),
        ({"min_linked_ratio": True}, "min_linked_ratio"),
    ],
)
def test_bad_policy_values_are_config_errors(kwargs, match):
    with pytest.raises(MetrikaConfigError, match=match):
        WaitPolicy(**kwargs)


def test_the_trigger_carries_the_policy_through_serialization():
    trigger = MetrikaUploadingTrigger(
        kind="calls", counter_id=5, uploading_ids=["1"], linkage_failure="fail", min_linked_ratio=0.3
    )
    _, kwargs = trigger.serialize()
    assert kwargs["linkage_failure"] == "fail" and kwargs["min_linked_ratio"] == 0.3
    assert MetrikaUploadingTrigger(**kwargs).policy == trigger.policy
