"""The base trigger of every vendor's deferrable wait on import jobs.

A trigger only reads: it can be rebuilt from ``serialize()`` and restarted by the triggerer any number of
times without ever sending anything again (https://airflow.apache.org/docs/apache-airflow/stable/authoring-and-scheduling/deferring.html#writing-triggers).
Its kwargs name the connection, never a secret: the credential is read from the connection in the
triggerer. Triggers of one triggerer that wait on the same connection, vendor and scope share one poller
(:mod:`airflow_provider_metrika.jobs.poller`), and every wait goes through the kernel's
:class:`~airflow_provider_metrika.jobs.waiting.Waiter`, as the sensors' pokes and the blocking waits do.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import timedelta
from typing import Any, ClassVar

from airflow_provider_metrika.exceptions import ProviderConfigError
from airflow_provider_metrika.jobs.poller import (
    JobPoller,
    PollerKey,
    StatusSource,
    Subscription,
    poller_registry,
    subscribed,
)
from airflow_provider_metrika.jobs.record import JobRecord
from airflow_provider_metrika.jobs.trigger_start import RendersJobIds, end_of_task
from airflow_provider_metrika.jobs.waiting import DEFAULT_MAX_CONSECUTIVE_FAILURES, Verdict, Waiter
from airflow_provider_metrika.parameters import check_poll_intervals
from airflow_provider_metrika.version_compat import BaseTrigger, TriggerEvent

DEFAULT_POLL_INTERVAL = 60.0
#: Where polls stop backing off when the caller gives no ``max_poll_interval`` (5 minutes).
DEFAULT_MAX_POLL_INTERVAL = 300.0


class JobWaitTrigger(RendersJobIds, BaseTrigger):
    """Poll a vendor's jobs until all are terminal (or one failed); fire one event with the outcome.

    :param conn_id: the Airflow connection (its secret is read in the triggerer, never serialized)
    :param scope: where the jobs live (a Metrika counter, a Commerce Layer organization, a Fleetio account); empty:
        read from the connection in the triggerer (:meth:`resolve_scope`; a wait the scheduler started there
        reads no connection when the DAG is parsed)
    :param job_ids: the jobs to wait for
    :param poll_interval: seconds between polls at the start
    :param max_poll_interval: polls back off (x1.5 per poll) up to this many seconds; default
        ``max(poll_interval, 300)``; equal to ``poll_interval``: no backoff
    :param max_consecutive_failures: transient poll errors tolerated in a row before giving up
    :param shared: share one poller with the other triggers of this triggerer that wait on the same
        connection, vendor and scope; ``False`` gives this wait a poller of its own
    :param end_from_trigger: end a successful task here, in the triggerer, with the result as its XCom
        (Airflow's ``end_from_trigger``); a failure still resumes on a worker

    A vendor's trigger sets :attr:`vendor`, implements :meth:`status_source` and :meth:`judge`, and adds its
    JSON-safe policy kwargs through :meth:`policy_kwargs`.
    """

    vendor: ClassVar[str]

    def __init__(
        self,
        *,
        conn_id: str,
        scope: str,
        job_ids: Sequence[str],
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        max_poll_interval: float | None = None,
        max_consecutive_failures: int = DEFAULT_MAX_CONSECUTIVE_FAILURES,
        shared: bool = True,
        end_from_trigger: bool = False,
    ) -> None:
        super().__init__()
        check_poll_intervals(poll_interval, max_poll_interval)
        self.conn_id = str(conn_id)
        self.scope = str(scope)
        # A string is a template of the ids that the triggerer renders (a task started in the triggerer).
        self.job_ids: Any = job_ids if isinstance(job_ids, str) else [str(i) for i in job_ids]
        self.poll_interval = float(poll_interval)
        self.max_poll_interval = float(
            max_poll_interval if max_poll_interval is not None else max(self.poll_interval, DEFAULT_MAX_POLL_INTERVAL)
        )
        self.max_consecutive_failures = int(max_consecutive_failures)
        self.shared = bool(shared)
        self.end_from_trigger = bool(end_from_trigger)

    # -- what a vendor provides ----------------------------------------------------------------------

    def status_source(self) -> StatusSource:
        """The vendor's async status source (it reads the connection in the triggerer)."""
        raise NotImplementedError

    def judge(self, record: JobRecord) -> Verdict:
        """The vendor's policy for one job."""
        raise NotImplementedError

    async def resolve_scope(self) -> str:
        """The scope, read from the connection in the triggerer (the vendor's; Metrika's is always given)."""
        raise ProviderConfigError(f"{type(self).__name__}: scope must be given")

    def policy_kwargs(self) -> dict[str, Any]:
        """The vendor's JSON-safe kwargs, serialized beside the common ones."""
        return {}

    def describe_wait(self) -> str:
        """The jobs this trigger waits on, in words (messages and logs)."""
        return f"{self.vendor} jobs {', '.join(self.job_ids)} in {self.scope}"

    def poller_key(self) -> PollerKey:
        """The shared poller this wait joins (a vendor may narrow the scope, e.g. by kind)."""
        return PollerKey(self.conn_id, self.vendor, self.scope)

    def private_source(self) -> StatusSource:
        """The source of a poller of its own (``shared=False``); the shared one by default."""
        return self.status_source()

    # -- the wait ------------------------------------------------------------------------------------

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "conn_id": self.conn_id,
                "scope": self.scope,
                "job_ids": self.job_ids if isinstance(self.job_ids, str) else list(self.job_ids),
                "poll_interval": self.poll_interval,
                "max_poll_interval": self.max_poll_interval,
                "max_consecutive_failures": self.max_consecutive_failures,
                "shared": self.shared,
                **({"end_from_trigger": True} if self.end_from_trigger else {}),
                **self.policy_kwargs(),
            },
        )

    def waiter(self) -> Waiter:
        return Waiter(
            self.judge,
            vendor=self.vendor,
            what=self.describe_wait(),
            max_consecutive_failures=self.max_consecutive_failures,
            logger=self.log,
        )

    def subscription(self) -> AbstractAsyncContextManager[Subscription]:
        """A place in this loop's shared poller, or in a private one."""
        schedule = {"poll_interval": self.poll_interval, "max_poll_interval": self.max_poll_interval}
        if self.shared:
            return poller_registry().subscription(
                self.poller_key(), self.job_ids, source_factory=self.status_source, **schedule
            )
        return subscribed(JobPoller(self.poller_key(), self.private_source), self.job_ids, **schedule)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        # The wait leaves its poller before the event is yielded: the triggerer may keep this
        # generator suspended at the yield, and a finished wait must not hold the poller up.
        if not self.scope:
            self.scope = await self.resolve_scope()
        event = await self.wait_for_outcome()
        yield end_of_task(event) if self.end_from_trigger else TriggerEvent(event)

    async def wait_for_outcome(self) -> dict[str, Any]:
        """Take polls until the waiter says the wait is over; the event payload (success or error)."""
        if isinstance(self.job_ids, str):
            raise ProviderConfigError(
                f"job_ids {self.job_ids[:200]!r} is a template that was not rendered: only Airflow 3's triggerer "
                "renders the ids of a task started in the triggerer"
            )
        waiter = self.waiter()
        logged: list[str] | None = None  # the statuses last logged
        async with self.subscription() as subscription:
            while True:
                try:
                    records = await subscription.next_poll()
                except Exception as error:
                    event = waiter.poll_failed(error)
                else:
                    event = waiter.observe(records)
                    if event is None and logged != (statuses := [r.status for r in records]):
                        # Only what changed: ten thousand waits logging every poll would block the triggerer's
                        # loop for as long as the log handlers take (the poller logs a summary of its cycles).
                        logged = statuses
                        self.log.info(
                            "Waiting (next poll in %.0fs, then less often up to every %.0fs); %s",
                            subscription.wait,
                            self.max_poll_interval,
                            "; ".join(f"{r.job_id}: {r.status}" for r in records),
                        )
                if event is not None:
                    return event


def defer_until_terminal(
    task: Any, trigger: JobWaitTrigger, *, timeout: float, method_name: str = "execute_complete"
) -> None:
    """Defer ``task`` (a sensor or an operator) to ``trigger``; it resumes in ``method_name`` with the event."""
    task.defer(trigger=trigger, method_name=method_name, timeout=timedelta(seconds=timeout))
