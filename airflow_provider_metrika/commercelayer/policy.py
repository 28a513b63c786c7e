"""What a finished Commerce Layer import means for the task: ``max_error_ratio`` decides success with errors.

An import ends ``completed`` (every input tried; ``errors_count`` failed) or ``interrupted`` (by
``_interrupt``, or by Commerce Layer itself when more than 10 % of the inputs failed and
``skip_errors`` was not set, https://docs.commercelayer.io/core/importing-resources). The sensor's
poke, the operator's blocking wait and the trigger all judge through :func:`judge_import`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow_provider_metrika.commercelayer import VENDOR
from airflow_provider_metrika.exceptions import MetrikaConfigError
from airflow_provider_metrika.jobs.record import JobRecord, JobState
from airflow_provider_metrika.jobs.waiting import Verdict, Waiter

#: By default any failed input fails the task (its rows are in the message and the XCom).
DEFAULT_MAX_ERROR_RATIO = 0.0
_SHOWN_ISSUES = 5
#: How :func:`~airflow_provider_metrika.commercelayer.status.job_record` marks the ``warnings_log`` lines it keeps.
WARNING_PREFIX = "warning: "


def describe_import(record: JobRecord) -> str:
    """One import in words: ``skus import abc in acme.commercelayer.io: status completed (...)``."""
    return record.describe("import")


def import_waiter(
    ids: Sequence[str], scope: str, max_error_ratio: float, max_consecutive_failures: int, log: Any
) -> Waiter:
    """The wait on Commerce Layer imports as the sensor, the operator and the trigger judge and describe it."""
    return Waiter(
        lambda record: judge_import(record, max_error_ratio),
        vendor=VENDOR,
        what=f"Commerce Layer imports {', '.join(ids)} in {scope}",
        max_consecutive_failures=max_consecutive_failures,
        logger=log,
        describe=describe_import,
    )


def check_max_error_ratio(value: Any) -> float:
    """``max_error_ratio`` as a number from 0 to 1; a clear error naming the parameter otherwise."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise MetrikaConfigError(f"max_error_ratio={value!r}: expected a number from 0 to 1 (e.g. 0.01), or 0")
    return float(value)


def _issues(record: JobRecord) -> str:
    if not record.issues:
        return ""
    shown = "; ".join(record.issues[:_SHOWN_ISSUES])
    more = record.issues_total - min(len(record.issues), _SHOWN_ISSUES)
    return f": {shown}" + (f" (and {more} more)" if more > 0 else "")


def _warnings(record: JobRecord) -> tuple[str, ...]:
    """A completed import's ``warnings_log`` in one line (a warning never fails the task), or nothing."""
    count = int(record.counters.get("warnings_count", 0))
    lines = [issue for issue in record.issues if issue.startswith(WARNING_PREFIX)]
    if not count and not lines:
        return ()
    shown = "; ".join(line.removeprefix(WARNING_PREFIX) for line in lines[:_SHOWN_ISSUES])
    more = max(count, len(lines)) - min(len(lines), _SHOWN_ISSUES)
    return (
        f"Commerce Layer {describe_import(record)}: {max(count, len(lines))} warning(s)"
        + (f": {shown}" if shown else "")
        + (f" (and {more} more)" if more > 0 and shown else ""),
    )


def judge_import(record: JobRecord, max_error_ratio: float = DEFAULT_MAX_ERROR_RATIO) -> Verdict:
    """Running runs; completed succeeds when at most ``max_error_ratio`` of its inputs failed; anything else fails."""
    if record.state is JobState.RUNNING:
        return Verdict(running=True)
    warned = _warnings(record)
    if record.state is JobState.SUCCESS:
        return Verdict(warnings=warned)
    errors = int(record.counters.get("errors_count", 0))
    size = int(record.counters.get("inputs_size", 0))
    if record.state is JobState.PARTIAL:
        ratio = errors / size if size else 1.0
        text = f"Commerce Layer {describe_import(record)}: {errors} of {size} inputs failed ({ratio:.1%})"
        if ratio <= max_error_ratio:
            return Verdict(warnings=(f"{text}, within max_error_ratio={max_error_ratio:g}{_issues(record)}", *warned))
        return Verdict(failure=f"{text}, above max_error_ratio={max_error_ratio:g}{_issues(record)}")
    if record.state is JobState.CANCELLED:
        why = (
            "Commerce Layer interrupts an import when more than 10% of its inputs fail (skip_errors=True keeps it "
            "going), or someone sent _interrupt"
        )
        return Verdict(failure=f"Commerce Layer {describe_import(record)}: interrupted; {why}{_issues(record)}")
    return Verdict(
        failure=f"Commerce Layer {describe_import(record)}: status {record.status!r} is not one it documents"
    )
