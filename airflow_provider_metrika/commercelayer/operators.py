"""CommerceLayerImportOperator: SKUs, prices, stock, customers, ... into Commerce Layer through imports.

Inputs are checked first (a bad row fails the task with its row and field named, nothing sent), then cut
into imports of at most 10,000 inputs. Each import's ``reference`` carries the task's fingerprint and
its part number, so a retried task finds the imports an earlier try created (one ``reference_start``
listing) and only creates the missing ones. At most ``max_open_imports`` (10, Commerce Layer's own limit
per organization) are open at once: the rest wait on the worker for one to close
(https://docs.commercelayer.io/core/importing-resources). The wait itself is deferrable; it ends with a
:class:`~airflow_provider_metrika.jobs.record.JobsResult` whose jobs carry each import's counters and
its ``errors_log``/``warnings_log`` (capped), and optionally a rejected-rows file.
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import Any

from airflow_provider_metrika.commercelayer import api, inputs
from airflow_provider_metrika.commercelayer.hooks import CommerceLayerHook
from airflow_provider_metrika.commercelayer.lineage import completed, operator_lineage
from airflow_provider_metrika.commercelayer.links import CommerceLayerImportLink, remember_imports
from airflow_provider_metrika.commercelayer.policy import DEFAULT_MAX_ERROR_RATIO, check_max_error_ratio
from airflow_provider_metrika.commercelayer.sensors import import_waiter
from airflow_provider_metrika.commercelayer.status import VENDOR, fetch_records, job_record, organization
from airflow_provider_metrika.commercelayer.triggers import CommerceLayerImportTrigger
from airflow_provider_metrika.exceptions import MetrikaAmbiguousResponseError, MetrikaConfigError
from airflow_provider_metrika.jobs import waiting
from airflow_provider_metrika.jobs.fingerprint import fingerprint
from airflow_provider_metrika.jobs.record import JobsResult, jobs_result
from airflow_provider_metrika.jobs.rejects import open_target
from airflow_provider_metrika.jobs.trigger import defer_until_terminal
from airflow_provider_metrika.parameters import check_waiting
from airflow_provider_metrika.version_compat import AirflowException, BaseOperator, Context, default_deferrable

#: Commerce Layer runs at most this many imports of an organization at once (an 11th stays pending).
MAX_OPEN_IMPORTS = 10
SIX_HOURS = 6 * 60 * 60
REFERENCE_ORIGIN = "airflow"


class OpenSlots:
    """At most ``max_open`` imports of the organization open at once; :meth:`take` waits for a free one.

    Counting costs one request; it is done again only when the imports this task created since the last
    count may have filled the slots (100,000 inputs in 10 imports: one count).
    """

    def __init__(self, hook: CommerceLayerHook, max_open: int, poll_interval: float, deadline: float, log: Any):
        self.hook = hook
        self.max_open = max_open
        self.poll_interval = poll_interval
        self.deadline = deadline
        self.log = log
        self.estimate: int | None = None
        self.counts = 0

    def take(self) -> None:
        while True:
            if self.estimate is None or self.estimate >= self.max_open:
                self.estimate = self.hook.count_imports({"status_in": ",".join(api.OPEN_STATUSES)})
                self.counts += 1
            if self.estimate < self.max_open:
                self.estimate += 1
                return
            if time.monotonic() >= self.deadline:
                raise AirflowException(
                    f"timed out waiting for one of the {self.estimate} open Commerce Layer imports to close"
                )
            self.log.info("%d imports open (at most %d); waiting for one to close", self.estimate, self.max_open)
            waiting.pause(self.poll_interval)


class CommerceLayerImportOperator(BaseOperator):
    """Import inputs into Commerce Layer and wait until Commerce Layer has processed them.

    :param resource_type: what the inputs are (``skus``, ``prices``, ``stock_items``, ``customers``, ...)
    :param src: a CSV file (header line first) or a JSON file (a list of objects): a local path, an fsspec
        URL or an ``ObjectStoragePath`` (``source_conn_id`` for its connection)
    :param rows: instead of ``src``: a list of dicts (an upstream task's return value) or a DataFrame
    :param format: ``json`` (default) or ``csv``: how the inputs travel
    :param parent_resource_id: the parent of every input (a price list for prices, a stock location for stock)
    :param skip_errors: ask Commerce Layer not to interrupt an import above 10 % failed inputs
    :param metadata: a JSON object stored on every import
    :param chunk_size: inputs per import (at most 10,000)
    :param max_open_imports: imports of the organization open at once before this task waits (at most 10)
    :param max_error_ratio: share of an import's inputs (0..1) that may fail with the task still succeeding
    :param rejected_rows: where to write the failed inputs (CSV: row, errors, the input's fields)
    :param wait: wait for the imports to finish (``False`` returns once they are created)
    :param deferrable: free the worker while waiting (default ``[operators] default_deferrable``)
    :param poll_interval: seconds between status polls (and between checks for a free import slot)
    :param timeout: seconds before the wait gives up (a retry reattaches to the same imports)
    """

    template_fields: Sequence[str] = (
        "src",
        "rows",
        "resource_type",
        "parent_resource_id",
        "metadata",
        "rejected_rows",
        "commercelayer_conn_id",
    )
    template_fields_renderers = {"metadata": "json"}
    ui_color = "#c9e4ff"
    operator_extra_links = (CommerceLayerImportLink(),)

    def __init__(
        self,
        *,
        resource_type: str,
        src: Any = None,
        rows: Any = None,
        format: str = "json",
        parent_resource_id: str | None = None,
        skip_errors: bool = False,
        metadata: Mapping[str, Any] | None = None,
        source_conn_id: str | None = None,
        chunk_size: int = api.MAX_INPUTS,
        max_open_imports: int = MAX_OPEN_IMPORTS,
        max_error_ratio: float = DEFAULT_MAX_ERROR_RATIO,
        rejected_rows: Any = None,
        commercelayer_conn_id: str = CommerceLayerHook.default_conn_name,
        wait: bool = True,
        deferrable: bool | None = None,
        poll_interval: float = 30,
        max_poll_interval: float | None = None,
        max_consecutive_failures: int = waiting.DEFAULT_MAX_CONSECUTIVE_FAILURES,
        timeout: float = SIX_HOURS,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        check_waiting(
            interval_name="poll_interval",
            interval=poll_interval,
            max_interval=max_poll_interval,
            timeout_name="timeout",
            timeout=timeout,
            max_failures=max_consecutive_failures,
        )
        if not isinstance(resource_type, str) or not resource_type.strip():
            raise MetrikaConfigError("resource_type must be a Commerce Layer resource type such as 'skus'")
        if isinstance(max_open_imports, bool) or not isinstance(max_open_imports, int):
            raise MetrikaConfigError(f"max_open_imports must be a whole number from 1 to 10, got {max_open_imports!r}")
        if not 1 <= max_open_imports <= MAX_OPEN_IMPORTS:
            raise MetrikaConfigError(f"max_open_imports must be from 1 to {MAX_OPEN_IMPORTS}, got {max_open_imports}")
        if metadata is not None and not isinstance(metadata, Mapping | str):
            raise MetrikaConfigError(f"metadata must be a JSON object, got {type(metadata).__name__}")
        self.resource_type = resource_type
        self.src = src
        self.rows = rows
        self.format = inputs.check_format(format)
        self.parent_resource_id = parent_resource_id
        self.skip_errors = bool(skip_errors)
        self.metadata = metadata
        self.source_conn_id = source_conn_id
        self.chunk_size = inputs.check_chunk_size(chunk_size)
        self.max_open_imports = max_open_imports
        self.max_error_ratio = check_max_error_ratio(max_error_ratio)
        self.rejected_rows = rejected_rows
        self.commercelayer_conn_id = commercelayer_conn_id
        self.wait = bool(wait)
        self.deferrable = default_deferrable() if deferrable is None else bool(deferrable)
        self.poll_interval = float(poll_interval)
        self.max_poll_interval = max_poll_interval
        self.max_consecutive_failures = max_consecutive_failures
        self.timeout = float(timeout)
        self._sent_ids: list[str] = []

    @cached_property
    def hook(self) -> CommerceLayerHook:
        return CommerceLayerHook(self.commercelayer_conn_id)

    # -- sending ------------------------------------------------------------------------------------

    def _source(self) -> inputs.InputSource:
        return inputs.input_source(self.src, self.rows, source_conn_id=self.source_conn_id)

    def _metadata(self) -> dict[str, Any] | None:
        value = self.metadata
        if isinstance(value, str):  # a rendered template
            try:
                value = json.loads(value)
            except ValueError:
                raise MetrikaConfigError("metadata must be a JSON object; the rendered text is not JSON") from None
        if value is not None and not isinstance(value, Mapping):
            raise MetrikaConfigError(f"metadata must be a JSON object, got {type(value).__name__}")
        return None if value is None else dict(value)

    def _fingerprint(self, context: Context, digest: str) -> str:
        settings = "|".join(
            map(str, (digest, self.resource_type, self.format, self.parent_resource_id, self.chunk_size))
        )
        return fingerprint(context, settings)

    def _earlier(self, mark: str) -> dict[str, api.CommerceLayerImport]:
        """Imports an earlier try of this task created, by reference (interrupted ones are not reused)."""
        found: dict[str, api.CommerceLayerImport] = {}
        for item in self.hook.iter_imports(filters={"reference_start": mark}, sort="created_at"):
            if item.reference and item.status != "interrupted":
                found.setdefault(item.reference, item)
        return found

    def send_all(self, context: Context) -> tuple[str, str, list[api.CommerceLayerImport]]:
        """Check the inputs, then create (or find again) one import per part; (fingerprint, source, imports)."""
        source = self._source()
        metadata = self._metadata()
        count, digest = inputs.checked(source, self.format)
        mark = self._fingerprint(context, digest)
        earlier = self._earlier(mark)
        slots = OpenSlots(
            self.hook, self.max_open_imports, self.poll_interval, time.monotonic() + self.timeout, self.log
        )
        created: list[api.CommerceLayerImport] = []
        for part in inputs.parts(source, count, self.chunk_size):
            ref = inputs.reference(mark, part)
            item = earlier.get(ref)
            if item is not None:
                self.log.info("Part %d of %d: found import %s from an earlier try", part.number, part.total, item.id)
            else:
                slots.take()
                item = self._create(part, ref, metadata)
                self.log.info(
                    "Part %d of %d: created import %s (%d inputs)", part.number, part.total, item.id, len(part.inputs)
                )
            created.append(item)
            self._sent_ids.append(item.id)
        return mark, source.name, created

    def _create(self, part: inputs.ImportPart, ref: str, metadata: dict[str, Any] | None) -> api.CommerceLayerImport:
        try:
            return self.hook.create_import(
                self.resource_type,
                part.payload(self.format),
                format=self.format,
                parent_resource_id=self.parent_resource_id,
                skip_errors=self.skip_errors,
                reference=ref,
                reference_origin=REFERENCE_ORIGIN,
                metadata=metadata,
            )
        except MetrikaAmbiguousResponseError as error:
            found = [i for i in self.hook.find_imports(ref) if i.status != "interrupted"]
            if found:
                self.log.info("The answer was lost, but import %s with reference %s exists", found[0].id, ref)
                return found[0]
            raise AirflowException(
                f"Commerce Layer may or may not have created the import with reference {ref} ({error}); "
                "the next try looks it up by reference before creating it"
            ) from error

    # -- the task -----------------------------------------------------------------------------------

    def execute(self, context: Context) -> Any:
        mark, source_name, created = self.send_all(context)
        scope = organization(self.hook.settings.base_url)
        ids = [item.id for item in created]
        remember_imports(context, scope, ids, next((i.mode for i in created if i.mode), "live"))
        if not self.wait:
            records = [job_record(i, scope) for i in created]
            return completed(self, context, jobs_result(VENDOR, records, fingerprint=mark, source=source_name))
        if self.deferrable:
            trigger = CommerceLayerImportTrigger(
                conn_id=self.commercelayer_conn_id,
                scope=scope,
                job_ids=ids,
                poll_interval=self.poll_interval,
                max_poll_interval=self.max_poll_interval,
                max_consecutive_failures=self.max_consecutive_failures,
                max_error_ratio=self.max_error_ratio,
                interrupt_on_kill=True,
            )
            defer_until_terminal(self, trigger, timeout=self.timeout)
        waiter = import_waiter(ids, scope, self.max_error_ratio, self.max_consecutive_failures, self.log)
        event = waiting.wait_blocking(
            fetch_records(self.hook, ids), waiter, poll_interval=self.poll_interval, timeout=self.timeout, log=self.log
        )
        return self.finish(context, event)

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        """Resume on the worker with the trigger's event."""
        return self.finish(context, event)

    def finish(self, context: Context, event: Mapping[str, Any]) -> JobsResult:
        """The rejected rows written (when asked), then the task's result or its failure."""
        result = event.get("result") if isinstance(event.get("result"), Mapping) else None
        rejected = self.write_rejected(result) if result and self.rejected_rows is not None else None
        if rejected is not None:
            self.log.info("Wrote %d rejected inputs to %s", rejected["rows"], rejected["path"])
        final = dict(waiting.finish_wait(event, self.log))
        references = [job.get("extra", {}).get("reference") for job in final.get("jobs", [])]
        mark = next((inputs.fingerprint_of(r) for r in references if inputs.fingerprint_of(r)), None)
        if mark:
            final["fingerprint"] = mark
        if rejected is not None:
            final["rejected_rows"] = rejected
        return completed(self, context, final)

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """The source as input, the organization's resource type as output, the import ids as run facet."""
        return operator_lineage(self)

    def write_rejected(self, result: Mapping[str, Any]) -> dict[str, Any]:
        """The inputs the imports' ``errors_log`` names, with their errors, in a CSV at ``rejected_rows``."""
        failed = {job["id"] for job in result.get("jobs", []) if job.get("counters", {}).get("errors_count")}
        logs = {i: self.hook.get_import(i, fields=("errors_log", "reference")) for i in failed}
        by_part = {}
        for item in logs.values():
            number = (item.reference or "").rsplit("-p", 1)[-1].split("of")[0]
            if number.isdigit():
                by_part[int(number)] = item.attributes.get("errors_log")
        rows: list[tuple[int, dict[str, Any], str]] = []
        if by_part:
            source = self._source()
            count = sum(1 for _ in source.rows())
            for part in inputs.parts(source, count, self.chunk_size):
                if part.number in by_part:
                    rows.extend(inputs.iter_rejected(part, by_part[part.number]))
        columns = list(dict.fromkeys(key for _, row, _ in rows for key in row))
        with open_target(self.rejected_rows, self.source_conn_id) as (name, out):
            writer = csv.writer(out, lineterminator="\n")
            writer.writerow(["row", "errors", *columns])
            for number, row, errors in sorted(rows, key=lambda r: r[0]):
                writer.writerow([number, errors, *(_cell(row.get(c)) for c in columns)])
        return {"path": name, "rows": len(rows)}

    def on_kill(self) -> None:
        """The task was killed on the worker: interrupt the imports this try created that are still open."""
        if not self._sent_ids:
            return
        for import_id, item in self.hook.imports_by_id(self._sent_ids).items():
            if item.is_open:
                try:
                    self.hook.interrupt_import(import_id)
                    self.log.info("Interrupted Commerce Layer import %s", import_id)
                except Exception as error:  # it may have finished meanwhile
                    self.log.warning("Could not interrupt Commerce Layer import %s: %s", import_id, error)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Mapping | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)
