"""Sensor that waits until Commerce Layer imports created elsewhere (another task, the CLI, a person) end."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import Any

from airflow_provider_metrika.commercelayer.hooks import CommerceLayerHook
from airflow_provider_metrika.commercelayer.lineage import completed, operator_lineage
from airflow_provider_metrika.commercelayer.policy import DEFAULT_MAX_ERROR_RATIO, check_max_error_ratio, import_waiter
from airflow_provider_metrika.commercelayer.status import fetch_records, organization
from airflow_provider_metrika.commercelayer.triggers import CommerceLayerImportTrigger
from airflow_provider_metrika.jobs.record import read_job_ref
from airflow_provider_metrika.jobs.trigger import defer_until_terminal
from airflow_provider_metrika.jobs.waiting import DEFAULT_MAX_CONSECUTIVE_FAILURES, Waiter, finish_wait
from airflow_provider_metrika.parameters import check_waiting
from airflow_provider_metrika.version_compat import BaseSensorOperator, Context, PokeReturnValue, default_deferrable

THREE_HOURS = 3 * 60 * 60


class CommerceLayerImportSensor(BaseSensorOperator):
    """Wait until every given Commerce Layer import is ``completed`` or ``interrupted``.

    Succeeds when each import completed with at most ``max_error_ratio`` of its inputs failed, and
    pushes a :class:`~airflow_provider_metrika.jobs.record.JobsResult` (each job with the import's
    counters and its ``errors_log``/``warnings_log`` as capped issues); fails without retries on an
    interrupted import or too many failed inputs. Deferrable: it pokes once, then hands the wait to
    :class:`~airflow_provider_metrika.commercelayer.triggers.CommerceLayerImportTrigger`.

    :param import_id: an id, a list of ids, or an upstream task's XCom (a JobsResult or one job summary)
    :param commercelayer_conn_id: Airflow connection of type ``commercelayer``
    :param max_error_ratio: share of an import's inputs (0..1) that may fail; 0 (default) fails on any
    :param interrupt_on_kill: Airflow 3.3, deferred: a user killing the task interrupts the open imports
    :param deferrable: free the worker while waiting
    :param max_poll_interval: deferred polls back off from ``poke_interval`` up to this
    :param max_consecutive_failures: transient poll errors tolerated in a row
    """

    template_fields: Sequence[str] = ("import_id", "commercelayer_conn_id")
    ui_color = "#c9e4ff"

    def __init__(
        self,
        *,
        import_id: Any,
        commercelayer_conn_id: str = CommerceLayerHook.default_conn_name,
        max_error_ratio: float = DEFAULT_MAX_ERROR_RATIO,
        interrupt_on_kill: bool = False,
        deferrable: bool | None = None,
        max_poll_interval: float | None = None,
        max_consecutive_failures: int = DEFAULT_MAX_CONSECUTIVE_FAILURES,
        poke_interval: float = 30,
        timeout: float = THREE_HOURS,
        **kwargs: Any,
    ) -> None:
        check_waiting(
            interval_name="poke_interval",
            interval=poke_interval,
            max_interval=max_poll_interval,
            timeout_name="timeout",
            timeout=timeout,
            max_failures=max_consecutive_failures,
        )
        kwargs.setdefault("mode", "reschedule")
        super().__init__(poke_interval=poke_interval, timeout=timeout, **kwargs)
        self.import_id = import_id
        self.commercelayer_conn_id = commercelayer_conn_id
        self.max_error_ratio = check_max_error_ratio(max_error_ratio)
        self.interrupt_on_kill = bool(interrupt_on_kill)
        self.deferrable = default_deferrable() if deferrable is None else deferrable
        self.max_poll_interval = max_poll_interval
        self.max_consecutive_failures = max_consecutive_failures
        self._waiter: Waiter | None = None

    @cached_property
    def hook(self) -> CommerceLayerHook:
        return CommerceLayerHook(self.commercelayer_conn_id)

    def _ids(self) -> list[str]:
        return list(read_job_ref(self.import_id, parameter="import_id").ids)

    def poke(self, context: Context) -> PokeReturnValue:
        hook, ids = self.hook, self._ids()
        if self._waiter is None:  # its failure budget lives as long as this try
            scope = organization(hook.settings.base_url)
            self._waiter = import_waiter(ids, scope, self.max_error_ratio, self.max_consecutive_failures, self.log)
        event = self._waiter.step(fetch_records(hook, ids))
        if event is None:
            if self._waiter.failures == 0:
                self.log.info("Still importing: %s", self._waiter.last)
            return PokeReturnValue(is_done=False)
        return PokeReturnValue(is_done=True, xcom_value=finish_wait(event, self.log))

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return completed(self, context, super().execute(context))
        first = self.poke(context)
        if first.is_done:
            return completed(self, context, first.xcom_value)
        hook = self.hook
        trigger = CommerceLayerImportTrigger(
            conn_id=self.commercelayer_conn_id,
            scope=organization(hook.settings.base_url),
            job_ids=self._ids(),
            poll_interval=self.poke_interval,
            max_poll_interval=self.max_poll_interval,
            max_consecutive_failures=self.max_consecutive_failures,
            max_error_ratio=self.max_error_ratio,
            interrupt_on_kill=self.interrupt_on_kill,
        )
        defer_until_terminal(self, trigger, timeout=self.timeout)

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        """Resume on the worker with the trigger's event."""
        return completed(self, context, finish_wait(event, self.log))

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """The organization's resource type as output, the import ids as run facet (a sensor reads no file)."""
        return operator_lineage(self)
