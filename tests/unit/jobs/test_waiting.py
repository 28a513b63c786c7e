"""The kernel's one wait step (Waiter), its events, finish_wait and the blocking wait, with no vendor involved."""

from __future__ import annotations

import logging

import pytest

from airflow_provider_metrika.exceptions import MetrikaClientError, MetrikaConfigError, MetrikaRetryableError
from airflow_provider_metrika.jobs.record import JobRecord, JobState
from airflow_provider_metrika.jobs.waiting import Verdict, Waiter, finish_wait, judge_by_state, wait_blocking
from airflow_provider_metrika.version_compat import AirflowException, AirflowFailException

LOG = logging.getLogger("test.jobs.waiting")
BLIP = MetrikaRetryableError(503, "backend_error", "busy", service="Acme")


def job(job_id="1", state=JobState.RUNNING, status="in_progress", **fields):
    return JobRecord("acme", "skus", "org", job_id, status, state, **fields)


def waiter(**kwargs):
    kwargs.setdefault("max_consecutive_failures", 3)
    return Waiter(vendor="acme", what="skus jobs 1 in org", logger=LOG, **kwargs)


@pytest.mark.parametrize(
    ("state", "running", "fails"),
    [
        (JobState.RUNNING, True, False),
        (JobState.SUCCESS, False, False),
        (JobState.PARTIAL, False, True),
        (JobState.FAILURE, False, True),
        (JobState.CANCELLED, False, True),
    ],
)
def test_judge_by_state(state, running, fails):
    verdict = judge_by_state(job(state=state, status=state.value))
    assert verdict.running is running and (verdict.failure is not None) is fails


def test_judge_by_state_names_the_issues_and_counts_the_rest():
    issues = [f"input {i}: code can't be blank" for i in range(8)]
    verdict = judge_by_state(job(state=JobState.PARTIAL, status="completed", issues=issues))
    assert "acme reports skus job 1 in org: status completed" in verdict.failure
    assert "input 4: code can't be blank" in verdict.failure and "input 5" not in verdict.failure
    assert "(and 3 more)" in verdict.failure


def test_observe_waits_while_any_runs_then_succeeds_with_a_jobs_result():
    w = waiter()
    assert w.observe([job("1", JobState.SUCCESS, "completed"), job("2")]) is None
    event = w.observe([job("1", JobState.SUCCESS, "completed"), job("2", JobState.SUCCESS, "completed")])
    assert (event["status"], event["terminal"]) == ("success", True)
    assert event["result"]["vendor"] == "acme" and event["result"]["ids"] == ["1", "2"]
    assert [j["state"] for j in event["result"]["jobs"]] == ["success", "success"]


def test_one_failed_job_ends_the_wait_at_once_terminally_with_what_was_seen():
    event = waiter().observe([job("1", JobState.FAILURE, "interrupted"), job("2")])
    assert (event["status"], event["terminal"]) == ("error", True)
    assert "status interrupted" in event["message"] and event["result"]["ids"] == ["1", "2"]


def test_a_judges_warnings_reach_the_event_and_the_result():
    def lenient(record):
        return Verdict(warnings=(f"{record.job_id} had 2 errors",))

    event = waiter(judge=lenient).observe([job("1", JobState.PARTIAL, "completed")])
    assert event["status"] == "success" and event["warnings"] == ["1 had 2 errors"]
    assert event["result"]["warnings"] == ["1 had 2 errors"]


def test_the_budget_counts_transient_failures_in_a_row_and_an_answer_resets_it(caplog):
    w = waiter()
    with caplog.at_level(logging.WARNING, logger=LOG.name):
        assert w.poll_failed(BLIP) is None and w.poll_failed(OSError("reset")) is None
    assert "(2/3 in a row)" in caplog.text
    assert w.observe([job()]) is None and w.failures == 0
    assert w.poll_failed(BLIP) is None and w.poll_failed(TimeoutError()) is None
    event = w.poll_failed(BLIP)
    assert (event["status"], event["terminal"]) == ("error", False)
    assert event["message"].startswith("skus jobs 1 in org: gave up after 3 consecutive failed polls")
    assert event["result"]["jobs"] == []


def test_no_budget_gives_up_at_the_first_failure():
    assert waiter(max_consecutive_failures=0).poll_failed(BLIP)["status"] == "error"


@pytest.mark.parametrize("error", [MetrikaClientError(404, "not_found", "gone"), MetrikaConfigError("bad id")])
def test_a_permanent_error_ends_the_wait_retryably(error):
    event = waiter().poll_failed(error)
    assert (event["status"], event["terminal"]) == ("error", False) and "polling stopped" in event["message"]


def test_a_bug_is_raised_not_turned_into_an_event():
    with pytest.raises(KeyError):
        waiter().poll_failed(KeyError("bug"))


def test_step_raises_permanent_errors_and_counts_transient_ones():
    w = waiter()
    with pytest.raises(MetrikaClientError):
        w.step(lambda: (_ for _ in ()).throw(MetrikaClientError(403, "forbidden", "no")))

    def blip():
        raise BLIP

    assert w.step(blip) is None and w.failures == 1
    assert w.step(lambda: [job()]) is None and w.failures == 0


def test_finish_wait_returns_the_result_or_fails_the_task(caplog):
    event = waiter(judge=lambda r: Verdict(warnings=("careful",))).observe([job(state=JobState.SUCCESS)])
    with caplog.at_level(logging.WARNING, logger=LOG.name):
        assert finish_wait(event, LOG) is event["result"]
    assert "careful" in caplog.text
    with pytest.raises(AirflowFailException):
        finish_wait(waiter().observe([job(state=JobState.FAILURE, status="failed")]), LOG)
    with pytest.raises(AirflowException) as retryable:
        finish_wait({"status": "error", "message": "gave up"}, LOG)
    assert not isinstance(retryable.value, AirflowFailException)
    with pytest.raises(AirflowException, match="carries no jobs result"):
        finish_wait({"status": "success", "message": "m"}, LOG)


def test_wait_blocking_polls_until_terminal_and_times_out_retryably():
    answers = iter([[job()], [job()], [job(state=JobState.SUCCESS, status="completed")]])
    sleeps = []
    event = wait_blocking(
        lambda: next(answers), waiter(), poll_interval=7, timeout=100, log=LOG, clock=lambda: 0.0, sleep=sleeps.append
    )
    assert event["status"] == "success" and sleeps == [7, 7]
    times = iter([0.0, 5.0, 11.0])
    with pytest.raises(AirflowException, match=r"timed out after 10s waiting for skus jobs 1 in org: .*in_progress"):
        wait_blocking(
            lambda: [job()],
            waiter(),
            poll_interval=5,
            timeout=10,
            log=LOG,
            clock=lambda: next(times),
            sleep=lambda s: None,
        )
