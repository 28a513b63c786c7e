"""The Metrika task retry policy (Airflow 3.3+ ``retry_policy``): the kernel's decision with Metrika's daily quotas.

The decision every vendor shares is :mod:`airflow_provider_metrika.jobs.task_retry`'s (bad input and 4xx fail
now, a rate limit retries after the server's window, a lost send answer a minute later at the soonest).
Metrika adds one fact of its own: its daily quotas (``quota_requests_by_uid``,
``quota_requests_by_counter_id``) reset at midnight, so a spent one retries after the next reset, not within
minutes (https://yandex.com/dev/metrika/en/intro/quotas).
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo

from airflow_provider_metrika.exceptions import ApiError
from airflow_provider_metrika.hooks.retry import DAILY_QUOTAS
from airflow_provider_metrika.jobs import task_retry as kernel
from airflow_provider_metrika.jobs.task_retry import DEFAULT_RETRY_POLICY, JobRetryPolicy, RetryVerdict

#: Where a daily quota resets. The current quota pages say 00:00 GMT, older ones midnight Moscow time
#: (https://yandex.com/dev/metrika/en/intro/quotas); the retry comes after the next of either.
QUOTA_RESET_ZONES: tuple[str, ...] = ("Europe/Moscow", "UTC")
#: Slack after the reset, so the retry does not race the quota's own clock.
QUOTA_RESET_MARGIN = datetime.timedelta(minutes=5)
#: The soonest retry after an ambiguous upload answer.
AMBIGUOUS_UPLOAD_DELAY = kernel.AMBIGUOUS_SEND_DELAY


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


def daily_quota_reset(
    error: ApiError, now: datetime.datetime, zones: Sequence[str] = QUOTA_RESET_ZONES
) -> datetime.datetime | None:
    """Metrika's fact for the kernel's decision: a spent daily quota is usable again after the next reset."""
    if error.error_type not in DAILY_QUOTAS:
        return None
    return next_quota_reset(now, zones) + QUOTA_RESET_MARGIN


def judge_failure(
    exception: BaseException,
    *,
    now: datetime.datetime,
    task_retry_delay: datetime.timedelta | None = None,
    quota_reset_zones: Sequence[str] = QUOTA_RESET_ZONES,
) -> RetryVerdict:
    """The verdict for a failed Metrika try: the kernel's decision with Metrika's daily quotas."""
    return kernel.judge_failure(
        exception,
        now=now,
        task_retry_delay=task_retry_delay,
        quota_reset=lambda error, at: daily_quota_reset(error, at, quota_reset_zones),
    )


class MetrikaRetryPolicy(JobRetryPolicy):
    """Airflow's ``retry_policy`` for Metrika tasks: the kernel's policy, with the daily quotas' reset.

    :param quota_reset_zones: time zones whose midnight may reset a daily quota
    :param now: clock returning an aware datetime (tests)
    """

    def __init__(self, quota_reset_zones: Sequence[str] = QUOTA_RESET_ZONES, now: Any = None) -> None:
        for name in quota_reset_zones:
            ZoneInfo(name)  # an unknown zone fails when the DAG is parsed, not at the first failure
        super().__init__(now)
        self.quota_reset_zones = tuple(quota_reset_zones)

    def quota_reset(self, error: ApiError, now: datetime.datetime) -> datetime.datetime | None:
        return daily_quota_reset(error, now, self.quota_reset_zones)

    def serialize(self) -> dict[str, Any]:
        return {"__type": type(self).__name__, "quota_reset_zones": list(self.quota_reset_zones)}

    @classmethod
    def deserialize(cls, data: dict[str, Any]) -> MetrikaRetryPolicy:
        return cls(quota_reset_zones=data.get("quota_reset_zones", QUOTA_RESET_ZONES))


def retry_policy_kwargs(value: Any, owner: str) -> dict[str, Any]:
    """The ``retry_policy`` keyword of a Metrika task: :class:`MetrikaRetryPolicy` by default on 3.3+, nothing below."""
    return kernel.retry_policy_kwargs(value, owner, MetrikaRetryPolicy)


__all__ = [
    "AMBIGUOUS_UPLOAD_DELAY",
    "DEFAULT_RETRY_POLICY",
    "QUOTA_RESET_MARGIN",
    "QUOTA_RESET_ZONES",
    "MetrikaRetryPolicy",
    "RetryVerdict",
    "daily_quota_reset",
    "judge_failure",
    "next_quota_reset",
    "retry_policy_kwargs",
]
