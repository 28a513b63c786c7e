"""Sensor that waits until Metrika has processed one or more uploadings."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from airflow_provider_metrika.exceptions import MetrikaConfigError
from airflow_provider_metrika.hooks.metrika import MetrikaHook
from airflow_provider_metrika.jobs.record import read_job_ref
from airflow_provider_metrika.jobs.trigger import defer_until_terminal
from airflow_provider_metrika.jobs.trigger_start import ids_for_trigger, require_rendering, start_trigger_args
from airflow_provider_metrika.jobs.waiting import DEFAULT_MAX_CONSECUTIVE_FAILURES, Waiter, finish_wait
from airflow_provider_metrika.lineage import completed, operator_lineage
from airflow_provider_metrika.links import MetrikaUploadsLink, remember_counter
from airflow_provider_metrika.parameters import check_waiting
from airflow_provider_metrika.task_retry import DEFAULT_RETRY_POLICY, retry_policy_kwargs
from airflow_provider_metrika.triggers.uploading import MetrikaUploadingTrigger
from airflow_provider_metrika.uploads import VENDOR
from airflow_provider_metrika.version_compat import (
    BaseSensorOperator,
    Context,
    PokeReturnValue,
    default_deferrable,
)
from airflow_provider_metrika.waiting import WaitPolicy, fetch_uploadings, metrika_waiter, require_pollable

THREE_HOURS = 3 * 60 * 60


def target_from(uploading_id: Any, kind: str | None, counter_id: Any) -> tuple[str, Any, list[str]]:
    """Kind, counter and ids to wait for; an upstream XCom (a JobsResult or a job summary) supplies what the
    caller left out. Also reads the upload operators' XCom of earlier versions (``uploading_id``/``uploadings``)."""
    ref = read_job_ref(_legacy_xcom(uploading_id), parameter="uploading_id", vendor=VENDOR, one_kind=True)
    kind = kind or ref.kind
    counter_id = counter_id if counter_id not in (None, "") else ref.scope
    return require_pollable(kind or "offline_conversions"), counter_id, list(ref.ids)


def _legacy_xcom(value: Any) -> Any:
    """The XCom shapes of earlier versions (``{"uploading_id", "kind", "counter_id"}``, ``{"uploadings": [...]}``)
    as job summaries."""
    if isinstance(value, Mapping) and "uploadings" in value and "jobs" not in value:
        return [_legacy_xcom(item) for item in value["uploadings"]]
    if isinstance(value, Mapping) and "uploading_id" in value and "id" not in value:
        return {
            "id": value["uploading_id"],
            "state": value.get("state", "running"),
            "kind": value.get("kind"),
            "scope": None if value.get("counter_id") is None else str(value["counter_id"]),
        }
    if isinstance(value, list | tuple):
        return [_legacy_xcom(item) for item in value]
    return value


class MetrikaUploadingSensor(BaseSensorOperator):
    """Wait until Metrika reports every given uploading as processed.

    Succeeds on the kind's success status (``PROCESSED`` / ``processed``) and pushes a
    :class:`~airflow_provider_metrika.jobs.record.JobsResult` to XCom (``ids`` and ``jobs``, always lists,
    each job with Metrika's counters); fails at once, without retries, on a
    failure status (``LINKAGE_FAILURE``) with Metrika's counters in the message.
    Deferrable by default when ``[operators] default_deferrable`` is set: it pokes once,
    then hands the wait to :class:`MetrikaUploadingTrigger`, which only polls.

    :param uploading_id: an id, a list of ids, or an upstream task's XCom (``upload.output``: a JobsResult,
        or one job summary)
    :param kind: ``offline_conversions`` (default), ``calls``, ``chats`` or ``user_params``; from the XCom when omitted
    :param counter_id: counter id; from the XCom or the connection's default when omitted
    :param metrika_conn_id: Airflow connection of type ``yandex_metrika``
    :param deferrable: free the worker while waiting
    :param max_poll_interval: deferred polls back off from ``poke_interval`` up to this
    :param max_consecutive_failures: transient poll errors tolerated in a row
    :param linkage_failure: ``fail`` or ``warn`` on a linkage failure; by default a calls uploading of static
        calls only warns (Metrika never links static calls and keeps them for call reports), any other fails
    :param min_linked_ratio: share of rows (0..1) that must link to visitors, from Metrika's counters
    :param on_low_linkage: below ``min_linked_ratio``: ``fail`` (default, no retries) or ``warn``
    :param start_from_trigger: the scheduler defers the task straight to the triggerer (no worker runs the
        first poll); needs ``kind`` and ``counter_id``. Ids from an upstream XCom need Airflow 3, whose
        triggerer renders them; Airflow 2.11 takes only ids known when the DAG is parsed
    :param end_from_trigger: a successful wait ends in the triggerer (no worker runs the last step; the asset
        event counters and lineage facets of the worker-side end are then not produced)
    :param retry_policy: Airflow 3.3+: defaults to :class:`~airflow_provider_metrika.task_retry.MetrikaRetryPolicy`
        (``None`` leaves the task's own retries alone); not available below 3.3
    """

    template_fields: Sequence[str] = ("uploading_id", "kind", "counter_id", "metrika_conn_id")
    ui_color = "#ffcc00"
    operator_extra_links = (MetrikaUploadsLink(),)

    def __init__(
        self,
        *,
        uploading_id: Any,
        kind: str | None = None,
        counter_id: int | str | None = None,
        metrika_conn_id: str = MetrikaHook.default_conn_name,
        deferrable: bool | None = None,
        max_poll_interval: float | None = None,
        max_consecutive_failures: int = DEFAULT_MAX_CONSECUTIVE_FAILURES,
        poke_interval: float = 60,
        timeout: float = THREE_HOURS,
        linkage_failure: str | None = None,
        min_linked_ratio: float | None = None,
        on_low_linkage: str = "fail",
        retry_policy: Any = DEFAULT_RETRY_POLICY,
        start_from_trigger: bool = False,
        end_from_trigger: bool = False,
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
        self.policy = WaitPolicy(linkage_failure, min_linked_ratio, on_low_linkage)
        kwargs.setdefault("mode", "reschedule")
        kwargs |= retry_policy_kwargs(retry_policy, type(self).__name__)
        super().__init__(poke_interval=poke_interval, timeout=timeout, **kwargs)
        self.uploading_id = uploading_id
        self.kind = kind
        self.counter_id = counter_id
        self.metrika_conn_id = metrika_conn_id
        self.deferrable = default_deferrable() if deferrable is None else deferrable
        self.max_poll_interval = max_poll_interval
        self.max_consecutive_failures = max_consecutive_failures
        self._waiter: Waiter | None = None
        self.end_from_trigger = bool(end_from_trigger)
        if start_from_trigger:
            self.start_trigger_args = start_trigger_args(self._trigger_from_start(), timeout=timeout)
            self.start_from_trigger = True

    def _trigger_from_start(self) -> MetrikaUploadingTrigger:
        """The trigger the scheduler starts: everything known when the DAG is parsed, ids as a template."""
        if not isinstance(self.kind, str) or "{{" in self.kind:
            raise MetrikaConfigError("kind: start_from_trigger=True needs the upload kind given (not from XCom)")
        counter = self.counter_id
        if isinstance(counter, bool) or not str(counter).strip().isdigit() or int(counter) < 1:
            raise MetrikaConfigError(
                f"counter_id: start_from_trigger=True needs the counter id given as a number, got {counter!r}"
            )
        kind = require_pollable(self.kind)
        require_rendering("uploading_id", self.uploading_id)
        return self._trigger(kind, int(counter), ids_for_trigger(self.uploading_id, parameter="uploading_id"))

    def _trigger(self, kind: str, counter_id: int, ids: Any) -> MetrikaUploadingTrigger:
        return MetrikaUploadingTrigger(
            kind=kind,
            scope=counter_id,
            job_ids=ids,
            conn_id=self.metrika_conn_id,
            poll_interval=self.poke_interval,
            max_poll_interval=self.max_poll_interval,
            max_consecutive_failures=self.max_consecutive_failures,
            end_from_trigger=self.end_from_trigger,
            **self.policy.to_kwargs(),
        )

    def _target(self, hook: MetrikaHook) -> tuple[str, int, list[str]]:
        kind, counter_id, ids = target_from(self.uploading_id, self.kind, self.counter_id)
        return kind, hook.resolve_counter_id(counter_id), ids

    def poke(self, context: Context) -> PokeReturnValue:
        hook = MetrikaHook(self.metrika_conn_id)
        kind, counter_id, ids = self._target(hook)
        if self._waiter is None:  # its failure budget lives as long as this try (a rescheduled poke starts afresh)
            self._waiter = metrika_waiter(
                kind,
                counter_id,
                ids,
                policy=self.policy,
                max_consecutive_failures=self.max_consecutive_failures,
                logger=self.log,
            )
        event = self._waiter.step(fetch_uploadings(hook, kind, counter_id, ids))
        if event is None:
            if self._waiter.failures == 0:
                self.log.info("Still processing: %s", self._waiter.last)
            return PokeReturnValue(is_done=False)
        return PokeReturnValue(is_done=True, xcom_value=finish_wait(event, self.log))

    def execute(self, context: Context) -> Any:
        remember_counter(context, self._target(MetrikaHook(self.metrika_conn_id))[1])
        if not self.deferrable:
            return completed(self, context, super().execute(context))
        first = self.poke(context)
        if first.is_done:
            return completed(self, context, first.xcom_value)
        kind, counter_id, ids = self._target(MetrikaHook(self.metrika_conn_id))
        defer_until_terminal(self, self._trigger(kind, counter_id, ids), timeout=self.timeout)

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """The counter and kind as output, Metrika's counters as run facets (a sensor reads no file)."""
        return operator_lineage(self)

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        """Resume on the worker with the trigger's event."""
        return completed(self, context, finish_wait(event, self.log))
