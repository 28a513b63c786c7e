"""The kernel's retry decision for every vendor, fed the errors each vendor's hooks actually raise."""

from __future__ import annotations

import datetime
from types import SimpleNamespace

import pytest

from airflow_provider_metrika.commercelayer.hooks import JSON_API as COMMERCELAYER
from airflow_provider_metrika.commercelayer.operators import CommerceLayerImportOperator
from airflow_provider_metrika.commercelayer.sensors import CommerceLayerImportSensor
from airflow_provider_metrika.exceptions import (
    AmbiguousResponseError,
    ApiError,
    InputValidationError,
    ProviderConfigError,
)
from airflow_provider_metrika.fleetio.hooks import DIALECT as FLEETIO
from airflow_provider_metrika.fleetio.sensors import FleetioImportSensor
from airflow_provider_metrika.hooks.retry import error_from_response
from airflow_provider_metrika.jobs.task_retry import JobRetryPolicy, judge_failure
from airflow_provider_metrika.task_retry import MetrikaRetryPolicy
from airflow_provider_metrika.version_compat import AIRFLOW_RETRY_POLICY, AirflowException

NOW = datetime.datetime(2026, 3, 10, 20, 0, tzinfo=datetime.UTC)
CL_ERROR = '{"errors": [{"title": "is invalid", "detail": "inputs exceed 10000", "code": "VALIDATION_ERROR"}]}'
FLEETIO_ERROR = '{"errors": {"vehicle": ["not found"]}}'


def answer(dialect, status: int, body: str, path: str, headers: dict[str, str] | None = None) -> ApiError:
    """An error answer as the vendor's hooks read it: its dialect's error body and its rate-limit headers."""
    retry_after = dialect.retry_after(status, headers or {})
    return error_from_response(status, body, method="POST", path=path, dialect=dialect, retry_after=retry_after)


def commercelayer_error(status: int, headers: dict[str, str] | None = None) -> ApiError:
    return answer(COMMERCELAYER, status, CL_ERROR, "/api/imports", headers)


def fleetio_error(status: int, headers: dict[str, str] | None = None) -> ApiError:
    return answer(FLEETIO, status, FLEETIO_ERROR, "/api/v1/imports", headers)


@pytest.mark.parametrize(
    "error",
    [
        commercelayer_error(422),
        commercelayer_error(401),
        commercelayer_error(404),
        fleetio_error(404),
        fleetio_error(403),
    ],
    ids=["cl-422", "cl-401", "cl-404", "fleetio-404", "fleetio-403"],
)
def test_a_4xx_that_is_not_a_rate_limit_fails_now_naming_the_vendor(error):
    verdict = judge_failure(error, now=NOW)
    assert verdict.action == "fail" and error.service in verdict.reason and str(error.status) in verdict.reason


@pytest.mark.parametrize(
    "error",
    [ProviderConfigError("max_error_ratio=2: expected a number from 0 to 1"), InputValidationError("row 3: no code")],
)
def test_bad_input_fails_now(error):
    verdict = judge_failure(error, now=NOW)
    assert verdict.action == "fail" and type(error).__name__ in verdict.reason


def test_a_commerce_layer_rate_limit_retries_after_its_ratelimit_interval():
    error = commercelayer_error(429, {"X-Ratelimit-Limit": "50", "X-Ratelimit-Interval": "10"})
    verdict = judge_failure(error, now=NOW)
    assert verdict.action == "retry" and verdict.delay == datetime.timedelta(seconds=10)
    assert "Commerce Layer rate limit (429)" in verdict.reason


def test_a_fleetio_rate_limit_retries_after_its_retry_after():
    verdict = judge_failure(fleetio_error(429, {"Retry-After": "37"}), now=NOW)
    assert verdict.action == "retry" and verdict.delay == datetime.timedelta(seconds=37)
    assert "Fleetio" in verdict.reason


@pytest.mark.parametrize(
    "error",
    [
        commercelayer_error(429),  # no window announced: the task's own retry_delay
        fleetio_error(429),
        fleetio_error(503, {"Retry-After": "5"}),  # not a rate limit: a server having a bad minute
        commercelayer_error(502),
        ApiError(200, "invalid_response", "expected a 'records' list of objects", service="Fleetio"),
        AirflowException("gave up after 10 consecutive failed polls"),
    ],
    ids=["cl-429-bare", "fleetio-429-bare", "fleetio-503", "cl-502", "malformed", "wait-gave-up"],
)
def test_transient_failures_keep_the_tasks_own_retries(error):
    assert judge_failure(error, now=NOW).action == "default"


def test_a_rate_limit_a_wait_gave_up_on_is_found_through_the_cause():
    try:
        try:
            raise fleetio_error(429, {"Retry-After": "20"})
        except ApiError as error:
            raise AirflowException("polling gave up") from error
    except AirflowException as wrapped:
        verdict = judge_failure(wrapped, now=NOW)
    assert verdict.action == "retry" and verdict.delay == datetime.timedelta(seconds=20)


def test_a_lost_import_answer_retries_a_minute_later_at_the_soonest():
    error = AmbiguousResponseError("POST /api/imports failed after the request may have reached Commerce Layer")
    assert judge_failure(error, now=NOW).delay == datetime.timedelta(minutes=1)
    longer = judge_failure(error, now=NOW, task_retry_delay=datetime.timedelta(minutes=5))
    assert longer.action == "retry" and longer.delay == datetime.timedelta(minutes=5)


def test_only_metrika_knows_a_daily_quota():
    spent = ApiError(429, "quota_requests_by_uid", "Quota exceeded", service="Metrika")
    assert JobRetryPolicy(now=lambda: NOW).verdict(spent).action == "default"
    metrika = MetrikaRetryPolicy(now=lambda: NOW).verdict(spent)
    assert metrika.action == "retry" and metrika.delay == datetime.timedelta(hours=1, minutes=5)


def test_the_policy_is_the_default_of_every_commerce_layer_and_fleetio_task():
    tasks = [
        CommerceLayerImportOperator(task_id="i", resource_type="skus", rows=[{"code": "A"}]),
        CommerceLayerImportSensor(task_id="w", import_id="a1"),
        FleetioImportSensor(task_id="f", import_id="1"),
    ]
    for task in tasks:
        if AIRFLOW_RETRY_POLICY:
            assert type(task.retry_policy) is JobRetryPolicy
        else:  # Airflow 2.11: the task's own retries, as before
            assert getattr(task, "retry_policy", None) is None
    off = CommerceLayerImportSensor(task_id="off", import_id="a1", retry_policy=None)
    assert getattr(off, "retry_policy", None) is None


def test_an_explicit_policy_below_airflow_3_3_names_the_task():
    if AIRFLOW_RETRY_POLICY:
        mine = JobRetryPolicy()
        assert FleetioImportSensor(task_id="f", import_id="1", retry_policy=mine).retry_policy is mine
        return
    with pytest.raises(ProviderConfigError, match=r"FleetioImportSensor: retry_policy needs Airflow 3\.3"):
        FleetioImportSensor(task_id="f", import_id="1", retry_policy=object())


def test_the_airflow_policy_translates_the_verdict():
    policy = JobRetryPolicy(now=lambda: NOW)
    context = {"ti": SimpleNamespace(task=SimpleNamespace(retry_delay=datetime.timedelta(minutes=3)))}
    assert policy.serialize() == {"__type": "JobRetryPolicy"} and isinstance(
        JobRetryPolicy.deserialize({}), JobRetryPolicy
    )
    if not AIRFLOW_RETRY_POLICY:  # Airflow 2.11: there is no RetryDecision to return; nothing calls evaluate
        assert policy.verdict(commercelayer_error(422)).action == "fail"
        return
    from airflow.sdk import RetryAction

    fail = policy.evaluate(commercelayer_error(422), 1, 4, context)
    assert fail.action is RetryAction.FAIL and "422" in fail.reason
    wait = policy.evaluate(commercelayer_error(429, {"X-Ratelimit-Interval": "10"}), 1, 4, context)
    assert wait.action is RetryAction.RETRY and wait.retry_delay == datetime.timedelta(seconds=10)
    lost = policy.evaluate(AmbiguousResponseError("lost"), 1, 4, context)
    assert lost.retry_delay == datetime.timedelta(minutes=3)  # the task's own delay, longer than a minute
    assert policy.evaluate(commercelayer_error(503), 1, 4, context).action is RetryAction.DEFAULT
