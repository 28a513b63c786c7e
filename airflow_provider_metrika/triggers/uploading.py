"""Deferrable wait on Metrika uploadings.

The trigger only polls (GET): it can be rebuilt from ``serialize()`` and restarted
by the triggerer any number of times without ever repeating an upload. Triggers of
one triggerer that wait on the same connection, kind and counter share one poller
(:mod:`airflow_provider_metrika.triggers.poller`), so a hundred waits cost one list
request per poll cycle, not a hundred.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from datetime import timedelta
from typing import Any

from airflow_provider_metrika.hooks.metrika_async import MetrikaAsyncHook
from airflow_provider_metrika.hooks.retry import PERMANENT_ERRORS, TRANSIENT_ERRORS
from airflow_provider_metrika.parameters import check_poll_intervals
from airflow_provider_metrika.triggers.poller import (
    PollerKey,
    Subscription,
    UploadingPoller,
    next_interval,
    poller_registry,
    subscribed,
)
from airflow_provider_metrika.version_compat import BaseTrigger, TriggerEvent
from airflow_provider_metrika.waiting import DEFAULT_MAX_CONSECUTIVE_FAILURES, WaitPolicy, outcome

DEFAULT_POLL_INTERVAL = 60.0
#: Where polls stop backing off when the caller gives no ``max_poll_interval`` (5 minutes).
DEFAULT_MAX_POLL_INTERVAL = 300.0

__all__ = [
    "DEFAULT_MAX_CONSECUTIVE_FAILURES",
    "DEFAULT_MAX_POLL_INTERVAL",
    "DEFAULT_POLL_INTERVAL",
    "MetrikaUploadingTrigger",
    "defer_until_terminal",
    "next_interval",
]


class MetrikaUploadingTrigger(BaseTrigger):
    """Poll uploadings of one kind and counter until all are terminal.

    :param kind: upload kind (``offline_conversions``, ``calls``, ``user_params``)
    :param counter_id: Metrika counter id
    :param uploading_ids: ids to wait for
    :param metrika_conn_id: Airflow connection (the token is read in the triggerer, never serialized)
    :param poll_interval: seconds between polls at the start
    :param max_poll_interval: polls back off (x1.5 per poll) up to this many seconds; default
        ``max(poll_interval, 300)``; equal to ``poll_interval``: no backoff
    :param max_consecutive_failures: transient poll errors tolerated in a row before giving up
    :param shared: share one poller (list requests) with the other triggers of this triggerer that wait
        on the same connection, kind and counter; ``False`` polls each id on its own (the naive way)
    :param linkage_failure: ``fail``/``warn`` on a linkage failure (None: warn for static calls only)
    :param min_linked_ratio: share of rows that must link; below it ``on_low_linkage`` (``fail``/``warn``) decides
    """

    def __init__(
        self,
        *,
        kind: str,
        counter_id: int,
        uploading_ids: list[str],
        metrika_conn_id: str = "metrika_default",
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        max_poll_interval: float | None = None,
        max_consecutive_failures: int = DEFAULT_MAX_CONSECUTIVE_FAILURES,
        shared: bool = True,
        linkage_failure: str | None = None,
        min_linked_ratio: float | None = None,
        on_low_linkage: str = "fail",
    ) -> None:
        super().__init__()
        self.policy = WaitPolicy(linkage_failure, min_linked_ratio, on_low_linkage)
        self.kind = kind
        self.counter_id = int(counter_id)
        self.uploading_ids = [str(i) for i in uploading_ids]
        self.metrika_conn_id = metrika_conn_id
        check_poll_intervals(poll_interval, max_poll_interval)
        self.poll_interval = float(poll_interval)
        self.max_poll_interval = float(
            max_poll_interval if max_poll_interval is not None else max(self.poll_interval, DEFAULT_MAX_POLL_INTERVAL)
        )
        self.max_consecutive_failures = int(max_consecutive_failures)
        self.shared = bool(shared)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "kind": self.kind,
                "counter_id": self.counter_id,
                "uploading_ids": list(self.uploading_ids),
                "metrika_conn_id": self.metrika_conn_id,
                "poll_interval": self.poll_interval,
                "max_poll_interval": self.max_poll_interval,
                "max_consecutive_failures": self.max_consecutive_failures,
                "shared": self.shared,
                **self.policy.to_kwargs(),
            },
        )

    def _hook(self) -> MetrikaAsyncHook:
        return MetrikaAsyncHook(self.metrika_conn_id)

    def _subscription(self) -> AbstractAsyncContextManager[Subscription]:
        """A place in this loop's shared poller, or in a private one polling each id by GET."""
        key = PollerKey(self.metrika_conn_id, self.kind, self.counter_id)
        schedule = {"poll_interval": self.poll_interval, "max_poll_interval": self.max_poll_interval}
        if self.shared:
            return poller_registry().subscription(key, self.uploading_ids, hook_factory=self._hook, **schedule)
        return subscribed(UploadingPoller(key, self._hook, use_list=False), self.uploading_ids, **schedule)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        # The wait leaves its poller before the event is yielded: the triggerer may keep this
        # generator suspended at the yield, and a finished wait must not hold the poller up.
        yield TriggerEvent(await self.wait_for_outcome())

    async def wait_for_outcome(self) -> dict[str, Any]:
        """Take polls until every uploading is terminal; the event payload (success or error)."""
        failures = 0
        async with self._subscription() as subscription:
            while True:
                try:
                    uploadings = await subscription.next_poll()
                except PERMANENT_ERRORS as err:
                    return self._error(f"polling stopped: {err}")
                except TRANSIENT_ERRORS as err:
                    failures += 1
                    self.log.warning(
                        "Transient error polling Metrika (%d/%d in a row): %s",
                        failures,
                        self.max_consecutive_failures,
                        err,
                    )
                    if failures >= self.max_consecutive_failures:
                        return self._error(f"gave up after {failures} consecutive failed polls; last error: {err}")
                else:
                    failures = 0
                    event = outcome(uploadings, self.policy)
                    if event is not None:
                        return event
                    self.log.info(
                        "Waiting %.0fs; %s",
                        subscription.wait,
                        "; ".join(f"{u.uploading_id}: {u.status}" for u in uploadings),
                    )

    def _error(self, message: str) -> dict[str, Any]:
        return {
            "status": "error",
            "message": f"{self.kind} uploadings {', '.join(self.uploading_ids)} of counter {self.counter_id}: "
            + message,
            "uploadings": [],
        }


def defer_until_terminal(
    task: Any,
    *,
    kind: str,
    counter_id: int,
    uploading_ids: list[str],
    metrika_conn_id: str,
    poll_interval: float,
    max_poll_interval: float | None,
    max_consecutive_failures: int,
    timeout: float,
    policy: WaitPolicy | None = None,
    method_name: str = "execute_complete",
) -> None:
    """Defer ``task`` (a sensor or an upload operator) to the trigger; it resumes in ``method_name``."""
    task.defer(
        trigger=MetrikaUploadingTrigger(
            kind=kind,
            counter_id=counter_id,
            uploading_ids=uploading_ids,
            metrika_conn_id=metrika_conn_id,
            poll_interval=poll_interval,
            max_poll_interval=max_poll_interval,
            max_consecutive_failures=max_consecutive_failures,
            **(policy or WaitPolicy()).to_kwargs(),
        ),
        method_name=method_name,
        timeout=timedelta(seconds=timeout),
    )
