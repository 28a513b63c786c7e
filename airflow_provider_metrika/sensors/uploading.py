"""Sensor that waits until Metrika has processed one or more uploadings."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import Any

from airflow_provider_metrika.exceptions import MetrikaConfigError
from airflow_provider_metrika.hooks.metrika import MetrikaHook
from airflow_provider_metrika.jobs.record import read_job_ref
from airflow_provider_metrika.jobs.sensor import THREE_HOURS, JobWaitSensor
from airflow_provider_metrika.jobs.waiting import Waiter
from airflow_provider_metrika.lineage import completed, operator_lineage
from airflow_provider_metrika.links import MetrikaUploadsLink, remember_counter
from airflow_provider_metrika.task_retry import MetrikaRetryPolicy
from airflow_provider_metrika.triggers.uploading import MetrikaUploadingTrigger
from airflow_provider_metrika.uploads import VENDOR
from airflow_provider_metrika.version_compat import Context
from airflow_provider_metrika.waiting import WaitPolicy, fetch_uploadings, metrika_waiter, require_pollable

__all__ = ["THREE_HOURS", "MetrikaUploadingSensor", "target_from"]


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


class MetrikaUploadingSensor(JobWaitSensor):
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
    :param linkage_failure: ``fail`` or ``warn`` on a linkage failure; by default a calls uploading of static
        calls only warns (Metrika never links static calls and keeps them for call reports), any other fails
    :param min_linked_ratio: share of rows (0..1) that must link to visitors, from Metrika's counters
    :param on_low_linkage: below ``min_linked_ratio``: ``fail`` (default, no retries) or ``warn``
    :param start_from_trigger: the scheduler defers the task straight to the triggerer (no worker runs the
        first poll); needs ``kind`` and ``counter_id``. Ids from an upstream XCom need Airflow 3, whose
        triggerer renders them; Airflow 2.11 takes only ids known when the DAG is parsed
    :param retry_policy: Airflow 3.3+: defaults to :class:`~airflow_provider_metrika.task_retry.MetrikaRetryPolicy`
        (``None`` leaves the task's own retries alone); not available below 3.3

    The waiting parameters (``deferrable``, ``poke_interval``, ``max_poll_interval``,
    ``max_consecutive_failures``, ``timeout``, ``end_from_trigger``) are
    :class:`~airflow_provider_metrika.jobs.sensor.JobWaitSensor`'s.
    """

    vendor = VENDOR
    default_retry_policy = MetrikaRetryPolicy
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
        linkage_failure: str | None = None,
        min_linked_ratio: float | None = None,
        on_low_linkage: str = "fail",
        **kwargs: Any,
    ) -> None:
        self.policy = WaitPolicy(linkage_failure, min_linked_ratio, on_low_linkage)
        super().__init__(**kwargs)
        self.uploading_id = uploading_id
        self.kind = kind
        self.counter_id = counter_id
        self.metrika_conn_id = metrika_conn_id
        self.prepare_start_in_triggerer()

    def trigger_at_start(self) -> MetrikaUploadingTrigger:
        """Everything known when the DAG is parsed, ids as a template."""
        if not isinstance(self.kind, str) or "{{" in self.kind:
            raise MetrikaConfigError("kind: start_from_trigger=True needs the upload kind given (not from XCom)")
        counter = self.counter_id
        if isinstance(counter, bool) or not str(counter).strip().isdigit() or int(counter) < 1:
            raise MetrikaConfigError(
                f"counter_id: start_from_trigger=True needs the counter id given as a number, got {counter!r}"
            )
        kind = require_pollable(self.kind)
        self.known_at_start("metrika_conn_id", self.metrika_conn_id)
        return self._trigger(kind, int(counter), self.ids_at_start("uploading_id", self.uploading_id))

    def _trigger(self, kind: str, counter_id: int, ids: Any) -> MetrikaUploadingTrigger:
        return MetrikaUploadingTrigger(
            kind=kind,
            scope=counter_id,
            job_ids=ids,
            conn_id=self.metrika_conn_id,
            **self.wait_kwargs(),
            **self.policy.to_kwargs(),
        )

    @cached_property
    def _target(self) -> tuple[MetrikaHook, str, int, list[str]]:
        """The hook, kind, counter and ids of this try (after templates are rendered)."""
        hook = MetrikaHook(self.metrika_conn_id)
        kind, counter_id, ids = target_from(self.uploading_id, self.kind, self.counter_id)
        return hook, kind, hook.resolve_counter_id(counter_id), ids

    def make_waiter(self) -> Waiter:
        _, kind, counter_id, ids = self._target
        return metrika_waiter(
            kind,
            counter_id,
            ids,
            policy=self.policy,
            max_consecutive_failures=self.max_consecutive_failures,
            logger=self.log,
        )

    def poll(self, waiter: Waiter) -> dict[str, Any] | None:
        hook, kind, counter_id, ids = self._target
        return waiter.step(fetch_uploadings(hook, kind, counter_id, ids))

    def wait_trigger(self) -> MetrikaUploadingTrigger:
        _, kind, counter_id, ids = self._target
        return self._trigger(kind, counter_id, ids)

    def before_wait(self, context: Context) -> None:
        remember_counter(context, self._target[2])

    def completed(self, context: Context, result: Any) -> Any:
        return completed(self, context, result)

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """The counter and kind as output, Metrika's counters as run facets (a sensor reads no file)."""
        return operator_lineage(self)
