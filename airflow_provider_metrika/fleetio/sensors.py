"""FleetioImportSensor: wait until Fleetio imports made in its web app are terminal.

Fleetio's API cannot create an import (a person uploads the file in the web app,
https://developer.fleetio.com/docs/api/v-1-imports); a pipeline that needs the fleet data waits for
it: a given import, or the imports that match a filter (type, file name, note, created after a
moment), until each reaches a terminal status. ``complete`` succeeds, ``partially_complete`` succeeds
or fails by the ``partially_complete`` policy, ``failed``, ``incomplete``, ``rolled_back`` and
``unsupported`` fail without retries, with the failed rows (capped) in the message and, as a
:class:`~airflow_provider_metrika.jobs.record.JobsResult`, in the XCom ``failed_jobs``. A success
returns the JobsResult (XCom ``return_value``).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import Any

from airflow_provider_metrika.exceptions import MetrikaConfigError
from airflow_provider_metrika.fleetio import api
from airflow_provider_metrika.fleetio.assets import completed, sensor_lineage
from airflow_provider_metrika.fleetio.hooks import FleetioHook
from airflow_provider_metrika.fleetio.status import VENDOR, FleetioStatusReader, run_plan, search_plan
from airflow_provider_metrika.fleetio.triggers import (
    FleetioImportTrigger,
    check_partial_policy,
    is_template,
    judge_import,
)
from airflow_provider_metrika.hooks.retry import PERMANENT_ERRORS
from airflow_provider_metrika.jobs.record import read_job_ref
from airflow_provider_metrika.jobs.sensor import JobWaitSensor
from airflow_provider_metrika.jobs.trigger_start import require_rendering
from airflow_provider_metrika.jobs.waiting import Waiter
from airflow_provider_metrika.parameters import check_optional_text
from airflow_provider_metrika.version_compat import Context, XComArg

#: XCom key of a failed wait's JobsResult (the failed rows of each import), pushed before the task fails.
FAILED_RESULT_KEY = "failed_jobs"
FILTER_PARAMETERS = ("import_type", "file_name", "note", "created_after")


class FleetioImportSensor(JobWaitSensor):
    """Wait until a Fleetio import, or the imports matching a filter, are terminal.

    :param import_id: an import id, a list of ids, or an upstream task's XCom (a ``JobsResult``)
    :param import_type: with no ``import_id``: the imports of this type (``VehicleImport``, ``MeterEntryImport``)
    :param file_name: with no ``import_id``: a file name pattern (``meters_*.csv``)
    :param note: with no ``import_id``: a note pattern (``*nightly*``)
    :param created_after: with no ``import_id``: imports created after this moment (an aware datetime or
        ISO 8601 text, e.g. ``"{{ data_interval_start }}"``); without it only the newest 500 imports are searched
    :param partially_complete: ``fail`` (default) or ``succeed`` (with a warning and the failed rows)
    :param row_issues: read the failed rows of a failed import into the message and the XCom (default True)
    :param fleetio_conn_id: Airflow connection of type ``fleetio``
    :param start_from_trigger: the scheduler defers the task straight to the triggerer, which renders ids from
        an upstream XCom and filters given as templates (Airflow 3; Airflow 2.11 takes only ids and filters
        known when the DAG is parsed) and reads the account from the connection; ``fleetio_conn_id`` must then
        be known when the DAG is parsed

    The waiting parameters (``deferrable``, ``poke_interval``, ``max_poll_interval``,
    ``max_consecutive_failures``, ``timeout``, ``retry_policy``, ``start_from_trigger``, ``end_from_trigger``)
    are :class:`~airflow_provider_metrika.jobs.sensor.JobWaitSensor`'s.
    """

    vendor = VENDOR
    template_fields: Sequence[str] = ("import_id", *FILTER_PARAMETERS, "fleetio_conn_id")
    ui_color = "#3cb371"

    def __init__(
        self,
        *,
        import_id: Any = None,
        import_type: str | None = None,
        file_name: str | None = None,
        note: str | None = None,
        created_after: Any = None,
        partially_complete: str = "fail",
        row_issues: bool = True,
        fleetio_conn_id: str = FleetioHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        policy = check_partial_policy(partially_complete)
        conn_id = check_optional_text("fleetio_conn_id", fleetio_conn_id) or FleetioHook.default_conn_name
        super().__init__(**kwargs)
        self.import_id = import_id
        self.import_type = import_type
        self.file_name = file_name
        self.note = note
        self.created_after = created_after
        self.partially_complete = policy
        self.row_issues = bool(row_issues)
        self.fleetio_conn_id = conn_id
        self._found: list[str] = []
        self.prepare_start_in_triggerer()

    # -- what to wait for ---------------------------------------------------------------------------------

    def _filters(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in FILTER_PARAMETERS if getattr(self, name) not in (None, "")}

    def target(self) -> tuple[list[str], api.ImportMatch | None]:
        """The given ids, or the filter; errors name the parameters (checked after templates render)."""
        filters = self._filters()
        given = self.import_id not in (None, "", [], ())
        if given and filters:
            raise MetrikaConfigError(
                f"pass import_id or a filter ({', '.join(FILTER_PARAMETERS)}), not both: got import_id and "
                + ", ".join(filters)
            )
        if given:
            return list(read_job_ref(self.import_id, parameter="import_id", vendor=VENDOR).ids), None
        if not filters:
            raise MetrikaConfigError(
                f"FleetioImportSensor needs import_id or at least one of {', '.join(FILTER_PARAMETERS)}"
            )
        return [], api.import_match(**filters)

    @cached_property
    def hook(self) -> FleetioHook:
        return FleetioHook(self.fleetio_conn_id)

    # -- waiting --------------------------------------------------------------------------------------------

    def make_waiter(self) -> Waiter:
        ids, match = self.target()
        what = f"Fleetio imports {', '.join(ids)}" if ids else f"Fleetio {match.describe()}"  # type: ignore[union-attr]
        return Waiter(
            lambda record: judge_import(record, self.partially_complete),
            vendor=VENDOR,
            what=f"{what} in account {self.hook.settings.account}",
            max_consecutive_failures=self.max_consecutive_failures,
            logger=self.log,
        )

    def poll(self, waiter: Waiter) -> dict[str, Any] | None:
        """One poll; with a filter and nothing found yet, one search for the matching imports first."""
        hook = self.hook
        ids, match = self.target()
        reader = FleetioStatusReader(hook, scope=hook.settings.account, row_issues=self.row_issues)
        if match is not None and not self._found:
            try:
                self._found = run_plan(search_plan(match, requests=reader.requests), hook.request)
            except PERMANENT_ERRORS:
                raise
            except Exception as error:
                return waiter.poll_failed(error)
            if not self._found:
                self.log.info("No %s yet", match.describe())
                return None
        return waiter.step(lambda: reader.read(ids or self._found))

    def wait_trigger(self) -> FleetioImportTrigger:
        ids, match = self.target()
        return self._trigger(
            self.hook.settings.account,
            ids or self._found,
            None if (ids or self._found) else match.to_dict(),  # type: ignore[union-attr]
        )

    def trigger_at_start(self) -> FleetioImportTrigger:
        """The ids (or the upstream XCom the triggerer renders), or the filter (its templates rendered there on
        Airflow 3); the account is read in the triggerer, from the connection."""
        self.known_at_start("fleetio_conn_id", self.fleetio_conn_id)
        filters = self._filters()
        if self.import_id in (None, "", [], ()):
            return self._trigger("", [], self._match_at_start(filters))
        if filters:
            self.target()  # refuses import_id with a filter, naming both
        return self._trigger("", self.ids_at_start("import_id", self.import_id), None)

    @staticmethod
    def _match_at_start(filters: dict[str, Any]) -> dict[str, Any]:
        """The filter the trigger searches with: checked now, but for templates only a triggerer can render."""
        if not filters:
            raise MetrikaConfigError(
                f"FleetioImportSensor needs import_id or at least one of {', '.join(FILTER_PARAMETERS)}"
            )
        templates = {name: value for name, value in filters.items() if isinstance(value, XComArg) or is_template(value)}
        for name, value in templates.items():
            if isinstance(value, XComArg):  # an upstream output as a filter: only a rendered template could say it
                JobWaitSensor.known_at_start(name, value)
            require_rendering(name, value)
        return {**api.import_match(**{k: v for k, v in filters.items() if k not in templates}).to_dict(), **templates}

    def _trigger(self, scope: str, ids: Any, match: dict[str, Any] | None) -> FleetioImportTrigger:
        return FleetioImportTrigger(
            conn_id=self.fleetio_conn_id,
            scope=scope,
            job_ids=ids,
            match=match,
            partially_complete=self.partially_complete,
            row_issues=self.row_issues,
            **self.wait_kwargs(),
        )

    def finish(self, context: Context, event: dict[str, Any]) -> Any:
        """The wait's JobsResult; a failed wait pushes it as ``failed_jobs`` first, then fails."""
        result = event.get("result")
        ti = context.get("ti") if hasattr(context, "get") else None
        if event.get("status") != "success" and ti is not None and isinstance(result, dict) and result.get("jobs"):
            ti.xcom_push(key=FAILED_RESULT_KEY, value=result)
        return super().finish(context, event)

    def completed(self, context: Context, result: Any) -> Any:
        return completed(self, context, result)

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """The account's import types the sensor saw as inputs, the import ids as a run facet."""
        return sensor_lineage(self)
