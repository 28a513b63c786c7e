"""Deferrable wait on Commerce Layer imports, and ``_interrupt`` when a user kills the waiting task.

``run()`` only reads (one ``filter[q][id_in]`` listing per poll, shared by every wait on the same
connection in this triggerer). The one write is :meth:`CommerceLayerImportTrigger.on_kill`: Airflow
3.3 calls it when a user marks the deferred task failed or succeeded, or clears it, and never when a
triggerer stops or hands its triggers to another one
(https://airflow.apache.org/docs/apache-airflow/stable/authoring-and-scheduling/deferring.html), so a
restart never interrupts an import. Airflow 2.11 has no trigger ``on_kill``: there, killing a
deferred task leaves its imports running.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from airflow_provider_metrika.commercelayer import api
from airflow_provider_metrika.commercelayer.hooks import CommerceLayerHook
from airflow_provider_metrika.commercelayer.hooks_async import CommerceLayerAsyncHook
from airflow_provider_metrika.commercelayer.policy import (
    DEFAULT_MAX_ERROR_RATIO,
    check_max_error_ratio,
    import_waiter,
    judge_import,
)
from airflow_provider_metrika.commercelayer.slots import SlotWaiter, judge_open
from airflow_provider_metrika.commercelayer.status import VENDOR, CommerceLayerStatusSource, organization
from airflow_provider_metrika.exceptions import MetrikaError
from airflow_provider_metrika.jobs.record import JobRecord
from airflow_provider_metrika.jobs.trigger import JobWaitTrigger
from airflow_provider_metrika.jobs.waiting import Verdict, Waiter


class CommerceLayerImportTrigger(JobWaitTrigger):
    """Poll imports of one organization until every one is terminal (see :class:`JobWaitTrigger`).

    :param max_error_ratio: share of an import's inputs that may fail (0..1) with the task still succeeding
    :param interrupt_on_kill: send ``_interrupt`` to the open imports when a user kills the task (Airflow 3.3)
    """

    vendor = VENDOR

    def __init__(
        self,
        *,
        max_error_ratio: float = DEFAULT_MAX_ERROR_RATIO,
        interrupt_on_kill: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.max_error_ratio = check_max_error_ratio(max_error_ratio)
        self.interrupt_on_kill = bool(interrupt_on_kill)

    def status_source(self) -> CommerceLayerStatusSource:
        return CommerceLayerStatusSource(self.conn_id)

    async def resolve_scope(self) -> str:
        """The organization of the connection (a wait started in the triggerer gets no scope)."""
        async with CommerceLayerAsyncHook(self.conn_id) as hook:
            return organization((await hook.settings()).base_url)

    def judge(self, record: JobRecord) -> Verdict:
        return judge_import(record, self.max_error_ratio)

    def policy_kwargs(self) -> dict[str, Any]:
        return {"max_error_ratio": self.max_error_ratio, "interrupt_on_kill": self.interrupt_on_kill}

    def waiter(self) -> Waiter:
        return import_waiter(self.job_ids, self.scope, self.max_error_ratio, self.max_consecutive_failures, self.log)

    async def on_kill(self) -> None:
        """The user killed the task: interrupt its imports that are still open (a finished one stays)."""
        if not self.interrupt_on_kill:
            return
        async with CommerceLayerAsyncHook(self.conn_id) as hook:
            await interrupt_open(hook, self.job_ids, self.log)


class CommerceLayerOpenSlotTrigger(JobWaitTrigger):
    """Wait in the triggerer until an import slot of the organization is free (see :mod:`.slots`).

    ``job_ids`` are the oldest open imports of the organization when the operator counted them (any task's);
    the event fires once ``slots_needed`` of them ended, or one is gone. It shares the poller of the
    organization's import waits, so the imports it watches are read in the same listing as theirs.

    :param slots_needed: how many of ``job_ids`` must end
    :param sent_ids: the imports the deferred task already created: a user who kills the task interrupts
        these (Airflow 3.3), never the other tasks' imports this trigger watches
    :param interrupt_on_kill: send ``_interrupt`` to ``sent_ids`` still open when a user kills the task
    """

    vendor = VENDOR

    def __init__(
        self,
        *,
        slots_needed: int = 1,
        sent_ids: Sequence[str] = (),
        interrupt_on_kill: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.slots_needed = int(slots_needed)
        self.sent_ids = [str(i) for i in sent_ids]
        self.interrupt_on_kill = bool(interrupt_on_kill)

    def status_source(self) -> CommerceLayerStatusSource:
        return CommerceLayerStatusSource(self.conn_id)

    def judge(self, record: JobRecord) -> Verdict:
        return judge_open(record)

    def policy_kwargs(self) -> dict[str, Any]:
        return {
            "slots_needed": self.slots_needed,
            "sent_ids": list(self.sent_ids),
            "interrupt_on_kill": self.interrupt_on_kill,
        }

    def waiter(self) -> Waiter:
        return SlotWaiter(self.job_ids, self.slots_needed, self.scope, self.max_consecutive_failures, self.log)

    async def on_kill(self) -> None:
        """The user killed the task while it waited for a slot: interrupt the imports it created, only those."""
        if not self.interrupt_on_kill or not self.sent_ids:
            return
        async with CommerceLayerAsyncHook(self.conn_id) as hook:
            await interrupt_open(hook, self.sent_ids, self.log)


def interrupt_open_sync(hook: CommerceLayerHook, job_ids: list[str], log: Any) -> None:
    """The operator's ``on_kill`` on a worker: ``_interrupt`` to each of ``job_ids`` still open."""
    try:
        found = hook.imports_by_id(job_ids)
    except MetrikaError as error:
        log.warning("Could not read the imports to interrupt them: %s", error)
        return
    for import_id in open_ids(found):
        try:
            hook.interrupt_import(import_id)
            log.info("Interrupted Commerce Layer import %s", import_id)
        except MetrikaError as error:  # it may have finished meanwhile
            log.warning("Could not interrupt Commerce Layer import %s: %s", import_id, error)


def open_ids(found: Mapping[str, api.CommerceLayerImport]) -> list[str]:
    return [import_id for import_id, item in found.items() if item.is_open]


async def interrupt_open(hook: CommerceLayerAsyncHook, job_ids: list[str], log: Any) -> list[str]:
    """Send ``_interrupt`` to each of ``job_ids`` still pending or in progress; the ids interrupted."""
    interrupted = []
    try:
        found = await hook.imports_by_id(job_ids)
    except MetrikaError as error:
        log.warning("Could not read the imports to interrupt them: %s", error)
        return interrupted
    for import_id in open_ids(found):
        try:
            await hook.interrupt_import(import_id)
        except MetrikaError as error:  # it may have finished meanwhile
            log.warning("Could not interrupt Commerce Layer import %s: %s", import_id, error)
        else:
            interrupted.append(import_id)
            log.info("Interrupted Commerce Layer import %s", import_id)
    return interrupted
