"""What "waiting on uploadings" means, shared by the sensor (sync poke) and the trigger (async).

Both read a batch of uploadings, decide whether the wait is over, and turn the
outcome into the same event payload, so the sensor's poke and the trigger's run
cannot drift apart.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_metrika.exceptions import MetrikaConfigError
from airflow_provider_metrika.hooks.retry import PERMANENT_ERRORS, TRANSIENT_ERRORS
from airflow_provider_metrika.uploads import Uploading, UploadState, get_upload_kind
from airflow_provider_metrika.version_compat import AirflowException, AirflowFailException

if TYPE_CHECKING:
    from airflow_provider_metrika.hooks.metrika import MetrikaHook

#: Transient poll failures tolerated in a row by the worker-side wait (the trigger's default too).
DEFAULT_MAX_CONSECUTIVE_FAILURES = 10


def normalize_uploading_ids(value: Any) -> list[str]:
    """Accept what DAG authors pass: an id, a list of ids, or the upload operators' XCom (dict or list of dicts)."""
    if value is None or value == "" or value == []:
        raise MetrikaConfigError("uploading_id is required: pass an id, a list of ids or the upload operator's XCom")
    if isinstance(value, Mapping):
        if "uploadings" in value:
            return normalize_uploading_ids(value["uploadings"])
        if "uploading_id" not in value:
            raise MetrikaConfigError(f"uploading_id: a dict must carry 'uploading_id', got keys {sorted(value)}")
        return [str(value["uploading_id"])]
    if isinstance(value, str | int):
        text = str(value).strip()
        if not text:
            raise MetrikaConfigError("uploading_id is empty")
        return [text]
    if isinstance(value, Iterable):
        ids: list[str] = []
        for item in value:
            ids.extend(normalize_uploading_ids(item))
        return ids
    raise MetrikaConfigError(f"uploading_id: unsupported value of type {type(value).__name__}")


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
class Verdict:
    """What one uploading means for the wait: still running, or terminal, failed or not, with warnings."""

    running: bool = False
    failure: str | None = None
    warnings: tuple[str, ...] = ()


def judge(uploading: Uploading, policy: WaitPolicy) -> Verdict:
    """The one decision on an uploading's outcome: the sensor's poke, the blocking wait and the trigger use it."""
    state = uploading.state
    if state is UploadState.RUNNING:
        return Verdict(running=True)
    warnings: list[str] = []
    if state is UploadState.FAILURE:
        if not uploading.upload_kind.pollable:
            return Verdict(failure=describe_failure(uploading))
        chosen = policy.linkage_failure or ("warn" if uploading.all_static_calls else "fail")
        if chosen == "fail":
            return Verdict(failure=describe_failure(uploading))
        reason = (
            "static calls are never linked to visits; Metrika keeps them for call reports"
            if uploading.all_static_calls
            else "accepted (linkage_failure='warn')"
        )
        warnings.append(f"{describe_failure(uploading)}; {reason}")
    low = low_linkage(uploading, policy.min_linked_ratio)
    if low is not None:
        if policy.on_low_linkage == "fail":
            return Verdict(failure=low, warnings=tuple(warnings))
        warnings.append(low)
    return Verdict(warnings=tuple(warnings))


def low_linkage(uploading: Uploading, min_ratio: float | None) -> str | None:
    """Why the uploading linked too few rows, or None (no minimum, nothing could link, or enough linked)."""
    if min_ratio is None:
        return None
    linkage = uploading.linkage()
    if linkage is None:
        return f"{uploading.describe()}: Metrika reports no linked_quantity, so min_linked_ratio cannot be checked"
    linked, eligible = linkage
    if eligible <= 0 or linked >= min_ratio * eligible:
        return None
    return (
        f"{uploading.describe()}: only {linked} of {eligible} rows linked to visitors "
        f"({linked / eligible:.1%}), below min_linked_ratio={min_ratio:g}"
    )


def outcome(uploadings: Sequence[Uploading], policy: WaitPolicy | None = None) -> dict[str, Any] | None:
    """The event payload once every uploading is terminal, else None (keep waiting).

    A single failed uploading fails the wait at once: Metrika will not change its mind.
    """
    verdicts = [judge(u, policy or WaitPolicy()) for u in uploadings]
    failures = [v.failure for v in verdicts if v.failure is not None]
    if failures:
        return {
            "status": "error",
            "terminal": True,
            "message": "; ".join(failures),
            "uploadings": [u.to_xcom() for u in uploadings],
        }
    if any(v.running for v in verdicts):
        return None
    return {
        "status": "success",
        "message": "; ".join(u.describe() for u in uploadings),
        "warnings": [warning for v in verdicts for warning in v.warnings],
        "uploadings": [u.to_xcom() for u in uploadings],
    }


def describe_failure(uploading: Uploading) -> str:
    text = f"Metrika reports {uploading.describe()}"
    if uploading.upload_kind.pollable:  # the pollable kinds' only failure status is a linkage failure
        text += ": not a single visitor id in the file could be matched to a Metrika visitor"
    return text


def xcom_result(uploadings: Sequence[Mapping[str, Any]]) -> dict[str, Any] | list[dict[str, Any]]:
    """One uploading → its dict; several → the list (what the sensor pushes as return_value)."""
    items = [dict(u) for u in uploadings]
    return items[0] if len(items) == 1 else items


def finish_wait(event: Mapping[str, Any], log: logging.Logger) -> dict[str, Any] | list[dict[str, Any]]:
    """Turn a wait outcome (from a poke or a trigger event) into the task result, or fail the task.

    A terminal failure status fails without retries: uploading the same data again would
    not link it. Anything else (polling gave up, a rejected token) fails this try only:
    a retry reattaches to the same uploading and waits again.
    """
    if event.get("status") != "success":
        message = event.get("message") or "Metrika uploading failed"
        raise AirflowFailException(message) if event.get("terminal") else AirflowException(message)
    for warning in event.get("warnings") or ():
        log.warning("%s", warning)
    log.info("Metrika finished: %s", event.get("message"))
    return xcom_result(event.get("uploadings", []))


class TransientBudget:
    """Transient poll failures tolerated in a row; once spent, this try fails (a retry may reattach)."""

    def __init__(self, limit: int, what: str) -> None:
        self.limit = limit
        self.what = what
        self.failures = 0

    def failed(self, error: BaseException, log: logging.Logger) -> None:
        self.failures += 1
        log.warning("Transient error polling Metrika (%d/%d in a row): %s", self.failures, self.limit, error)
        if self.failures >= self.limit:
            raise AirflowException(
                f"{self.what}: gave up after {self.failures} consecutive failed polls; last error: {error}"
            ) from error

    def succeeded(self) -> None:
        self.failures = 0


def pause(seconds: float) -> None:
    """The worker-side wait between polls (a seam for tests that drive the emulator's clock)."""
    time.sleep(seconds)


def wait_blocking(
    hook: MetrikaHook,
    kind: str,
    counter_id: int,
    uploading_ids: Sequence[str],
    *,
    poll_interval: float,
    timeout: float,
    log: logging.Logger,
    max_consecutive_failures: int = DEFAULT_MAX_CONSECUTIVE_FAILURES,
    clock: Callable[[], float] | None = None,
    sleep: Callable[[float], None] | None = None,
    policy: WaitPolicy | None = None,
) -> dict[str, Any]:
    """Poll on the worker until every uploading is terminal (the non-deferrable path of the operators).

    Rides out blips like the trigger does: a poll that fails transiently (5xx or quota
    answers past the hook's own retries, network errors) is tolerated up to
    ``max_consecutive_failures`` times in a row; a 4xx or a config error fails at once.
    """
    clock = clock or time.monotonic
    sleep = sleep or pause
    deadline = clock() + timeout
    budget = TransientBudget(
        max_consecutive_failures, f"{kind} uploadings {', '.join(uploading_ids)} of counter {counter_id}"
    )
    last = "no poll answered yet"
    while True:
        try:
            uploadings = [hook.get_uploading(kind, counter_id, uid) for uid in uploading_ids]
        except PERMANENT_ERRORS:
            raise
        except TRANSIENT_ERRORS as error:
            budget.failed(error, log)
        else:
            budget.succeeded()
            event = outcome(uploadings, policy)
            if event is not None:
                return event
            last = "; ".join(u.describe() for u in uploadings)
            log.info("Still processing: %s", last)
        if clock() >= deadline:
            raise AirflowException(
                f"timed out after {timeout:.0f}s waiting for {kind} uploadings {', '.join(uploading_ids)}: {last}"
            )
        sleep(poll_interval)
