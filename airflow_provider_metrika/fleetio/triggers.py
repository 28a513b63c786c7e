"""FleetioImportTrigger: wait in the triggerer until Fleetio imports are terminal.

Built on the kernel's :class:`~airflow_provider_metrika.jobs.trigger.JobWaitTrigger`: every wait on the
same connection and account in a triggerer shares one poller, so many sensors cost one List Imports
scan per poll (:mod:`airflow_provider_metrika.fleetio.status`). When the wait is for imports that match
a filter (type, file name, note, created after) and none exists yet, the trigger first searches for
them at ``poll_interval`` on its own (a search is one trigger's question, not a shared status poll),
then waits for the ones it found like for given ids. It only reads.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from airflow_provider_metrika.exceptions import MetrikaConfigError
from airflow_provider_metrika.fleetio import api
from airflow_provider_metrika.fleetio.hooks_async import FleetioAsyncHook
from airflow_provider_metrika.fleetio.status import VENDOR, FleetioStatusSource, arun_plan, search_plan
from airflow_provider_metrika.jobs import poller
from airflow_provider_metrika.jobs.record import JobRecord, JobState
from airflow_provider_metrika.jobs.trigger import JobWaitTrigger
from airflow_provider_metrika.jobs.waiting import Verdict, judge_by_state

PARTIAL_POLICIES = ("fail", "succeed")


def is_template(value: Any) -> bool:
    """A Jinja template, rendered only where Airflow renders it."""
    return isinstance(value, str) and "{{" in value


def check_partial_policy(value: Any) -> str:
    if value not in PARTIAL_POLICIES:
        raise MetrikaConfigError(f"partially_complete must be 'fail' or 'succeed', got {value!r}"[:200])
    return value


def judge_import(record: JobRecord, partially_complete: str = "fail") -> Verdict:
    """``complete`` succeeds; ``partially_complete`` succeeds with a warning or fails, by policy; the rest fail."""
    if record.state is JobState.PARTIAL and partially_complete == "succeed":
        rows = f": {'; '.join(record.issues[:5])}" if record.issues else ""
        return Verdict(warnings=(f"{VENDOR} import partially complete, accepted by policy: {record.describe()}{rows}",))
    return judge_by_state(record)


class FleetioImportTrigger(JobWaitTrigger):
    """Poll a Fleetio account until the given imports (or those ``match`` finds) are terminal.

    :param conn_id: the ``fleetio`` connection (read in the triggerer; its secrets are never serialized)
    :param scope: the account's name (the connection's ``account``)
    :param job_ids: import ids; empty when ``match`` is given and nothing matched yet
    :param match: ``{import_type, file_name, note, created_after}``
        (see :class:`~airflow_provider_metrika.fleetio.api.ImportMatch`)
    :param partially_complete: ``fail`` (default) or ``succeed``
    :param row_issues: read the failed rows of failed imports (List Row Results)
    """

    vendor = VENDOR

    def __init__(
        self,
        *,
        match: Mapping[str, str] | None = None,
        partially_complete: str = "fail",
        row_issues: bool = True,
        job_ids: Sequence[str] = (),
        **kwargs: Any,
    ) -> None:
        super().__init__(job_ids=job_ids, **kwargs)
        self.match = dict(match) if match else None
        self.partially_complete = check_partial_policy(partially_complete)
        self.row_issues = bool(row_issues)
        if not self.job_ids and not self.match:
            raise MetrikaConfigError("FleetioImportTrigger needs job_ids or match")

    def policy_kwargs(self) -> dict[str, Any]:
        return {"match": self.match, "partially_complete": self.partially_complete, "row_issues": self.row_issues}

    def status_source(self) -> FleetioStatusSource:
        return FleetioStatusSource(FleetioAsyncHook(self.conn_id), scope=self.scope, row_issues=self.row_issues)

    def judge(self, record: JobRecord) -> Verdict:
        return judge_import(record, self.partially_complete)

    def describe_wait(self) -> str:
        if self.job_ids:
            return f"Fleetio imports {', '.join(self.job_ids)} of account {self.scope}"
        return f"Fleetio {api.ImportMatch(**(self.match or {})).describe()} in account {self.scope}"

    async def resolve_scope(self) -> str:
        """The account of the connection (a wait started in the triggerer gets no scope)."""
        async with FleetioAsyncHook(self.conn_id) as hook:
            return (await hook.settings()).account

    def render_template_fields(self, context: Any, jinja_env: Any = None) -> None:
        """Also a filter given as templates (``created_after="{{ data_interval_start }}"``), rendered and checked."""
        super().render_template_fields(context, jinja_env)
        if self.match and any(is_template(value) for value in self.match.values()):
            env = jinja_env or self.get_template_env()
            rendered = {name: self.render_template(value, context, env) for name, value in self.match.items()}
            self.match = api.import_match(**rendered).to_dict()

    async def wait_for_outcome(self) -> dict[str, Any]:
        """With a filter and no ids yet: search for the matching imports first, then wait for them."""
        if not self.job_ids:
            templates = [name for name, value in (self.match or {}).items() if is_template(value)]
            if templates:
                raise MetrikaConfigError(
                    f"{', '.join(templates)}: a template that was not rendered; only Airflow 3's triggerer renders "
                    "the filter of a task started in the triggerer"
                )
            found = await self.search()
            if isinstance(found, dict):  # the search failed for good
                return found
            self.job_ids = found
        return await super().wait_for_outcome()

    async def search(self) -> list[str] | dict[str, Any]:
        """The matching imports' ids, once at least one exists; the error event when searching fails for good."""
        match = api.ImportMatch(**(self.match or {}))
        waiter = self.waiter()
        requests: dict[str, int] = {}
        async with FleetioAsyncHook(self.conn_id) as hook:
            while True:
                try:
                    found = await arun_plan(search_plan(match, requests=requests), hook.request)
                except Exception as error:
                    event = waiter.poll_failed(error)
                    if event is not None:
                        return event
                else:
                    waiter.failures = 0
                    if found:
                        self.log.info("Found %s: %s", match.describe(), ", ".join(found))
                        return found
                    self.log.info("No %s yet; searching again in %.0fs", match.describe(), self.poll_interval)
                await poller.sleep(self.poll_interval)
