"""Sensor that waits until Commerce Layer imports created elsewhere (another task, the CLI, a person) end."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import Any

from airflow_provider_metrika.commercelayer.hooks import CommerceLayerHook
from airflow_provider_metrika.commercelayer.lineage import completed, operator_lineage
from airflow_provider_metrika.commercelayer.policy import DEFAULT_MAX_ERROR_RATIO, check_max_error_ratio, import_waiter
from airflow_provider_metrika.commercelayer.status import VENDOR, fetch_records, organization
from airflow_provider_metrika.commercelayer.triggers import CommerceLayerImportTrigger
from airflow_provider_metrika.jobs.record import read_job_ref
from airflow_provider_metrika.jobs.sensor import JobWaitSensor
from airflow_provider_metrika.jobs.waiting import Waiter
from airflow_provider_metrika.version_compat import Context


class CommerceLayerImportSensor(JobWaitSensor):
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
    :param poke_interval: seconds between polls (default 30)
    :param start_from_trigger: the scheduler defers the task straight to the triggerer, which renders ids from
        an upstream XCom (Airflow 3; Airflow 2.11 takes only ids known when the DAG is parsed) and reads the
        organization from the connection; ``commercelayer_conn_id`` must then be known when the DAG is parsed

    The other waiting parameters (``deferrable``, ``max_poll_interval``, ``max_consecutive_failures``,
    ``timeout``, ``retry_policy``, ``start_from_trigger``, ``end_from_trigger``) are
    :class:`~airflow_provider_metrika.jobs.sensor.JobWaitSensor`'s.
    """

    vendor = VENDOR
    template_fields: Sequence[str] = ("import_id", "commercelayer_conn_id")
    ui_color = "#c9e4ff"

    def __init__(
        self,
        *,
        import_id: Any,
        commercelayer_conn_id: str = CommerceLayerHook.default_conn_name,
        max_error_ratio: float = DEFAULT_MAX_ERROR_RATIO,
        interrupt_on_kill: bool = False,
        poke_interval: float = 30,
        **kwargs: Any,
    ) -> None:
        ratio = check_max_error_ratio(max_error_ratio)
        super().__init__(poke_interval=poke_interval, **kwargs)
        self.max_error_ratio = ratio
        self.import_id = import_id
        self.commercelayer_conn_id = commercelayer_conn_id
        self.interrupt_on_kill = bool(interrupt_on_kill)
        self.prepare_start_in_triggerer()

    @cached_property
    def hook(self) -> CommerceLayerHook:
        return CommerceLayerHook(self.commercelayer_conn_id)

    def _ids(self) -> list[str]:
        return list(read_job_ref(self.import_id, parameter="import_id").ids)

    def make_waiter(self) -> Waiter:
        scope = organization(self.hook.settings.base_url)
        return import_waiter(self._ids(), scope, self.max_error_ratio, self.max_consecutive_failures, self.log)

    def poll(self, waiter: Waiter) -> dict[str, Any] | None:
        return waiter.step(fetch_records(self.hook, self._ids()))

    def wait_trigger(self) -> CommerceLayerImportTrigger:
        return self._trigger(organization(self.hook.settings.base_url), self._ids())

    def trigger_at_start(self) -> CommerceLayerImportTrigger:
        """The ids (or the upstream XCom the triggerer renders); the organization is read there, from the connection."""
        self.known_at_start("commercelayer_conn_id", self.commercelayer_conn_id)
        return self._trigger("", self.ids_at_start("import_id", self.import_id))

    def _trigger(self, scope: str, ids: Any) -> CommerceLayerImportTrigger:
        return CommerceLayerImportTrigger(
            conn_id=self.commercelayer_conn_id,
            scope=scope,
            job_ids=ids,
            max_error_ratio=self.max_error_ratio,
            interrupt_on_kill=self.interrupt_on_kill,
            **self.wait_kwargs(),
        )

    def completed(self, context: Context, result: Any) -> Any:
        return completed(self, context, result)

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """The organization's resource type as output, the import ids as run facet (a sensor reads no file)."""
        return operator_lineage(self)
