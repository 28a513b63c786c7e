"""What "waiting on uploadings" means, shared by the sensor (sync poke) and the trigger (async).

Both read a batch of uploadings, decide whether the wait is over, and turn the
outcome into the same event payload, so the sensor's poke and the trigger's run
cannot drift apart.
"""

from __future__ import annotations

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


def outcome(uploadings: Sequence[Uploading]) -> dict[str, Any] | None:
    """The event payload once every uploading is terminal, else None (keep waiting).

    A single failed uploading fails the wait at once: Metrika will not change its mind.
    """
    failed = [u for u in uploadings if u.state is UploadState.FAILURE]
    if failed:
        return {
            "status": "error",
            "terminal": True,
            "message": "; ".join(describe_failure(u) for u in failed),
            "uploadings": [u.to_xcom() for u in uploadings],
        }
    if all(u.state is UploadState.SUCCESS for u in uploadings):
        return {
            "status": "success",
            "message": "; ".join(u.describe() for u in uploadings),
            "uploadings": [u.to_xcom() for u in uploadings],
        }
    return None


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
            event = outcome(uploadings)
            if event is not None:
                return event
            last = "; ".join(u.describe() for u in uploadings)
            log.info("Still processing: %s", last)
        if clock() >= deadline:
            raise AirflowException(
                f"timed out after {timeout:.0f}s waiting for {kind} uploadings {', '.join(uploading_ids)}: {last}"
            )
        sleep(poll_interval)
