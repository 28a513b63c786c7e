"""A task retry policy that knows the Metrika API (Airflow 3.3+ ``retry_policy``).

Airflow 3.3 lets a task carry a retry policy that looks at the exception and decides
to fail at once, retry after a given delay, or fall back to ``retries``/``retry_delay``
(https://airflow.apache.org/docs/apache-airflow/stable/core-concepts/tasks.html#retry-policies).
The policy can only shorten the retries, never add to them. Below 3.3 the operators
keep the task's own retry settings.

- bad input (parameters, the connection, the file) and 4xx answers other than rate limits
  cannot succeed on a retry: fail now;
- a spent daily quota resets at midnight: retry after the next reset, not within minutes;
- an upload whose answer was lost: retry no sooner than a minute later, so the retry's
  search for the upload's fingerprint finds what Metrika stored in the meantime.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Iterator, Sequence
from typing import Any
from zoneinfo import ZoneInfo

from airflow_provider_metrika.exceptions import (
    MetrikaAmbiguousResponseError,
    MetrikaApiError,
    MetrikaClientError,
    MetrikaConfigError,
    MetrikaValidationError,
)
from airflow_provider_metrika.hooks.retry import DAILY_QUOTAS
from airflow_provider_metrika.jobs.task_retry import DEFAULT_RETRY_POLICY
from airflow_provider_metrika.jobs.task_retry import retry_policy_kwargs as kernel_retry_policy_kwargs
from airflow_provider_metrika.version_compat import RetryDecision, RetryPolicy

#: Where a daily quota resets. The current quota pages say 00:00 GMT, older ones midnight Moscow time
#: (https://yandex.com/dev/metrika/en/intro/quotas); the retry comes after the next of either.
QUOTA_RESET_ZONES: tuple[str, ...] = ("Europe/Moscow", "UTC")
#: Slack after the reset, so the retry does not race the quota's own clock.
QUOTA_RESET_MARGIN = datetime.timedelta(minutes=5)
#: The soonest retry after an ambiguous upload answer.
AMBIGUOUS_UPLOAD_DELAY = datetime.timedelta(minutes=1)

#: Failures no retry can fix (the data, a parameter, the connection).
_INPUT_ERRORS = (MetrikaConfigError, MetrikaValidationError)


def next_quota_reset(now: datetime.datetime, zones: Sequence[str] = QUOTA_RESET_ZONES) -> datetime.datetime:
    """The earliest midnight in any of ``zones`` strictly after ``now`` (aware), in UTC."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    resets = []
    for name in zones:
        zone = ZoneInfo(name)
        local = now.astimezone(zone)
        midnight = datetime.datetime.combine(local.date() + datetime.timedelta(days=1), datetime.time(), zone)
        resets.append(midnight.astimezone(datetime.UTC))
    return min(resets)


def _chain(error: BaseException) -> Iterator[BaseException]:
    """The error and what it was raised from (a wait wraps the API error it gave up on)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _task_retry_delay(context: Any) -> datetime.timedelta | None:
    ti = context.get("ti") if hasattr(context, "get") else None
    delay = getattr(getattr(ti, "task", None), "retry_delay", None)
    return delay if isinstance(delay, datetime.timedelta) else None


@dataclasses.dataclass(frozen=True)
class RetryVerdict:
    """What a failure calls for: ``fail`` now, ``retry`` after ``delay``, or the task's ``default`` retries."""

    action: str
    reason: str | None = None
    delay: datetime.timedelta | None = None


def judge_failure(
    exception: BaseException,
    *,
    now: datetime.datetime,
    task_retry_delay: datetime.timedelta | None = None,
    quota_reset_zones: Sequence[str] = QUOTA_RESET_ZONES,
) -> RetryVerdict:
    """The verdict for a failed try (pure: the Airflow-facing policy only translates it)."""
    for error in _chain(exception):
        if isinstance(error, _INPUT_ERRORS):
            return RetryVerdict("fail", f"{type(error).__name__}: a retry with the same input cannot succeed")
        if isinstance(error, MetrikaApiError) and error.error_type in DAILY_QUOTAS:
            reset = next_quota_reset(now, quota_reset_zones) + QUOTA_RESET_MARGIN
            reason = f"daily quota {error.error_type} spent: retrying after {reset:%Y-%m-%d %H:%M} UTC"
            return RetryVerdict("retry", reason, reset - now)
        if isinstance(error, MetrikaClientError):
            return RetryVerdict("fail", f"Metrika answered {error.status} {error.error_type}: not retryable")
        if isinstance(error, MetrikaAmbiguousResponseError):
            delay = max(AMBIGUOUS_UPLOAD_DELAY, task_retry_delay or AMBIGUOUS_UPLOAD_DELAY)
            return RetryVerdict("retry", "the upload's answer was lost: retrying once Metrika has stored it", delay)
    return RetryVerdict("default")


class MetrikaRetryPolicy(RetryPolicy):  # type: ignore[misc,valid-type]
    """Airflow's ``retry_policy`` for Metrika tasks: :func:`judge_failure` as a ``RetryDecision``.

    :param quota_reset_zones: time zones whose midnight may reset a daily quota
    :param now: clock returning an aware datetime (tests)
    """

    def __init__(self, quota_reset_zones: Sequence[str] = QUOTA_RESET_ZONES, now: Any = None) -> None:
        for name in quota_reset_zones:
            ZoneInfo(name)  # an unknown zone fails when the DAG is parsed, not at the first failure
        self.quota_reset_zones = tuple(quota_reset_zones)
        self._now = now or (lambda: datetime.datetime.now(datetime.UTC))

    def evaluate(self, exception: BaseException, try_number: int, max_tries: int, context: Any = None) -> RetryDecision:
        verdict = judge_failure(
            exception,
            now=self._now(),
            task_retry_delay=_task_retry_delay(context),
            quota_reset_zones=self.quota_reset_zones,
        )
        if verdict.action == "fail":
            return RetryDecision.fail(verdict.reason)
        if verdict.action == "retry":
            return RetryDecision.retry(delay=verdict.delay, reason=verdict.reason)
        return RetryDecision.default()

    def serialize(self) -> dict[str, Any]:
        return {"__type": type(self).__name__, "quota_reset_zones": list(self.quota_reset_zones)}

    @classmethod
    def deserialize(cls, data: dict[str, Any]) -> MetrikaRetryPolicy:
        return cls(quota_reset_zones=data.get("quota_reset_zones", QUOTA_RESET_ZONES))


def retry_policy_kwargs(value: Any, owner: str) -> dict[str, Any]:
    """The ``retry_policy`` keyword of a Metrika task: :class:`MetrikaRetryPolicy` by default on 3.3+, nothing below."""
    return kernel_retry_policy_kwargs(value, owner, MetrikaRetryPolicy)


__all__ = [
    "DEFAULT_RETRY_POLICY",
    "MetrikaRetryPolicy",
    "RetryVerdict",
    "judge_failure",
    "next_quota_reset",
    "retry_policy_kwargs",
]
