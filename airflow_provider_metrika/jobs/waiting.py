"""The one wait step: the sensor's poke, the worker-side blocking wait and the trigger all go through it.

A :class:`Waiter` is fed each poll's job records (or the poll's error) and says when the wait is over, as
the event payload a trigger fires (https://airflow.apache.org/docs/apache-airflow/stable/authoring-and-scheduling/deferring.html):
``{"status": "success" | "error", "terminal": bool, "message": str, "warnings": [...], "result": JobsResult}``.
It holds the wait's only failure budget: transient poll errors (a 5xx or a quota answer past the hook's own
retries, a network error) are ridden out up to ``max_consecutive_failures`` in a row; a permanent one (a 4xx,
a config error) ends the wait at once. Each vendor says what a terminal job means through its ``Judge``.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from airflow_provider_metrika.hooks.retry import PERMANENT_ERRORS, TRANSIENT_ERRORS
from airflow_provider_metrika.jobs.record import JobRecord, JobsResult, JobState, jobs_result
from airflow_provider_metrika.parameters import check_count, check_poll_intervals, check_seconds
from airflow_provider_metrika.version_compat import AirflowException, AirflowFailException, default_deferrable

#: Transient poll failures tolerated in a row (the sensors', operators' and triggers' default).
DEFAULT_MAX_CONSECUTIVE_FAILURES = 10

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Verdict:
    """What one job means for the wait: still running, or terminal, failed or not, with warnings.

    A ``failure`` fails the task without retries: the vendor will not change its mind.
    """

    running: bool = False
    failure: str | None = None
    warnings: tuple[str, ...] = ()


Judge = Callable[[JobRecord], Verdict]


def judge_by_state(record: JobRecord) -> Verdict:
    """The default judge: RUNNING runs, SUCCESS succeeds, PARTIAL, FAILURE and CANCELLED fail."""
    if record.state is JobState.RUNNING:
        return Verdict(running=True)
    if record.state is JobState.SUCCESS:
        return Verdict()
    text = f"{record.vendor} reports {record.describe()}"
    if record.issues:
        text += ": " + "; ".join(record.issues[:5])
        if record.issues_total > 5:
            text += f" (and {record.issues_total - 5} more)"
    return Verdict(failure=text)


def is_transient(error: BaseException) -> bool:
    """A poll error worth another poll (the failure budget decides how many)."""
    return isinstance(error, TRANSIENT_ERRORS) and not isinstance(error, PERMANENT_ERRORS)


@dataclasses.dataclass(frozen=True)
class WaitSettings:
    """The waiting parameters every waiting task takes (a sensor, a sending operator's wait), checked.

    Checked before the task is built, so a wrong value fails with its parameter's name (rather than
    Airflow's own message), then set on the task by :meth:`apply`.
    """

    deferrable: bool
    max_poll_interval: float | None
    max_consecutive_failures: int

    @classmethod
    def checked(
        cls,
        deferrable: bool | None,
        max_poll_interval: Any,
        max_consecutive_failures: Any,
        *,
        interval: tuple[str, Any],
        timeout: tuple[str, Any],
    ) -> WaitSettings:
        """The settings once every value is checked: ``interval`` and ``timeout`` are ``(parameter name, value)``
        (a sensor's ``poke_interval``, an operator's ``poll_interval``); ``deferrable=None`` follows
        ``[operators] default_deferrable``. Zero failures allowed gives up at the first."""
        check_poll_intervals(interval[1], max_poll_interval, name=interval[0])
        check_seconds(*timeout)
        check_count("max_consecutive_failures", max_consecutive_failures, minimum=0)
        deferrable = default_deferrable() if deferrable is None else deferrable
        return cls(deferrable, max_poll_interval, max_consecutive_failures)

    def apply(self, task: Any) -> None:
        """Set ``deferrable``, ``max_poll_interval`` and ``max_consecutive_failures`` on ``task``."""
        task.deferrable = self.deferrable
        task.max_poll_interval = self.max_poll_interval
        task.max_consecutive_failures = self.max_consecutive_failures


class Waiter:
    """Feed it each poll's records or error; it says when the wait is over. Holds the failure budget.

    :param judge: the vendor's policy for one job (:func:`judge_by_state` by default)
    :param vendor: the vendor's name, for the result and the messages
    :param what: the jobs waited on, in words (``"calls uploadings 1, 2 of counter 5"``)
    :param max_consecutive_failures: transient poll errors tolerated in a row; at that many the wait gives up
        (retryably: a retry reattaches to the same jobs). 0 gives up at the first.
    :param describe: one job in the vendor's words, for messages (:meth:`JobRecord.describe` by default)
    """

    def __init__(
        self,
        judge: Judge = judge_by_state,
        *,
        vendor: str,
        what: str,
        max_consecutive_failures: int = DEFAULT_MAX_CONSECUTIVE_FAILURES,
        logger: logging.Logger | logging.LoggerAdapter[Any] | None = None,
        describe: Callable[[JobRecord], str] = JobRecord.describe,
    ) -> None:
        self.judge = judge
        self.describe = describe
        self.vendor = vendor
        self.what = what
        self.max_consecutive_failures = int(max_consecutive_failures)
        self.failures = 0
        #: The last poll's answer in words (what a timeout reports).
        self.last = "no poll answered yet"
        self.log = logger or log

    def observe(self, records: Sequence[JobRecord]) -> dict[str, Any] | None:
        """The event once every job is terminal (or one failed), else None (keep waiting)."""
        self.failures = 0
        verdicts = [self.judge(record) for record in records]
        warnings = [warning for verdict in verdicts for warning in verdict.warnings]
        failures = [v.failure for v in verdicts if v.failure is not None]
        self.last = "; ".join(self.describe(record) for record in records)
        if failures:  # one failed job fails the wait at once
            return self._event("error", "; ".join(failures), records, warnings, terminal=True)
        if any(v.running for v in verdicts):
            return None
        return self._event("success", self.last, records, warnings, terminal=True)

    def poll_failed(self, error: BaseException) -> dict[str, Any] | None:
        """A poll failed: the error event at once when it is permanent; None until the budget is spent.

        An error that is neither (a bug) is raised again: the task fails with its traceback.
        """
        if isinstance(error, PERMANENT_ERRORS):
            return self._event("error", f"{self.what}: polling stopped: {error}", (), [], terminal=False)
        if not is_transient(error):
            raise error
        self.failures += 1
        self.log.warning(
            "Transient error polling %s (%d/%d in a row): %s",
            self.vendor,
            self.failures,
            self.max_consecutive_failures,
            error,
        )
        if self.failures < self.max_consecutive_failures:
            return None
        message = f"{self.what}: gave up after {self.failures} consecutive failed polls; last error: {error}"
        return self._event("error", message, (), [], terminal=False)

    def step(self, fetch: Callable[[], Sequence[JobRecord]]) -> dict[str, Any] | None:
        """One synchronous poll (a sensor's poke, one turn of :func:`wait_blocking`).

        A permanent error is raised as it is (it names the request that failed), so is a bug; a transient one
        counts against the budget.
        """
        try:
            records = fetch()
        except Exception as error:
            if isinstance(error, PERMANENT_ERRORS):
                raise
            return self.poll_failed(error)
        return self.observe(records)

    def _event(
        self,
        status: str,
        message: str,
        records: Sequence[JobRecord],
        warnings: list[str],
        *,
        terminal: bool,
    ) -> dict[str, Any]:
        return {
            "status": status,
            "terminal": terminal,
            "message": message,
            "warnings": list(warnings),
            "result": jobs_result(self.vendor, records, warnings=warnings),
        }


def finish_wait(event: Mapping[str, Any], log: logging.Logger | logging.LoggerAdapter[Any]) -> JobsResult:
    """Turn a wait's event (from a poke, a blocking wait or a trigger) into the task's result, or fail the task.

    A terminal failure fails without retries: sending the same data again would not change the vendor's
    verdict. Anything else (polling gave up, a rejected credential) fails this try only: a retry reattaches
    to the same jobs and waits again.
    """
    if event.get("status") != "success":
        message = str(event.get("message") or "the wait failed")
        raise AirflowFailException(message) if event.get("terminal") else AirflowException(message)
    for warning in event.get("warnings") or ():
        log.warning("%s", warning)
    result = event.get("result")
    if not isinstance(result, Mapping):  # an event of an earlier version's trigger: a retry waits again
        raise AirflowException(f"the wait's event carries no jobs result ({sorted(map(str, event))}); retry the task")
    log.info("Finished: %s", event.get("message"))
    return result  # type: ignore[return-value]


def pause(seconds: float) -> None:
    """The worker-side wait between polls (a seam for tests that drive an emulator's clock)."""
    time.sleep(seconds)


def wait_blocking(
    fetch: Callable[[], Sequence[JobRecord]],
    waiter: Waiter,
    *,
    poll_interval: float,
    timeout: float,
    log: logging.Logger | logging.LoggerAdapter[Any],
    clock: Callable[[], float] | None = None,
    sleep: Callable[[float], None] | None = None,
) -> dict[str, Any]:
    """Poll on the worker until the waiter says the wait is over (the non-deferrable path); its event.

    Raises :class:`AirflowException` (retryable) when ``timeout`` seconds pass first.
    """
    clock = clock or time.monotonic
    sleep = sleep or pause
    deadline = clock() + timeout
    while True:
        event = waiter.step(fetch)
        if event is not None:
            return event
        if waiter.failures == 0:
            log.info("Still processing: %s", waiter.last)
        if clock() >= deadline:
            raise AirflowException(f"timed out after {timeout:.0f}s waiting for {waiter.what}: {waiter.last}")
        sleep(poll_interval)
