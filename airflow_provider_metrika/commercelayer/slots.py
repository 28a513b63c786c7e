"""At most ten open imports per organization: taking a slot, and what a wait for a free one means.

Commerce Layer runs at most ten imports of an organization at once; an eleventh stays ``pending`` until
one of them ends (https://docs.commercelayer.io/core/importing-resources). An operator with more parts
than free slots waits for one: on the worker (:meth:`OpenSlots.take`), or, when deferrable, in the
triggerer (:class:`~airflow_provider_metrika.commercelayer.triggers.CommerceLayerOpenSlotTrigger`), which
polls the oldest open imports of the organization through the shared poller until enough of them ended.
The trigger's event is only a hint: the operator counts the open imports again when it resumes, and
defers again if others took the slots meanwhile.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from airflow_provider_metrika.commercelayer import VENDOR
from airflow_provider_metrika.commercelayer.hooks import CommerceLayerHook
from airflow_provider_metrika.commercelayer.policy import describe_import
from airflow_provider_metrika.exceptions import ApiClientError
from airflow_provider_metrika.jobs import waiting
from airflow_provider_metrika.jobs.record import JobRecord
from airflow_provider_metrika.jobs.waiting import Verdict, Waiter
from airflow_provider_metrika.version_compat import AirflowException

#: Commerce Layer runs at most this many imports of an organization at once (an 11th stays pending).
MAX_OPEN_IMPORTS = 10


class OpenSlots:
    """At most ``max_open`` imports of the organization open at once.

    Counting costs one request (which also names the oldest open imports, what a deferred wait polls); it is
    done again only when the imports this task created since the last count may have filled the slots
    (100,000 inputs in 10 imports: one count).
    """

    def __init__(self, hook: CommerceLayerHook, max_open: int, log: Any):
        self.hook = hook
        self.max_open = max_open
        self.log = log
        self.estimate: int | None = None
        #: The oldest open imports at the last count (at most one listing page).
        self.oldest: list[str] = []

    def try_take(self) -> bool:
        """Take a slot if one is free; False when all are taken (:attr:`needed` says how many must end)."""
        if self.estimate is None or self.estimate >= self.max_open:
            self.estimate, self.oldest = self.hook.open_imports()
        if self.estimate < self.max_open:
            self.estimate += 1
            return True
        return False

    @property
    def needed(self) -> int:
        """How many open imports must end before this task may create one."""
        return max(1, (self.estimate or 0) - self.max_open + 1)

    def take(self, poll_interval: float, deadline: float) -> None:
        """Wait on the worker until a slot is free and take it (the non-deferrable path)."""
        while not self.try_take():
            if time.monotonic() >= deadline:
                raise AirflowException(
                    f"timed out waiting for one of the {self.estimate} open Commerce Layer imports to close"
                )
            self.log.info("%d imports open (at most %d); waiting for one to close", self.estimate, self.max_open)
            waiting.pause(poll_interval)


def judge_open(record: JobRecord) -> Verdict:
    """For a slot, any end of an import will do (completed or interrupted): it no longer holds a slot."""
    return Verdict(running=not record.state.terminal)


def is_gone(error: BaseException) -> bool:
    """An awaited import Commerce Layer no longer lists (deleted): its slot is free."""
    return isinstance(error, ApiClientError) and error.status == 404


class SlotWaiter(Waiter):
    """The wait for a free slot: over once ``needed`` of the awaited open imports ended, or one is gone.

    The awaited imports may belong to other tasks: their outcome is not this task's business, only that they
    ended. Transient poll errors count against the same failure budget as any wait.
    """

    def __init__(self, ids: Sequence[str], needed: int, scope: str, max_consecutive_failures: int, log: Any):
        super().__init__(
            judge_open,
            vendor=VENDOR,
            what=f"a free import slot in {scope} (waiting for {needed} of the open imports {', '.join(ids)})",
            max_consecutive_failures=max_consecutive_failures,
            logger=log,
            describe=describe_import,
        )
        self.needed = min(max(1, int(needed)), max(1, len(ids)))

    def observe(self, records: Sequence[JobRecord]) -> dict[str, Any] | None:
        self.failures = 0
        self.last = "; ".join(self.describe(record) for record in records)
        ended = sum(1 for record in records if record.state.terminal)
        if ended < self.needed:
            return None
        return self._event("success", f"{ended} of the open imports ended: a slot is free", records, [], terminal=True)

    def poll_failed(self, error: BaseException) -> dict[str, Any] | None:
        if is_gone(error):
            return self._event("success", f"an open import is gone, its slot with it: {error}", (), [], terminal=True)
        return super().poll_failed(error)
