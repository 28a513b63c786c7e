"""What waiting on Metrika uploadings means: the policy for a terminal uploading, and the waits' wiring.

The wait itself (the poke, the blocking wait and the trigger) is the kernel's
(:mod:`airflow_provider_metrika.jobs.waiting`); this module is Metrika's part of it: which kinds have a
status to wait on, the :class:`MetrikaJudge` that decides what a linkage failure or a low linkage means,
and the :class:`~airflow_provider_metrika.jobs.waiting.Waiter` and fetch a Metrika wait uses.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_metrika.exceptions import MetrikaConfigError
from airflow_provider_metrika.jobs.record import JobRecord, JobState
from airflow_provider_metrika.jobs.waiting import DEFAULT_MAX_CONSECUTIVE_FAILURES, Verdict, Waiter
from airflow_provider_metrika.uploads import VENDOR, all_static_calls, describe_uploading, get_upload_kind, linkage

if TYPE_CHECKING:
    from airflow_provider_metrika.hooks.metrika import MetrikaHook


def require_pollable(kind: str) -> str:
    """The sensor only waits on kinds that have a status to poll (not the synchronous CDP uploads)."""
    upload_kind = get_upload_kind(kind)
    if not upload_kind.pollable:
        raise MetrikaConfigError(
            f"kind={kind!r}: Metrika validates {kind} uploads synchronously, there is no status to wait for"
        )
    return upload_kind.name


POLICY_CHOICES = ("fail", "warn")


@dataclasses.dataclass(frozen=True)
class WaitPolicy:
    """What a terminal uploading means for the task, beyond its status.

    ``linkage_failure``: ``fail`` or ``warn`` on a linkage failure; ``None`` warns for a calls
    uploading of static calls only (Metrika never links static calls to visits and keeps them for
    call reports: https://yandex.com/dev/metrika/en/management/calls) and fails otherwise.
    ``min_linked_ratio``: the share of rows that must link (0..1); below it ``on_low_linkage``
    (``fail`` or ``warn``) decides.
    """

    linkage_failure: str | None = None
    min_linked_ratio: float | None = None
    on_low_linkage: str = "fail"

    def __post_init__(self) -> None:
        if self.linkage_failure is not None and self.linkage_failure not in POLICY_CHOICES:
            raise MetrikaConfigError(f"linkage_failure={self.linkage_failure!r}: expected 'fail', 'warn' or None")
        if self.on_low_linkage not in POLICY_CHOICES:
            raise MetrikaConfigError(f"on_low_linkage={self.on_low_linkage!r}: expected 'fail' or 'warn'")
        ratio = self.min_linked_ratio
        if ratio is not None and (isinstance(ratio, bool) or not isinstance(ratio, int | float) or not 0 <= ratio <= 1):
            raise MetrikaConfigError(f"min_linked_ratio={ratio!r}: expected a number from 0 to 1 (e.g. 0.5), or None")

    def to_kwargs(self) -> dict[str, Any]:
        """JSON-safe keyword arguments (what a trigger serializes)."""
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class MetrikaJudge:
    """Metrika's judge for the kernel's Waiter: the one decision on an uploading's outcome."""

    policy: WaitPolicy = WaitPolicy()

    def __call__(self, record: JobRecord) -> Verdict:
        state = record.state
        if state is JobState.RUNNING:
            return Verdict(running=True)
        warnings: list[str] = []
        if state is not JobState.SUCCESS:
            if not get_upload_kind(record.kind).pollable:
                return Verdict(failure=describe_failure(record))
            static = all_static_calls(record.counters)
            chosen = self.policy.linkage_failure or ("warn" if static else "fail")
            if chosen == "fail":
                return Verdict(failure=describe_failure(record))
            reason = (
                "static calls are never linked to visits; Metrika keeps them for call reports"
                if static
                else "accepted (linkage_failure='warn')"
            )
            warnings.append(f"{describe_failure(record)}; {reason}")
        low = low_linkage(record, self.policy.min_linked_ratio)
        if low is not None:
            if self.policy.on_low_linkage == "fail":
                return Verdict(failure=low, warnings=tuple(warnings))
            warnings.append(low)
        return Verdict(warnings=tuple(warnings))


def low_linkage(record: JobRecord, min_ratio: float | None) -> str | None:
    """Why the uploading linked too few rows, or None (no minimum, nothing could link, or enough linked)."""
    if min_ratio is None:
        return None
    found = linkage(record.counters)
    if found is None:
        return (
            f"{describe_uploading(record)}: Metrika reports no linked_quantity, so min_linked_ratio cannot be checked"
        )
    linked, eligible = found
    if eligible <= 0 or linked >= min_ratio * eligible:
        return None
    return (
        f"{describe_uploading(record)}: only {linked} of {eligible} rows linked to visitors "
        f"({linked / eligible:.1%}), below min_linked_ratio={min_ratio:g}"
    )


def describe_failure(record: JobRecord) -> str:
    text = f"Metrika reports {describe_uploading(record)}"
    if get_upload_kind(record.kind).pollable:  # the pollable kinds' only failure status is a linkage failure
        text += ": not a single visitor id in the file could be matched to a Metrika visitor"
    return text


def describe_wait(kind: str, counter_id: int | str, uploading_ids: Sequence[str]) -> str:
    """The uploadings a wait is for, in words (messages and logs)."""
    return f"{kind} uploadings {', '.join(uploading_ids)} of counter {counter_id}"


def metrika_waiter(
    kind: str,
    counter_id: int | str,
    uploading_ids: Sequence[str],
    *,
    policy: WaitPolicy | None = None,
    max_consecutive_failures: int = DEFAULT_MAX_CONSECUTIVE_FAILURES,
    logger: logging.Logger | logging.LoggerAdapter[Any] | None = None,
) -> Waiter:
    """The kernel's Waiter with Metrika's judge, for the poke, the blocking wait and the trigger alike."""
    return Waiter(
        MetrikaJudge(policy or WaitPolicy()),
        vendor=VENDOR,
        what=describe_wait(kind, counter_id, uploading_ids),
        max_consecutive_failures=max_consecutive_failures,
        logger=logger,
        describe=describe_uploading,
    )


def fetch_uploadings(
    hook: MetrikaHook, kind: str, counter_id: int, uploading_ids: Sequence[str]
) -> Callable[[], list[JobRecord]]:
    """One synchronous poll of the uploadings (a GET each), as job records."""
    return lambda: [hook.get_uploading(kind, counter_id, uid).to_record() for uid in uploading_ids]
