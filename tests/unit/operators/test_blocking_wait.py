"""The worker-side wait rides out the same transient poll errors as the trigger; a 4xx fails it at once."""

from __future__ import annotations

import logging

import pytest
import requests

from airflow_provider_metrika.exceptions import MetrikaClientError, MetrikaConfigError, MetrikaRetryableError
from airflow_provider_metrika.jobs.waiting import DEFAULT_MAX_CONSECUTIVE_FAILURES as WAIT_DEFAULT
from airflow_provider_metrika.jobs.waiting import finish_wait, wait_blocking
from airflow_provider_metrika.triggers.uploading import DEFAULT_MAX_CONSECUTIVE_FAILURES
from airflow_provider_metrika.uploads import Uploading
from airflow_provider_metrika.version_compat import AirflowException, AirflowFailException
from airflow_provider_metrika.waiting import fetch_uploadings, metrika_waiter

LOG = logging.getLogger("test.wait")
BLIP = MetrikaRetryableError(503, "backend_error", "down", "GET", "/x")


def uploading(status):
    return Uploading.from_api("offline_conversions", 5, {"id": "1", "status": status, "comment": ""})


def blocking(hook, *, max_consecutive_failures=WAIT_DEFAULT, **kwargs):
    """Metrika's blocking wait on uploading 1: the kernel's wait_blocking with Metrika's waiter and fetch."""
    waiter = metrika_waiter(
        "offline_conversions", 5, ["1"], max_consecutive_failures=max_consecutive_failures, logger=LOG
    )
    return wait_blocking(fetch_uploadings(hook, "offline_conversions", 5, ["1"]), waiter, log=LOG, **kwargs)


def wait(hook, **kwargs):
    sleeps = []
    kwargs.setdefault("timeout", 10_000)
    event = blocking(hook, poll_interval=30, clock=lambda: 0.0, sleep=sleeps.append, **kwargs)
    return event, sleeps


def test_defaults_match_the_trigger():
    assert WAIT_DEFAULT == DEFAULT_MAX_CONSECUTIVE_FAILURES


@pytest.mark.parametrize("error", [BLIP, requests.ConnectionError("reset"), TimeoutError(), OSError("unreachable")])
def test_transient_errors_are_ridden_out(mocker, error):
    hook = mocker.Mock()
    hook.get_uploading.side_effect = [error, error, uploading("MATCHED"), error, uploading("PROCESSED")]
    event, sleeps = wait(hook, max_consecutive_failures=3)
    assert event["status"] == "success" and sleeps == [30] * 4


def test_consecutive_failures_give_up(mocker, caplog):
    hook = mocker.Mock()
    hook.get_uploading.side_effect = [uploading("MATCHED"), BLIP, BLIP, BLIP]
    with caplog.at_level(logging.WARNING, logger=LOG.name):
        event, _ = wait(hook, max_consecutive_failures=3)
    assert event["status"] == "error" and not event["terminal"]
    with pytest.raises(AirflowException) as info:
        finish_wait(event, LOG)
    assert not isinstance(info.value, AirflowFailException)  # a retry reattaches and waits again
    assert "gave up after 3 consecutive failed polls" in str(info.value) and "backend_error" in str(info.value)
    assert "(3/3 in a row)" in caplog.text


@pytest.mark.parametrize(
    "error", [MetrikaClientError(403, "access_denied", "no", "GET", "/x"), MetrikaConfigError("bad counter")]
)
def test_permanent_errors_fail_at_once(mocker, error):
    hook = mocker.Mock()
    hook.get_uploading.side_effect = [error, uploading("PROCESSED")]
    with pytest.raises(type(error)):
        wait(hook)
    assert hook.get_uploading.call_count == 1


def test_timeout_while_polls_fail_names_the_last_known_status(mocker):
    hook = mocker.Mock()
    hook.get_uploading.side_effect = [uploading("MATCHED"), BLIP]
    times = iter([0.0, 10.0, 20.0])
    with pytest.raises(AirflowException, match=r"timed out after 15s.*status MATCHED"):
        blocking(hook, poll_interval=10, timeout=15, clock=lambda: next(times), sleep=lambda s: None)
