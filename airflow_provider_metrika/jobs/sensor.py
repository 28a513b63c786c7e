"""The sensor base of every vendor's wait on import jobs created elsewhere: the sensor counterpart of JobWaitMixin.

A sensor pokes through the kernel's :class:`~airflow_provider_metrika.jobs.waiting.Waiter` (the same step and
failure budget as the trigger and the operators' blocking wait), runs in ``reschedule`` mode, and when
deferrable pokes once then hands the wait to the vendor's
:class:`~airflow_provider_metrika.jobs.trigger.JobWaitTrigger`
(https://airflow.apache.org/docs/apache-airflow/stable/authoring-and-scheduling/deferring.html).
With ``start_from_trigger`` the scheduler starts that trigger itself and no worker runs the first poke;
with ``end_from_trigger`` a successful wait ends in the triggerer too
(:mod:`airflow_provider_metrika.jobs.trigger_start`).
"""

from __future__ import annotations

from typing import Any, ClassVar

from airflow_provider_metrika.exceptions import ProviderConfigError
from airflow_provider_metrika.jobs.task_retry import DEFAULT_RETRY_POLICY, JobRetryPolicy, retry_policy_kwargs
from airflow_provider_metrika.jobs.trigger import JobWaitTrigger, defer_until_terminal
from airflow_provider_metrika.jobs.trigger_start import ids_for_trigger, require_rendering, start_trigger_args
from airflow_provider_metrika.jobs.waiting import DEFAULT_MAX_CONSECUTIVE_FAILURES, Waiter, WaitSettings, finish_wait
from airflow_provider_metrika.version_compat import BaseSensorOperator, Context, PokeReturnValue, XComArg

#: How long a sensor waits by default (seconds).
THREE_HOURS = 3 * 60 * 60


class JobWaitSensor(BaseSensorOperator):
    """Wait until a vendor's jobs are terminal; push their :class:`~airflow_provider_metrika.jobs.record.JobsResult`.

    :param deferrable: free the worker while waiting (default ``[operators] default_deferrable``)
    :param poke_interval: seconds between polls
    :param max_poll_interval: deferred polls back off from ``poke_interval`` up to this
    :param max_consecutive_failures: transient poll errors tolerated in a row
    :param timeout: seconds to wait before failing
    :param retry_policy: Airflow 3.3+: defaults to the vendor's policy (:attr:`default_retry_policy`: bad input and
        4xx fail at once, a rate limit retries after the server's window); ``None`` leaves the task's own retries
        alone; not available below 3.3
    :param start_from_trigger: the scheduler defers the task straight to the triggerer (no worker runs the
        first poll). Ids from an upstream XCom need Airflow 3, whose triggerer renders them; Airflow 2.11
        takes only ids known when the DAG is parsed
    :param end_from_trigger: a successful wait ends in the triggerer (no worker runs the last step; the asset
        event and lineage facets of the worker-side end are then not produced)

    Runs in ``reschedule`` mode unless ``mode`` is given. A vendor sets :attr:`vendor` and implements
    :meth:`make_waiter`, :meth:`poll`, :meth:`wait_trigger` and, for ``start_from_trigger``,
    :meth:`trigger_at_start` (then calls :meth:`prepare_start_in_triggerer` at the end of its ``__init__``, once
    its own parameters are set); it may refine :meth:`before_wait`, :meth:`finish` and :meth:`completed`.
    """

    vendor: ClassVar[str]
    #: The vendor's Airflow 3.3 retry policy, made when the task is given none.
    default_retry_policy: ClassVar[type | None] = JobRetryPolicy

    def __init__(
        self,
        *,
        deferrable: bool | None = None,
        poke_interval: float = 60,
        max_poll_interval: float | None = None,
        max_consecutive_failures: int = DEFAULT_MAX_CONSECUTIVE_FAILURES,
        timeout: float = THREE_HOURS,
        retry_policy: Any = DEFAULT_RETRY_POLICY,
        start_from_trigger: bool = False,
        end_from_trigger: bool = False,
        **kwargs: Any,
    ) -> None:
        settings = WaitSettings.checked(
            deferrable,
            max_poll_interval,
            max_consecutive_failures,
            interval=("poke_interval", poke_interval),
            timeout=("timeout", timeout),
        )
        kwargs.setdefault("mode", "reschedule")
        kwargs |= retry_policy_kwargs(retry_policy, type(self).__name__, self.default_retry_policy)
        super().__init__(poke_interval=poke_interval, timeout=timeout, **kwargs)
        settings.apply(self)
        self.end_from_trigger = bool(end_from_trigger)
        self._start_in_triggerer = bool(start_from_trigger)
        self._waiter: Waiter | None = None

    # -- what a vendor provides ------------------------------------------------------------------------

    def make_waiter(self) -> Waiter:
        """The waiter of this try's pokes (the vendor's judge, its jobs in words)."""
        raise NotImplementedError

    def poll(self, waiter: Waiter) -> dict[str, Any] | None:
        """One poll fed to ``waiter`` (usually ``waiter.step(fetch)``): the wait's event, or None to poke again."""
        raise NotImplementedError

    def wait_trigger(self) -> JobWaitTrigger:
        """The trigger that takes the wait over after the first poke (its kwargs never hold a secret)."""
        raise NotImplementedError

    def trigger_at_start(self) -> JobWaitTrigger:
        """The trigger the scheduler starts (``start_from_trigger``): only what is known when the DAG is parsed,
        the ids as a template the triggerer renders (see :meth:`ids_at_start`), no connection read."""
        raise ProviderConfigError(f"{type(self).__name__}: start_from_trigger is not supported")

    def before_wait(self, context: Context) -> None:
        """A step before the first poke (Metrika: record the counter for the task's link)."""

    def finish(self, context: Context, event: dict[str, Any]) -> Any:
        """The wait's result from its event, or the task's failure."""
        return finish_wait(event, self.log)

    def completed(self, context: Context, result: Any) -> Any:
        """A final success on its way out (the vendor records lineage and asset events here)."""
        return result

    # -- start and end in the triggerer --------------------------------------------------------------

    def prepare_start_in_triggerer(self) -> None:
        """With ``start_from_trigger``: the ``StartTriggerArgs`` the scheduler defers the task with."""
        if self._start_in_triggerer:
            self.start_trigger_args = start_trigger_args(self.trigger_at_start(), timeout=self.timeout)
            self.start_from_trigger = True

    @staticmethod
    def ids_at_start(parameter: str, value: Any) -> str | list[str]:
        """The ids for :meth:`trigger_at_start`: ids, or an upstream XCom / template the triggerer renders
        (Airflow 3; on 2.11 a clear error naming ``parameter``)."""
        require_rendering(parameter, value)
        return ids_for_trigger(value, parameter=parameter)

    @staticmethod
    def known_at_start(parameter: str, value: Any) -> Any:
        """``value``, which the trigger takes as it is: refused when only a rendered template would say it."""
        if isinstance(value, XComArg) or (isinstance(value, str) and "{{" in value):
            raise ProviderConfigError(
                f"{parameter}: start_from_trigger=True needs it known when the DAG is parsed (not a template or XCom)"
            )
        return value

    def wait_kwargs(self) -> dict[str, Any]:
        """The kernel trigger's kwargs this sensor's parameters decide (the vendor adds conn, scope, ids, policy)."""
        return {
            "poll_interval": self.poke_interval,
            "max_poll_interval": self.max_poll_interval,
            "max_consecutive_failures": self.max_consecutive_failures,
            "end_from_trigger": self.end_from_trigger,
        }

    # -- the wait ------------------------------------------------------------------------------------

    def poke(self, context: Context) -> PokeReturnValue:
        if self._waiter is None:  # its failure budget lives as long as this try (a rescheduled poke starts afresh)
            self._waiter = self.make_waiter()
        event = self.poll(self._waiter)
        if event is None:
            if self._waiter.failures == 0:
                self.log.info("Still processing: %s", self._waiter.last)
            return PokeReturnValue(is_done=False)
        return PokeReturnValue(is_done=True, xcom_value=self.finish(context, event))

    def execute(self, context: Context) -> Any:
        self.before_wait(context)
        if not self.deferrable:
            return self.completed(context, super().execute(context))
        first = self.poke(context)
        if first.is_done:
            return self.completed(context, first.xcom_value)
        defer_until_terminal(self, self.wait_trigger(), timeout=self.timeout)

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        """Resume on the worker with the trigger's event."""
        return self.completed(context, self.finish(context, event))
