"""CommerceLayerImportOperator: SKUs, prices, stock, customers, ... into Commerce Layer through imports.

Built on the kernel's :class:`~airflow_provider_metrika.jobs.sending.JobSendOperator` (inputs, fingerprint,
send journal, each part sent once) and :class:`~airflow_provider_metrika.jobs.sending.JobWaitMixin` (the
deferrable wait). What is Commerce Layer's: inputs are checked first (a bad row fails the task with its row
and field named, nothing sent) and cut into imports of at most 10,000 inputs; at most ``max_open_imports``
(10, Commerce Layer's own limit per organization) are open at once: the next part waits for one to close, on
the worker, or when deferrable in the triggerer (the task then resumes to send the next parts, see
:mod:`.slots`); each import's ``reference`` carries its part's fingerprint and number, so a retry or a resume
finds it (a ``reference_start`` listing) instead of importing again; ``max_error_ratio`` decides success with
errors (https://docs.commercelayer.io/core/importing-resources). The result is a
:class:`~airflow_provider_metrika.jobs.record.JobsResult` whose jobs carry each import's counters and its
``errors_log``/``warnings_log`` (capped); the inputs the imports refused can go to a rejected-rows CSV.
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import timedelta
from typing import IO, Any

from airflow_provider_metrika.commercelayer import api, inputs
from airflow_provider_metrika.commercelayer.hooks import CommerceLayerHook
from airflow_provider_metrika.commercelayer.lineage import completed, operator_lineage
from airflow_provider_metrika.commercelayer.links import CommerceLayerImportLink, remember_imports
from airflow_provider_metrika.commercelayer.policy import (
    DEFAULT_MAX_ERROR_RATIO,
    check_max_error_ratio,
    describe_import,
    import_waiter,
    judge_import,
)
from airflow_provider_metrika.commercelayer.slots import MAX_OPEN_IMPORTS, OpenSlots
from airflow_provider_metrika.commercelayer.status import VENDOR, fetch_records, job_record, organization
from airflow_provider_metrika.commercelayer.triggers import (
    CommerceLayerImportTrigger,
    CommerceLayerOpenSlotTrigger,
    interrupt_open_sync,
)
from airflow_provider_metrika.exceptions import MetrikaConfigError
from airflow_provider_metrika.jobs.inputs import PreparedInput, prepare_file, rows_to_records
from airflow_provider_metrika.jobs.record import JobRecord, JobsResult
from airflow_provider_metrika.jobs.rejects import open_target
from airflow_provider_metrika.jobs.sending import JobWaitMixin, Part
from airflow_provider_metrika.jobs.trigger import JobWaitTrigger
from airflow_provider_metrika.jobs.waiting import Verdict, Waiter
from airflow_provider_metrika.version_compat import AirflowException, Context

REFERENCE_ORIGIN = "airflow"


class CommerceLayerImportOperator(JobWaitMixin):
    """Import inputs into Commerce Layer and (by default) wait until Commerce Layer has processed them.

    :param resource_type: what the inputs are (``skus``, ``prices``, ``stock_items``, ``customers``, ...)
    :param src: a CSV file (header line first) or a JSON file (a list of objects): a local path, an fsspec
        URL or an ``ObjectStoragePath`` (``source_conn_id`` for its connection)
    :param rows: instead of ``src``: a list of dicts (an upstream task's return value) or a DataFrame
    :param format: ``json`` (default) or ``csv``: how the inputs travel
    :param parent_resource_id: the parent of every input (a price list for prices, a stock location for stock)
    :param skip_errors: ask Commerce Layer not to interrupt an import above 10 % failed inputs
    :param metadata: a JSON object stored on every import (templated)
    :param chunk_size: inputs per import (at most 10,000)
    :param max_open_imports: imports of the organization open at once before this task waits (at most 10)
    :param max_error_ratio: share of an import's inputs (0..1) that may fail with the task still succeeding
    :param rejected_rows_path: where to write the refused inputs (CSV: row, errors, the input's fields)
    :param wait_for_completion: wait for the imports to finish (default ``True``)
    :param deferrable: free the worker while waiting, for the imports to finish and for a free import slot
        (default ``[operators] default_deferrable``)
    :param poll_interval: seconds between status polls (and between checks for a free import slot)
    :param wait_timeout: seconds before the wait gives up (a retry reattaches to the same imports); the waits
        for free slots of one try count against it too

    See :class:`~airflow_provider_metrika.jobs.sending.JobSendOperator` for ``if_empty``, ``durable`` and the
    other parameters every sending operator takes.
    """

    vendor = VENDOR
    hook_class = CommerceLayerHook
    conn_id_field = "commercelayer_conn_id"
    journal_key = "commercelayer_send_journal"
    claim_key = "commercelayer_current_try"
    template_fields: Sequence[str] = (
        *JobWaitMixin.template_fields,
        "resource_type",
        "parent_resource_id",
        "metadata",
        "commercelayer_conn_id",
    )
    template_fields_renderers = {**JobWaitMixin.template_fields_renderers, "metadata": "json"}
    ui_color = "#c9e4ff"
    operator_extra_links = (CommerceLayerImportLink(),)

    def __init__(
        self,
        *,
        resource_type: str,
        format: str = "json",
        parent_resource_id: str | None = None,
        skip_errors: bool = False,
        metadata: Mapping[str, Any] | str | None = None,
        chunk_size: int = api.MAX_INPUTS,
        max_open_imports: int = MAX_OPEN_IMPORTS,
        max_error_ratio: float = DEFAULT_MAX_ERROR_RATIO,
        commercelayer_conn_id: str = CommerceLayerHook.default_conn_name,
        wait_for_completion: bool = True,
        poll_interval: float = 30,
        **kwargs: Any,
    ) -> None:
        super().__init__(wait_for_completion=wait_for_completion, poll_interval=poll_interval, **kwargs)
        if not isinstance(resource_type, str) or not resource_type.strip():
            raise MetrikaConfigError("resource_type must be a Commerce Layer resource type such as 'skus'")
        if isinstance(max_open_imports, bool) or not isinstance(max_open_imports, int):
            raise MetrikaConfigError(f"max_open_imports must be a whole number from 1 to 10, got {max_open_imports!r}")
        if not 1 <= max_open_imports <= MAX_OPEN_IMPORTS:
            raise MetrikaConfigError(f"max_open_imports must be from 1 to {MAX_OPEN_IMPORTS}, got {max_open_imports}")
        if metadata is not None and not isinstance(metadata, Mapping | str):
            raise MetrikaConfigError(f"metadata must be a JSON object, got {type(metadata).__name__}")
        self.resource_type = resource_type
        self.format = inputs.check_format(format)
        self.parent_resource_id = parent_resource_id
        self.skip_errors = bool(skip_errors)
        self.metadata = metadata
        self.chunk_size = inputs.check_chunk_size(chunk_size)
        self.max_open_imports = max_open_imports
        self.max_error_ratio = check_max_error_ratio(max_error_ratio)
        self.commercelayer_conn_id = commercelayer_conn_id
        self._slots: OpenSlots | None = None
        #: When this try stops waiting for free slots: monotonic seconds on the worker, or (deferrable) unix
        #: seconds carried across the deferrals.
        self._slot_deadline: float | None = None
        #: The import of each part this task sent or found, by the part's fingerprint (what a resume reads back).
        self._sent_by_mark: dict[str, str] = {}
        #: Carried by the deferral this task resumes from: the imports sent before it, and as read back now.
        self._resumed: dict[str, str] = {}
        self._read_back: dict[str, Any] | None = None
        self._inputs: inputs.InputSource | None = None
        self._count = 0
        self._pending_parts: Iterator[inputs.ImportPart] | None = None
        self._last_part = 0
        self._sent_ids: list[str] = []
        self._import_rejects: dict[str, Any] | None = None

    # -- what the kernel asks of a vendor -------------------------------------------------------------

    @property
    def job_kind(self) -> str:
        return self.resource_type

    def job_scope(self) -> str:
        return organization(self.hook.settings.base_url)

    def check_params(self) -> None:
        self._metadata()  # a rendered template that is not a JSON object fails before anything is read

    def write_rows(self, records: Iterable[Mapping[str, Any]], out: IO[bytes]) -> int:
        return inputs.write_json_rows(records, out, self.format)

    def check_rows(self, source: PreparedInput) -> None:
        """Empty inputs are found by :meth:`plan_parts` (a JSON list has no header to look past)."""

    def plan_parts(self, source: PreparedInput, tmpdir: str) -> list[tuple[PreparedInput, Any]]:
        """Every input checked, then one part per ``chunk_size`` inputs (its body: the part's number).

        Rows are read from memory, a file from the file; the parts are read in one more pass as they are sent.
        """
        self._inputs = self._given_rows() if self._rows_given else inputs.source_of(source, json_rows=False)
        self._count = inputs.checked(self._inputs, self.format)
        self._pending_parts = None
        total = -(-self._count // self.chunk_size)
        return [(source, number) for number in range(1, total + 1)]

    def find_sent(self, fingerprint: str) -> JobRecord | None:
        """The import whose ``reference`` starts with ``fingerprint`` (interrupted ones are not reused)."""
        found = self._resumed_import(fingerprint)
        if found is None:
            found = next(
                (
                    item
                    for item in self.hook.iter_imports(filters={"reference_start": fingerprint}, sort="created_at")
                    if item.status != "interrupted"
                ),
                None,
            )
        if found is None:
            return None
        self._sent_ids.append(found.id)
        self._sent_by_mark[fingerprint] = found.id
        return job_record(found, self.job_scope())

    def _resumed_import(self, fingerprint: str) -> Any:
        """The import sent for ``fingerprint`` before the deferral this task resumes from, if it is still as sent."""
        job_id = self._resumed.get(fingerprint)
        if job_id is None:
            return None
        if self._read_back is None:
            self._read_back = self.hook.imports_by_id(list(self._resumed.values()))
        item = self._read_back.get(job_id)
        if item is None or item.status == "interrupted" or not (item.reference or "").startswith(fingerprint):
            return None
        return item

    def read_back(self, job_id: str) -> JobRecord | None:
        found = self.hook.imports_by_id([job_id]).get(job_id)
        return None if found is None or found.status == "interrupted" else job_record(found, self.job_scope())

    def send(self, part: Part, fingerprint: str) -> JobRecord:
        """Create one import of the part's inputs once an import slot is free."""
        chunk = self._part(part.body)
        self.take_slot()
        created = self.hook.create_import(
            self.resource_type,
            chunk.payload(self.format),
            format=self.format,
            parent_resource_id=self.parent_resource_id,
            skip_errors=self.skip_errors,
            reference=inputs.reference(fingerprint, chunk),
            reference_origin=REFERENCE_ORIGIN,
            metadata=self._metadata(),
        )
        self._sent_ids.append(created.id)
        self._sent_by_mark[fingerprint] = created.id
        self.log.info(
            "Part %d of %d: created import %s (%d inputs)", chunk.number, chunk.total, created.id, len(chunk.inputs)
        )
        return job_record(created, self.job_scope())

    def take_slot(self) -> None:
        """Take a free import slot: waited for on the worker, or when deferrable in the triggerer.

        Deferred, the task resumes in :meth:`resume_sending`, which sends the parts not sent yet: the ones
        sent before the deferral are found again by their fingerprint (and the journal), never sent twice.
        """
        if self._slots is None:
            self._slots = OpenSlots(self.hook, self.max_open_imports, self.log)
        if not self.deferrable:
            if self._slot_deadline is None:
                self._slot_deadline = time.monotonic() + self.wait_timeout
            self._slots.take(self.poll_interval, self._slot_deadline)
            return
        if self._slots.try_take():
            return
        if self._slot_deadline is None:
            self._slot_deadline = time.time() + self.wait_timeout
        remaining = self._slot_deadline - time.time()
        if remaining <= 0:
            raise AirflowException(
                f"timed out waiting for one of the {self._slots.estimate} open Commerce Layer imports to close"
            )
        if not self._slots.oldest:  # counted as full, yet none listed: count again after a pause on the worker
            self._slots.take(self.poll_interval, time.monotonic() + remaining)
            return
        self.log.info(
            "%d imports open in %s (at most %d): deferring until %d of them end",
            self._slots.estimate,
            self.job_scope(),
            self.max_open_imports,
            self._slots.needed,
        )
        self.defer(
            trigger=CommerceLayerOpenSlotTrigger(
                conn_id=self.commercelayer_conn_id,
                scope=self.job_scope(),
                job_ids=self._slots.oldest,
                slots_needed=self._slots.needed,
                sent_ids=list(dict.fromkeys(self._sent_ids)),
                poll_interval=self.poll_interval,
                max_poll_interval=self.max_poll_interval,
                max_consecutive_failures=self.max_consecutive_failures,
            ),
            method_name="resume_sending",
            kwargs={"slot_deadline": self._slot_deadline, "sent": dict(self._sent_by_mark)},
            timeout=timedelta(seconds=remaining),
        )

    def resume_sending(
        self,
        context: Context,
        event: Mapping[str, Any],
        slot_deadline: float | None = None,
        sent: Mapping[str, str] | None = None,
    ) -> JobsResult:
        """Back from a wait for a free slot: send the parts not sent yet, then wait as :meth:`execute` does.

        ``sent`` maps the fingerprint of each part sent before the deferral to its import: they are read back in
        one listing per 25 instead of one fingerprint search each (a part whose import is not found as expected
        is searched for as on a retry).
        """
        if not isinstance(event, Mapping) or event.get("status") != "success":
            message = event.get("message") if isinstance(event, Mapping) else None
            raise AirflowException(f"waiting for a free Commerce Layer import slot failed: {message or event!r}")
        self.log.info("%s", event.get("message"))
        self._slot_deadline = slot_deadline
        self._resumed = {str(mark): str(job_id) for mark, job_id in (sent or {}).items()}
        return self.send_and_report(context)

    def on_sent(self, context: Context, records: list[JobRecord]) -> None:
        for record in records:
            self.log.info("Sent: %s", describe_import(record))
        self._sent_ids = [record.job_id for record in records]
        mode = next((r.extra.get("mode") for r in records if r.extra.get("mode")), "live")
        remember_imports(context, self.job_scope(), self._sent_ids, str(mode))

    def write_rejected_rows(self, out: IO[str], source: PreparedInput | None) -> int | None:
        """The inputs the checks refused, with their problems (validation failed: nothing was imported)."""
        if self._inputs is None and source is None:
            reader = self._given_rows()
        else:
            reader = self._inputs or inputs.source_of(source, json_rows=self._rows_given)  # type: ignore[arg-type]
        refused = []
        for number, row in enumerate(reader.rows(), start=1):
            problems = inputs.row_problems(row, self.format)
            if problems:
                text = "; ".join((f"{field} " if field else "") + message for field, message in problems)
                refused.append((number, row if isinstance(row, Mapping) else {}, text))
        return write_rejects(out, refused)

    # -- waiting -------------------------------------------------------------------------------------

    def wait_trigger(self, ids: Sequence[str]) -> JobWaitTrigger:
        return CommerceLayerImportTrigger(
            conn_id=self.commercelayer_conn_id,
            scope=self.job_scope(),
            job_ids=list(ids),
            poll_interval=self.poll_interval,
            max_poll_interval=self.max_poll_interval,
            max_consecutive_failures=self.max_consecutive_failures,
            max_error_ratio=self.max_error_ratio,
            interrupt_on_kill=True,
        )

    def fetch_jobs(self, ids: Sequence[str]) -> Sequence[JobRecord]:
        return fetch_records(self.hook, ids)()

    def judge(self, record: JobRecord) -> Verdict:
        return judge_import(record, self.max_error_ratio)

    def waiter(self, ids: Sequence[str]) -> Waiter:
        return import_waiter(ids, self.job_scope(), self.max_error_ratio, self.max_consecutive_failures, self.log)

    def await_jobs(self, records: Sequence[JobRecord], waiter: Waiter, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """The wait's event (the inputs the imports refused written first, when asked, also on a failure)."""
        event = super().await_jobs(records, waiter, *args, **kwargs)
        self._import_rejects = self.write_import_rejects(event)
        return event

    def execute_complete(
        self, context: Context, event: Mapping[str, Any], extras: Mapping[str, Any] | None = None
    ) -> JobsResult:
        self._import_rejects = self.write_import_rejects(event)
        return super().execute_complete(context, event, extras)

    def report(self, context: Context, result: JobsResult) -> JobsResult:
        if self._import_rejects is not None:
            result = {**result, "rejected_rows": self._import_rejects}  # type: ignore[assignment]
        return completed(self, context, result)

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """The source as input, the organization's resource type as output, the import ids as run facet."""
        return operator_lineage(self)

    def on_kill(self) -> None:
        """The task was killed on the worker: interrupt the imports this try created that are still open."""
        if self._sent_ids:
            interrupt_open_sync(self.hook, self._sent_ids, self.log)

    # -- helpers -------------------------------------------------------------------------------------

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

    def _part(self, number: int) -> inputs.ImportPart:
        """Part ``number``'s inputs; the kernel sends parts in order, so one pass over the input serves them all."""
        assert self._inputs is not None, "plan_parts runs before send"
        if self._pending_parts is None or self._last_part >= number:
            self._pending_parts = inputs.parts(self._inputs, self._count, self.chunk_size)
        for chunk in self._pending_parts:
            self._last_part = chunk.number
            if chunk.number == number:
                return chunk
        raise AssertionError(f"no part {number}")  # pragma: no cover - plan_parts counted them

    def write_import_rejects(self, event: Mapping[str, Any]) -> dict[str, Any] | None:
        """The inputs the finished imports' ``errors_log`` and ``warnings_log`` name, in a CSV at
        ``rejected_rows_path`` (a warned input's problems start with ``warning:``)."""
        result = event.get("result")
        if not self.rejected_rows_path or not isinstance(result, Mapping):
            return None
        noted = [
            job["id"]
            for job in result.get("jobs", [])
            if job.get("counters", {}).get("errors_count") or job.get("counters", {}).get("warnings_count")
        ]
        by_part: dict[int, Any] = {}
        for item in self.hook.imports_by_id(noted, fields=("errors_log", "warnings_log", "reference")).values():
            number = (item.reference or "").rsplit("-p", 1)[-1].split("of")[0]
            if number.isdigit():
                by_part[int(number)] = item.attributes
        refused: list[tuple[int, Mapping[str, Any], str]] = []
        if by_part:
            reader = self._reader_again()  # the spooled input went with the send's temporary folder
            count = sum(1 for _ in reader.rows())
            for chunk in inputs.parts(reader, count, self.chunk_size):
                if chunk.number in by_part:
                    logs = by_part[chunk.number]
                    refused.extend(inputs.iter_rejected(chunk, logs.get("errors_log")))
                    refused.extend(inputs.iter_rejected(chunk, logs.get("warnings_log"), "warning: "))
        with open_target(self.rejected_rows_path, self.source_conn_id) as (location, out):
            rows = write_rejects(out, refused)
        self.log.warning("%d input(s) Commerce Layer refused or warned about written to %s", rows, location)
        return {"path": location, "rows": rows}

    def _given_rows(self) -> inputs.InputSource:
        rows = list(rows_to_records(self._rows))
        return inputs.InputSource("rows", lambda: iter(rows))

    def _reader_again(self) -> inputs.InputSource:
        """The inputs after the send (or a deferral): the rows, or the file read again."""
        if self._rows_given:
            return self._given_rows()

        return inputs.source_of(prepare_file(self.src, source_conn_id=self.source_conn_id), json_rows=False)


def write_rejects(out: IO[str], refused: Sequence[tuple[int, Mapping[str, Any], str]]) -> int:
    """``row, errors, <the inputs' fields>`` for each refused input, in row order; how many."""
    columns = list(dict.fromkeys(key for _, row, _ in refused for key in row if key != inputs.EXTRA_FIELDS))
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["row", "errors", *columns])
    for number, row, errors in sorted(refused, key=lambda r: r[0]):
        writer.writerow([number, errors, *(_cell(row.get(column)) for column in columns)])
    return len(refused)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Mapping | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)
