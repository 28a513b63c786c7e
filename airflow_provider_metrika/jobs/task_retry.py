"""A task retry policy that knows the vendors' APIs, for every vendor's tasks (Airflow 3.3+ ``retry_policy``).

Airflow 3.3 lets a task carry a retry policy that looks at the exception and decides to fail at once,
retry after a given delay, or fall back to ``retries``/``retry_delay``
(https://airflow.apache.org/docs/apache-airflow/stable/core-concepts/tasks.html#retry-policies).
The policy can only shorten the retries, never add to them. Each vendor's operators and sensors default
it on where Airflow has the API; below 3.3 they keep the task's own retry settings.

The decision reads the provider's exception types, which every vendor's hooks raise alike:

- bad input (a parameter, the connection, the data) and a 4xx answer other than a rate limit cannot
  succeed on a retry: fail now;
- a spent quota that resets at a known time (a vendor's fact: Metrika's daily quotas) retries after that reset;
- a rate limit (429/420) retries once the server's window has passed: the wait it announced, which the hooks
  read from its headers (Commerce Layer's ``X-Ratelimit-Interval``, ``Retry-After`` elsewhere); without
  one, the task's own retries;
- a send whose answer was lost retries no sooner than a minute later, so the retry's search for the job's
  fingerprint finds what the vendor stored in the meantime.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Callable, Iterator
from typing import Any

from airflow_provider_metrika.exceptions import (
    AmbiguousResponseError,
    ApiClientError,
    ApiError,
    ApiRetryableError,
    InputValidationError,
    ProviderConfigError,
)
from airflow_provider_metrika.version_compat import AIRFLOW_RETRY_POLICY, RetryDecision, RetryPolicy

#: The soonest retry after a send whose answer was lost.
AMBIGUOUS_SEND_DELAY = datetime.timedelta(minutes=1)
#: The statuses of a rate limit (420: Metrika's "enhance your calm").
RATE_LIMIT_STATUSES = frozenset({420, 429})
#: Failures no retry can fix (the data, a parameter, the connection).
INPUT_ERRORS = (ProviderConfigError, InputValidationError)

#: A vendor's fact: when a spent quota this error reports resets (None: not such a quota).
QuotaReset = Callable[[ApiError, datetime.datetime], datetime.datetime | None]


def no_quota(error: ApiError, now: datetime.datetime) -> datetime.datetime | None:
    """A vendor whose API has no quota that resets at a known time."""
    return None


@dataclasses.dataclass(frozen=True)
class RetryVerdict:
    """What a failure calls for: ``fail`` now, ``retry`` after ``delay``, or the task's ``default`` retries."""

    action: str
    reason: str | None = None
    delay: datetime.timedelta | None = None


def causes(error: BaseException) -> Iterator[BaseException]:
    """The error and what it was raised from (a wait wraps the API error it gave up on)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def judge_failure(
    exception: BaseException,
    *,
    now: datetime.datetime,
    task_retry_delay: datetime.timedelta | None = None,
    quota_reset: QuotaReset = no_quota,
) -> RetryVerdict:
    """The verdict for a failed try (pure: the Airflow-facing policy only translates it)."""
    for error in causes(exception):
        if isinstance(error, INPUT_ERRORS):
            return RetryVerdict("fail", f"{type(error).__name__}: a retry with the same input cannot succeed")
        if isinstance(error, ApiError):
            reset = quota_reset(error, now)
            if reset is not None:
                reason = (
                    f"{error.service}: {error.error_type} spent, retrying after the reset, {reset:%Y-%m-%d %H:%M} UTC"
                )
                return RetryVerdict("retry", reason, max(reset - now, datetime.timedelta(0)))
        if isinstance(error, ApiRetryableError) and error.status in RATE_LIMIT_STATUSES and error.retry_after:
            delay = datetime.timedelta(seconds=error.retry_after)
            reason = f"{error.service} rate limit ({error.status}): retrying after its window, {error.retry_after:g} s"
            return RetryVerdict("retry", reason, delay)
        if isinstance(error, ApiClientError):
            return RetryVerdict("fail", f"{error.service} answered {error.status} {error.error_type}: not retryable")
        if isinstance(error, AmbiguousResponseError):
            delay = max(AMBIGUOUS_SEND_DELAY, task_retry_delay or AMBIGUOUS_SEND_DELAY)
            return RetryVerdict("retry", "the send's answer was lost: retrying once the vendor has stored it", delay)
    return RetryVerdict("default")


def task_retry_delay(context: Any) -> datetime.timedelta | None:
    """The failed task's own ``retry_delay`` (the ambiguous-send retry waits at least this long)."""
    ti = context.get("ti") if hasattr(context, "get") else None
    delay = getattr(getattr(ti, "task", None), "retry_delay", None)
    return delay if isinstance(delay, datetime.timedelta) else None


class JobRetryPolicy(RetryPolicy):  # type: ignore[misc,valid-type]
    """Airflow's ``retry_policy`` for the provider's tasks: :func:`judge_failure` as a ``RetryDecision``.

    The default of the Commerce Layer and Fleetio tasks (their APIs' own facts reach it through the errors
    their hooks raise); a vendor with more facts subclasses it (Metrika's daily quotas).

    :param now: clock returning an aware datetime (tests)
    """

    def __init__(self, now: Callable[[], datetime.datetime] | None = None) -> None:
        self._now = now or (lambda: datetime.datetime.now(datetime.UTC))

    def quota_reset(self, error: ApiError, now: datetime.datetime) -> datetime.datetime | None:
        """When a spent quota this error reports resets (a vendor's fact; none by default)."""
        return None

    def verdict(self, exception: BaseException, context: Any = None) -> RetryVerdict:
        return judge_failure(
            exception, now=self._now(), task_retry_delay=task_retry_delay(context), quota_reset=self.quota_reset
        )

    def evaluate(self, exception: BaseException, try_number: int, max_tries: int, context: Any = None) -> RetryDecision:
        verdict = self.verdict(exception, context)
        if verdict.action == "fail":
            return RetryDecision.fail(verdict.reason)
        if verdict.action == "retry":
            return RetryDecision.retry(delay=verdict.delay, reason=verdict.reason)
        return RetryDecision.default()

    def serialize(self) -> dict[str, Any]:
        return {"__type": type(self).__name__}

    @classmethod
    def deserialize(cls, data: dict[str, Any]) -> JobRetryPolicy:
        return cls()


#: Marks "no retry_policy given": the tasks then use their vendor's policy where Airflow has the API.
DEFAULT_RETRY_POLICY: Any = object()


def retry_policy_kwargs(value: Any, owner: str, default: Callable[[], Any] | None) -> dict[str, Any]:
    """The ``retry_policy`` keyword to hand to BaseOperator: ``default()`` when none is given on 3.3+, nothing below.

    ``None`` turns the policy off. A policy given explicitly on an Airflow without the API is
    an error rather than silently ignored.
    """
    if not AIRFLOW_RETRY_POLICY:
        if value is not DEFAULT_RETRY_POLICY and value is not None:
            raise ProviderConfigError(f"{owner}: retry_policy needs Airflow 3.3 or later")
        return {}
    if value is DEFAULT_RETRY_POLICY:
        return {} if default is None else {"retry_policy": default()}
    return {"retry_policy": value}
