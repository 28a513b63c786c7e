"""Deferrable wait on Metrika uploadings: the kernel's job-wait trigger with Metrika's source and judge.

The trigger only polls (GET): it can be rebuilt from ``serialize()`` and restarted by the triggerer any
number of times without ever repeating an upload. Triggers of one triggerer that wait on the same
connection, kind and counter share one poller, so a hundred waits cost one list request per poll cycle,
not a hundred (:mod:`airflow_provider_metrika.triggers.metrika_status`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow_provider_metrika.hooks.metrika_async import MetrikaAsyncHook
from airflow_provider_metrika.jobs.poller import PollerKey
from airflow_provider_metrika.jobs.record import JobRecord
from airflow_provider_metrika.jobs.trigger import (
    DEFAULT_MAX_POLL_INTERVAL,
    DEFAULT_POLL_INTERVAL,
    JobWaitTrigger,
    defer_until_terminal,
)
from airflow_provider_metrika.jobs.waiting import DEFAULT_MAX_CONSECUTIVE_FAILURES, Verdict, Waiter
from airflow_provider_metrika.triggers.metrika_status import MetrikaStatusSource
from airflow_provider_metrika.uploads import VENDOR
from airflow_provider_metrika.waiting import MetrikaJudge, WaitPolicy, describe_wait, metrika_waiter

__all__ = [
    "DEFAULT_MAX_CONSECUTIVE_FAILURES",
    "DEFAULT_MAX_POLL_INTERVAL",
    "DEFAULT_POLL_INTERVAL",
    "MetrikaUploadingTrigger",
    "defer_until_terminal",
]


class MetrikaUploadingTrigger(JobWaitTrigger):
    """Poll uploadings of one kind and counter until all are terminal.

    :param kind: upload kind (``offline_conversions``, ``calls``, ``user_params``, ...)
    :param scope: Metrika counter id (``counter_id`` is accepted too, as older versions serialized it)
    :param job_ids: ids to wait for (``uploading_ids`` is accepted too)
    :param conn_id: Airflow connection (``metrika_conn_id`` is accepted too); the token is read in the
        triggerer, never serialized
    :param linkage_failure: ``fail``/``warn`` on a linkage failure (None: warn for static calls only)
    :param min_linked_ratio: share of rows that must link; below it ``on_low_linkage`` (``fail``/``warn``) decides

    The common kwargs (``poll_interval``, ``max_poll_interval``, ``max_consecutive_failures``, ``shared``)
    are :class:`~airflow_provider_metrika.jobs.trigger.JobWaitTrigger`'s; ``shared=False`` polls each id
    on its own (the naive way).
    """

    vendor = VENDOR

    def __init__(
        self,
        *,
        kind: str,
        scope: int | str | None = None,
        job_ids: Sequence[str] | None = None,
        conn_id: str | None = None,
        counter_id: int | str | None = None,
        uploading_ids: Sequence[str] | None = None,
        metrika_conn_id: str | None = None,
        linkage_failure: str | None = None,
        min_linked_ratio: float | None = None,
        on_low_linkage: str = "fail",
        **common: Any,
    ) -> None:
        self.policy = WaitPolicy(linkage_failure, min_linked_ratio, on_low_linkage)
        counter = scope if scope is not None else counter_id
        ids = job_ids if job_ids is not None else uploading_ids
        if counter is None or ids is None:
            raise TypeError("MetrikaUploadingTrigger needs a counter (scope) and uploading ids (job_ids)")
        super().__init__(
            conn_id=conn_id or metrika_conn_id or "metrika_default", scope=str(int(counter)), job_ids=ids, **common
        )
        self.kind = kind
        self._judge = MetrikaJudge(self.policy)

    @property
    def counter_id(self) -> int:
        return int(self.scope)

    @property
    def uploading_ids(self) -> list[str]:
        return self.job_ids

    @property
    def metrika_conn_id(self) -> str:
        return self.conn_id

    def ids_from_rendered(self, value: Any) -> Sequence[str]:
        """Also the upload operators' XCom of earlier versions (``uploading_id``/``uploadings``)."""
        from airflow_provider_metrika.sensors.uploading import target_from  # the sensor module imports this one

        return target_from(value, self.kind, self.counter_id)[2]

    def policy_kwargs(self) -> dict[str, Any]:
        return {"kind": self.kind, **self.policy.to_kwargs()}

    def describe_wait(self) -> str:
        return describe_wait(self.kind, self.counter_id, self.job_ids)

    def poller_key(self) -> PollerKey:
        """Metrika lists uploadings per kind: one poller per (connection, kind, counter)."""
        return PollerKey(self.conn_id, self.vendor, f"{self.kind}:{self.scope}")

    def judge(self, record: JobRecord) -> Verdict:
        return self._judge(record)

    def waiter(self) -> Waiter:
        return metrika_waiter(
            self.kind,
            self.counter_id,
            self.job_ids,
            policy=self.policy,
            max_consecutive_failures=self.max_consecutive_failures,
            logger=self.log,
        )

    def _hook(self) -> MetrikaAsyncHook:
        return MetrikaAsyncHook(self.conn_id)

    def status_source(self) -> MetrikaStatusSource:
        return MetrikaStatusSource(self.kind, self.counter_id, self._hook)

    def private_source(self) -> MetrikaStatusSource:
        return MetrikaStatusSource(self.kind, self.counter_id, self._hook, use_list=False)
