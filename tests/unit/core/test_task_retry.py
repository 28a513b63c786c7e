"""The task retry policy: which failures fail at once, which wait for the quota reset, which back off."""

from __future__ import annotations

import datetime
from types import SimpleNamespace

import pytest

from airflow_provider_metrika.exceptions import (
    MetrikaAmbiguousResponseError,
    MetrikaClientError,
    MetrikaConfigError,
    MetrikaNoRowsError,
    MetrikaRetryableError,
    MetrikaValidationError,
)
from airflow_provider_metrika.operators.cdp import MetrikaUploadContactsOperator
from airflow_provider_metrika.operators.upload import MetrikaUploadOfflineConversionsOperator
from airflow_provider_metrika.sensors.uploading import MetrikaUploadingSensor
from airflow_provider_metrika.task_retry import (
    MetrikaRetryPolicy,
    judge_failure,
    next_quota_reset,
    retry_policy_kwargs,
)
from airflow_provider_metrika.version_compat import AIRFLOW_RETRY_POLICY, AirflowException

UTC = datetime.UTC
EVENING = datetime.datetime(2026, 3, 10, 20, 0, tzinfo=UTC)  # 23:00 in Moscow
NIGHT = datetime.datetime(2026, 3, 10, 22, 30, tzinfo=UTC)  # 01:30 in Moscow: Moscow's midnight has passed


def quota(status=429, error_type="quota_requests_by_uid"):
    return MetrikaRetryableError(status, error_type, "Quota exceeded", "POST", "/upload")


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (EVENING, datetime.datetime(2026, 3, 10, 21, 0, tzinfo=UTC)),  # midnight in Moscow comes first
        (NIGHT, datetime.datetime(2026, 3, 11, 0, 0, tzinfo=UTC)),  # then midnight GMT
        (datetime.datetime(2026, 3, 11, 0, 0, tzinfo=UTC), datetime.datetime(2026, 3, 11, 21, 0, tzinfo=UTC)),
    ],
)
def test_next_quota_reset_is_the_next_midnight_in_moscow_or_gmt(now, expected):
    assert next_quota_reset(now) == expected


def test_next_quota_reset_in_one_zone():
    assert next_quota_reset(EVENING, ("Europe/Moscow",)) == datetime.datetime(2026, 3, 10, 21, 0, tzinfo=UTC)
    assert next_quota_reset(NIGHT, ("Europe/Moscow",)) == datetime.datetime(2026, 3, 11, 21, 0, tzinfo=UTC)


def test_next_quota_reset_needs_an_aware_time():
    with pytest.raises(ValueError, match="aware"):
        next_quota_reset(datetime.datetime(2026, 3, 10, 20, 0))


@pytest.mark.parametrize(
    "error",
    [
        MetrikaConfigError("counter_id must be an integer"),
        MetrikaValidationError("conv.csv row 2 column DateTime: in the future"),
        MetrikaNoRowsError("no rows"),
        MetrikaClientError(400, "invalid_parameter", "bad", "POST", "/upload"),
        MetrikaClientError(403, "access_denied", "no access", "POST", "/upload"),
        MetrikaClientError(404, "not_found", "no counter", "GET", "/counter"),
    ],
    ids=["config", "validation", "no-rows", "400", "403", "404"],
)
def test_bad_input_and_4xx_fail_without_retries(error):
    verdict = judge_failure(error, now=EVENING)
    assert verdict.action == "fail" and verdict.delay is None
    assert type(error).__name__ in verdict.reason or str(error.status) in verdict.reason


@pytest.mark.parametrize("error_type", ["quota_requests_by_uid", "quota_requests_by_counter_id"])
@pytest.mark.parametrize("status", [429, 420])
def test_a_spent_daily_quota_retries_after_the_reset(error_type, status):
    verdict = judge_failure(quota(status, error_type), now=EVENING)
    assert verdict.action == "retry"
    assert verdict.delay == datetime.timedelta(hours=1, minutes=5)  # 21:00 UTC + the margin
    assert error_type in verdict.reason and "21:05" in verdict.reason


def test_a_daily_quota_a_wait_gave_up_on_is_found_through_the_cause():
    try:
        try:
            raise quota()
        except MetrikaRetryableError as error:
            raise AirflowException("gave up after 5 consecutive failed polls") from error
    except AirflowException as wrapped:
        verdict = judge_failure(wrapped, now=NIGHT)
    assert verdict.action == "retry" and verdict.delay == datetime.timedelta(hours=1, minutes=35)


def test_a_rate_limit_that_is_not_daily_keeps_the_tasks_own_retries():
    assert judge_failure(quota(429, "quota_parallel_requests"), now=EVENING).action == "default"


@pytest.mark.parametrize(
    "error",
    [MetrikaRetryableError(503, "backend_error", "down"), AirflowException("poll failed"), OSError("reset")],
)
def test_transient_failures_keep_the_tasks_own_retries(error):
    assert judge_failure(error, now=EVENING).action == "default"


def test_an_ambiguous_upload_retries_a_minute_later_at_the_soonest():
    error = MetrikaAmbiguousResponseError("POST /upload failed after the request may have reached Metrika")
    assert judge_failure(error, now=EVENING).delay == datetime.timedelta(minutes=1)
    short = judge_failure(error, now=EVENING, task_retry_delay=datetime.timedelta(seconds=5))
    assert short.action == "retry" and short.delay == datetime.timedelta(minutes=1)
    long = judge_failure(error, now=EVENING, task_retry_delay=datetime.timedelta(minutes=10))
    assert long.delay == datetime.timedelta(minutes=10)


def test_an_unknown_time_zone_fails_when_the_dag_is_parsed():
    with pytest.raises(Exception, match="Mars"):
        MetrikaRetryPolicy(quota_reset_zones=("Mars/Olympus",))


def test_operators_and_the_sensor_carry_the_policy_where_airflow_has_it():
    tasks = [
        MetrikaUploadOfflineConversionsOperator(task_id="u", src="a.csv"),
        MetrikaUploadContactsOperator(task_id="c", src="a.csv", merge_mode="SAVE"),
        MetrikaUploadingSensor(task_id="w", uploading_id="1"),
    ]
    for task in tasks:
        if AIRFLOW_RETRY_POLICY:
            assert isinstance(task.retry_policy, MetrikaRetryPolicy)
        else:  # Airflow 2.11: the task's own retries, as before
            assert getattr(task, "retry_policy", None) is None
    off = MetrikaUploadOfflineConversionsOperator(task_id="off", src="a.csv", retry_policy=None)
    assert getattr(off, "retry_policy", None) is None


def test_an_explicit_policy_below_airflow_3_3_is_an_error_not_ignored():
    if AIRFLOW_RETRY_POLICY:
        mine = MetrikaRetryPolicy(quota_reset_zones=("UTC",))
        assert retry_policy_kwargs(mine, "op") == {"retry_policy": mine}
    else:
        with pytest.raises(MetrikaConfigError, match=r"op: retry_policy needs Airflow 3\.3"):
            retry_policy_kwargs(object(), "op")
        assert retry_policy_kwargs(None, "op") == {}


def test_the_airflow_policy_translates_the_verdict():
    policy = MetrikaRetryPolicy(now=lambda: EVENING)
    context = {"ti": SimpleNamespace(task=SimpleNamespace(retry_delay=datetime.timedelta(minutes=3)))}
    if not AIRFLOW_RETRY_POLICY:  # Airflow 2.11: there is no RetryDecision to return; nothing calls evaluate
        assert policy.quota_reset_zones == ("Europe/Moscow", "UTC")
        return
    from airflow.sdk import RetryAction

    fail = policy.evaluate(MetrikaClientError(400, "invalid_parameter", "bad"), 1, 4, context)
    assert fail.action is RetryAction.FAIL and "400" in fail.reason
    later = policy.evaluate(quota(), 1, 4, context)
    assert later.action is RetryAction.RETRY and later.retry_delay == datetime.timedelta(hours=1, minutes=5)
    lost = policy.evaluate(MetrikaAmbiguousResponseError("lost"), 1, 4, context)
    assert lost.action is RetryAction.RETRY and lost.retry_delay == datetime.timedelta(minutes=3)
    assert policy.evaluate(OSError("reset"), 1, 4, None).action is RetryAction.DEFAULT
    assert MetrikaRetryPolicy.deserialize(policy.serialize()).quota_reset_zones == policy.quota_reset_zones
