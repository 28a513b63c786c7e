"""Sending import jobs exactly once, and waiting for them: the operator base every vendor's sending operator takes.

A Metrika uploading and a Commerce Layer import are sent the same way: take the input (a file, an
fsspec URL or ``ObjectStoragePath``, or rows from XCom), check it, fingerprint it, and send each part
once. :class:`JobSendOperator` holds that story; a vendor says how its input splits into parts, how a
part is sent, and how a job it already sent is found again (by the fingerprint it carries). Only the
kinds whose jobs have a status to wait on also take :class:`JobWaitMixin` (a synchronous answer, as
Metrika's CDP uploads give, has nothing to wait for).

Exactly once, in order of cost: the send journal (Airflow 3.3's task state store) names the jobs an
earlier try of this task instance sent; failing that, the vendor's list is searched for the part's
fingerprint before each send and after a send whose answer was lost; on Airflow 3.3 the current-try
claim stops a stale try that still runs. Every operator returns a
:class:`~airflow_provider_metrika.jobs.record.JobsResult`.

Deferral: https://airflow.apache.org/docs/apache-airflow/stable/authoring-and-scheduling/deferring.html
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import timedelta
from functools import cached_property
from typing import IO, Any, ClassVar

from airflow_provider_metrika.exceptions import (
    AmbiguousResponseError,
    InputValidationError,
    NoRowsError,
    ProviderConfigError,
)
from airflow_provider_metrika.jobs.current_try import CLAIM_KEY, CurrentTry
from airflow_provider_metrika.jobs.fingerprint import fingerprint
from airflow_provider_metrika.jobs.inputs import PreparedInput, prepare_file, rows_to_records, spool_rows
from airflow_provider_metrika.jobs.journal import JOURNAL_KEY, SendJournal, SentRecord, new_record
from airflow_provider_metrika.jobs.record import JobRecord, JobsResult, jobs_result
from airflow_provider_metrika.jobs.rejects import open_target
from airflow_provider_metrika.jobs.task_retry import DEFAULT_RETRY_POLICY, JobRetryPolicy, retry_policy_kwargs
from airflow_provider_metrika.jobs.trigger import JobWaitTrigger
from airflow_provider_metrika.jobs.waiting import (
    DEFAULT_MAX_CONSECUTIVE_FAILURES,
    Verdict,
    Waiter,
    WaitSettings,
    finish_wait,
    judge_by_state,
    wait_blocking,
)
from airflow_provider_metrika.version_compat import AirflowSkipException, BaseOperator, Context

#: The longest a sending operator waits for its jobs by default (seconds).
DEFAULT_WAIT_TIMEOUT = 3 * 60 * 60
#: What ``if_empty`` accepts.
IF_EMPTY = ("skip", "fail")
#: The keys every JobsResult has; the rest are the sending operator's extras (fingerprint, source, ...).
RESULT_KEYS = frozenset({"vendor", "ids", "jobs", "warnings"})


@dataclasses.dataclass(frozen=True)
class Part:
    """One piece of the input that becomes one job.

    ``body`` is what the hook sends (the part's opener, or a reader that validates while it sends);
    ``fingerprint`` the mark the job carries, so a retry finds it instead of sending it again.
    """

    index: int
    count: int
    source: PreparedInput
    body: Any
    fingerprint: str


def part_fingerprints(context: Context, digest: str, count: int) -> list[str]:
    """One fingerprint per part: the input's own for one part, one per (part, count) for a split input."""
    if count == 1:
        return [fingerprint(context, digest)]
    return [fingerprint(context, f"{digest}:{index}/{count}") for index in range(1, count + 1)]


def with_fingerprint(record: JobRecord, mark: str) -> JobRecord:
    """The record with the fingerprint of the part it was sent from in its ``extra``."""
    return dataclasses.replace(record, extra={**record.extra, "fingerprint": mark})


class JobSendOperator(BaseOperator):
    """Inputs → validation → fingerprint → journal → per part: reattach (:meth:`find_sent`) or :meth:`send`, once.

    :param src: local path, ``ObjectStoragePath`` or fsspec URL of the file to send (templated)
    :param rows: rows instead of a file: a list of dicts (e.g. from XCom) or a pandas DataFrame; kept out of
        the rendered-fields record (they often hold personal data)
    :param source_conn_id: connection for reading ``src`` from (or writing ``rejected_rows_path`` to) object storage
    :param if_empty: an input without data rows: ``skip`` the task (default) or ``fail``
    :param durable: on Airflow 3.3+, keep each job id in the task state store as soon as the vendor returns it,
        so a retry of this task instance with the same data reattaches instead of sending again (below 3.3,
        and with ``durable=False``, the retry finds its job by fingerprint instead)
    :param rejected_rows_path: where the vendor's operator writes the rows it refused (a local path, fsspec URL
        or ``ObjectStoragePath``; templated); its location goes to the XCom key ``rejected_rows`` and the result
    :param retry_policy: Airflow 3.3+: defaults to the vendor's policy (:attr:`default_retry_policy`; bad input and
        4xx fail at once, a rate limit retries after the server's window, a lost send answer a minute later at the
        soonest); ``None`` leaves the task's own retries alone; not available below 3.3

    A vendor sets :attr:`vendor`, :attr:`hook_class` and :attr:`conn_id_field` (the name of its connection-id
    parameter) and implements :meth:`job_scope`, :meth:`find_sent` and :meth:`send`; it may refine
    :meth:`plan_parts` (validation and splitting), :meth:`write_rows`, :meth:`read_back` (journal reattach),
    :meth:`before_send`, :meth:`after_sends`, :meth:`after_send`, :meth:`on_sent`, :meth:`report` and
    :meth:`write_rejected_rows`.
    """

    vendor: ClassVar[str]
    hook_class: ClassVar[type]
    conn_id_field: ClassVar[str]
    #: The task-state-store keys of the journal and the current-try claim (one pair per vendor).
    journal_key: ClassVar[str] = JOURNAL_KEY
    claim_key: ClassVar[str] = CLAIM_KEY
    #: The vendor's Airflow 3.3 retry policy, made when the task is given none.
    default_retry_policy: ClassVar[type | None] = JobRetryPolicy

    template_fields: Sequence[str] = ("src", "rows", "source_conn_id", "rejected_rows_path")
    template_fields_renderers: ClassVar[dict[str, str]] = {"rows": "json"}

    def __init__(
        self,
        *,
        src: Any = None,
        rows: Any = None,
        source_conn_id: str | None = None,
        if_empty: str = "skip",
        durable: bool = True,
        rejected_rows_path: Any = None,
        retry_policy: Any = DEFAULT_RETRY_POLICY,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs, **retry_policy_kwargs(retry_policy, type(self).__name__, self.default_retry_policy))
        if src is None and rows is None:
            raise ProviderConfigError(f"{type(self).__name__}: give src (a file) or rows")
        if src is not None and rows is not None:
            raise ProviderConfigError(f"{type(self).__name__}: give src or rows, not both")
        if if_empty not in IF_EMPTY:
            raise ProviderConfigError(f"if_empty={if_empty!r}: expected 'skip' or 'fail'")
        self.src = src
        self.rows = rows
        self._rows: Any = rows
        self._rows_given = rows is not None  # rows may still resolve to None (an upstream task returned nothing)
        self._rows_placeholder: str | None = None
        self.source_conn_id = source_conn_id
        self.if_empty = if_empty
        self.durable = durable
        self.rejected_rows_path = rejected_rows_path
        self.current_try = CurrentTry({}, None)  # replaced by the running try's own in execute

    # -- what a vendor provides ------------------------------------------------------------------------

    @cached_property
    def hook(self) -> Any:
        """The vendor's hook, built once from the connection id (after templates are rendered)."""
        return self.hook_class(getattr(self, self.conn_id_field))

    @property
    def job_kind(self) -> str:
        """The kind of job this operator sends (Metrika's upload kind, a Commerce Layer resource type)."""
        return str(self.kind)  # type: ignore[attr-defined]

    def job_scope(self) -> str:
        """Where the jobs go (a Metrika counter id, a Commerce Layer organization), resolved through the hook."""
        raise NotImplementedError

    def find_sent(self, fingerprint: str) -> JobRecord | None:
        """The job that carries ``fingerprint``, if the vendor has one; None when its list holds none.

        A list that cannot be read must raise (``SentJobSearchError``), never answer None: that would send twice.
        """
        raise NotImplementedError

    def send(self, part: Part, fingerprint: str) -> JobRecord:
        """Send one part as one job carrying ``fingerprint``; the job as the vendor answered."""
        raise NotImplementedError

    def read_back(self, job_id: str) -> JobRecord | None:
        """The job as the vendor reports it now, or None when it does not know it (journal reattach).

        The default knows none: the journal is then only a record, and the fingerprint search reattaches.
        """
        return None

    def write_rows(self, records: Iterable[Mapping[str, Any]], out: IO[bytes]) -> int:
        """Write ``rows`` in the vendor's file format to ``out``; the number of rows written."""
        raise ProviderConfigError(f"{type(self).__name__}: rows are not supported; give src")

    def check_rows(self, source: PreparedInput) -> None:
        """Raise ``NoRowsError`` for an input with a header and no rows (a CSV's; a vendor may read others)."""
        source.require_rows()

    def plan_parts(self, source: PreparedInput, tmpdir: str) -> list[tuple[PreparedInput, Any]]:
        """The input checked and split into ``(part, body)`` pairs; the default sends it whole, unchecked."""
        return [(source, source.opener)]

    def before_send(self, context: Context, fingerprints: Sequence[str]) -> dict[str, Any]:
        """A step between validation and the first send (Metrika expenses: delete a range); result extras."""
        return {}

    def after_sends(self, context: Context, source: PreparedInput, records: list[JobRecord]) -> dict[str, Any]:
        """Result extras once every part is sent (the rows validation dropped, say)."""
        return {}

    def after_send(self, record: JobRecord) -> JobRecord:
        """A step some kinds need after each job, also for a job found again (Metrika user params: confirm)."""
        return record

    def write_rejected_rows(self, out: IO[str], source: PreparedInput | None) -> int | None:
        """Write the rows this input's checks refuse to ``out``; how many (None: this vendor writes none)."""
        return None

    def on_sent(self, context: Context, records: list[JobRecord]) -> None:
        """Every part is sent (or found again), before any wait: log it (a vendor may push more XComs)."""
        for record in records:
            self.log.info("Sent: %s", record.describe())

    def report(self, context: Context, result: JobsResult) -> JobsResult:
        """The task's final result, on its way out (a vendor may record lineage here)."""
        return result

    # -- the story every vendor shares ---------------------------------------------------------------

    def check_params(self) -> None:
        """Every rendered parameter checked before the input is read or a request is sent."""

    def render_template_fields(self, context: Context, jinja_env: Any = None) -> None:
        """Resolve ``rows`` (XCom, Jinja) like any field, then keep them out of the rendered-fields record.

        Rows often carry personal data (emails, phones): the UI's rendered view and the
        rendered-fields table get a count, the task keeps the rows themselves.
        """
        super().render_template_fields(context, jinja_env)
        if self._rows_given and self.rows is None:
            self._rows = None  # the XCom held nothing: no rows (skipped per if_empty), not the XComArg itself
            return
        if self.rows is None or self.rows == self._rows_placeholder:
            return  # no rows, or rendered before: the rows are already kept aside
        self._rows = self.rows
        count = len(self.rows) if hasattr(self.rows, "__len__") else "?"
        # Valid JSON: the UI shows this field with its JSON renderer.
        self._rows_placeholder = self.rows = json.dumps({"rows": count, "not_shown": "input data"})

    def execute(self, context: Context) -> Any:
        return self.send_and_report(context)

    def send_and_report(self, context: Context) -> Any:
        """What ``execute`` does; a vendor's method resuming a deferral made mid-send calls it again (the parts
        already sent are found again, not resent). Not ``execute`` itself: Airflow warns when a task calls it."""
        self.check_params()
        with tempfile.TemporaryDirectory(prefix=f"{self.vendor}-") as tmpdir:
            try:
                records, extra = self.send_input(context, tmpdir)
            except NoRowsError as nothing:
                if self.if_empty == "fail":
                    raise
                raise AirflowSkipException(f"{nothing}; skipping (if_empty='skip')") from nothing
        records = [self.after_send(record) for record in records]
        self.on_sent(context, records)
        result = jobs_result(self.vendor, records, **extra)
        return self.report(context, self.outcome(context, records, result))

    def outcome(self, context: Context, records: list[JobRecord], result: JobsResult) -> JobsResult:
        """What the sent jobs come to: the result as sent (:class:`JobWaitMixin` waits first)."""
        return result

    def prepare_input(self, tmpdir: str) -> PreparedInput:
        """The input as a re-openable byte source: the file, or the rows written in the vendor's format."""
        if self._rows_given:
            records = rows_to_records(self._rows)
            return spool_rows(lambda out: self.write_rows(records, out), tmpdir, self.job_kind)
        return prepare_file(self.src, source_conn_id=self.source_conn_id)

    def send_input(self, context: Context, tmpdir: str) -> tuple[list[JobRecord], dict[str, Any]]:
        """Prepare and check the input, then send each part unless this task instance already did.

        A complete journal record for this input short-cuts everything but reading the
        input's digest; otherwise each part's job id is journaled as soon as it exists.
        """
        self.current_try = CurrentTry.of(context, durable=self.durable, logger=self.log, key=self.claim_key)
        self.current_try.claim()
        try:
            source = self.prepare_input(tmpdir)
        except InputValidationError:  # rows the writer refused
            self.report_rejected_rows(context, None)
            raise
        self.check_rows(source)
        digest = source.content_digest()
        source_mark = fingerprint(context, digest)
        extra: dict[str, Any] = {"fingerprint": source_mark, "source": source.name}
        journal = SendJournal.of(context, durable=self.durable, logger=self.log, key=self.journal_key)
        record = journal.read(self.job_kind, self.job_scope(), source_mark)
        reattached = self.reattach(record)
        if reattached is not None:
            return reattached, extra
        try:
            planned = self.plan_parts(source, tmpdir)
            marks = part_fingerprints(context, digest, len(planned))
            record = new_record(self.job_kind, self.job_scope(), source_mark, marks)
            extra.update(self.before_send(context, marks))
            sent: list[JobRecord] = []
            for index, ((part_source, body), mark) in enumerate(zip(planned, marks, strict=True)):
                job = self.send_once(Part(index, len(planned), part_source, body, mark))
                record = record.with_part(index, job.job_id)
                journal.write(record)
                sent.append(job)
        except InputValidationError:
            self.report_rejected_rows(context, source)
            raise
        extra.update(self.after_sends(context, source, sent))
        return sent, extra

    def reattach(self, record: SentRecord | None) -> list[JobRecord] | None:
        """The jobs a complete journal record names, read back; None when any is unknown (then: search and send).

        Running, succeeded and failed jobs are all returned: the caller waits on the running ones and
        reports the terminal ones; it never sends the same data again.
        """
        if record is None or not record.complete:
            return None
        jobs: list[JobRecord] = []
        for job_id, mark in zip(record.job_ids, record.marks, strict=True):
            job = None if job_id is None else self.read_back(job_id)
            if job is None:
                self.log.warning(
                    "The journal names %s job %s, which is not known; searching instead", record.kind, job_id
                )
                return None
            jobs.append(with_fingerprint(job, mark))
        for job in jobs:
            self.log.info("Reattached to %s (recorded by an earlier try): not sending again", job.describe())
        return jobs

    def send_once(self, part: Part) -> JobRecord:
        """Reuse a job that already carries this part's fingerprint; otherwise send the part.

        A task retry after a successful send, or a send whose answer was lost, finds its job
        instead of making a second one.
        """
        mark = part.fingerprint
        existing = self.find_sent(mark)
        if existing is not None:
            self.log.info("Reusing %s (fingerprint %s): not sending again", existing.describe(), mark)
            return with_fingerprint(existing, mark)
        self.current_try.check(f"the {self.job_kind} part {part.index + 1}/{part.count} ({mark})")
        try:
            return with_fingerprint(self.send(part, mark), mark)
        except AmbiguousResponseError:
            found = self.find_sent(mark)
            if found is None:
                raise
            self.log.warning("The answer to the send was lost, but the job exists: %s", found.describe())
            return with_fingerprint(found, mark)

    def report_rejected_rows(self, context: Context, source: PreparedInput | None) -> None:
        """:meth:`rejected_rows` while a validation error is on its way: a failure here is only logged."""
        try:
            self.rejected_rows(context, source)
        except Exception as error:  # the validation error is what the task reports
            self.log.warning("Could not write the rejected rows: %s: %s", type(error).__name__, error)

    def rejected_rows(self, context: Context, source: PreparedInput | None) -> dict[str, Any] | None:
        """Write the rows the checks refuse to ``rejected_rows_path``; its location and row count, or None."""
        if not self.rejected_rows_path:
            return None
        with open_target(self.rejected_rows_path, self.source_conn_id) as (location, out):
            count = self.write_rejected_rows(out, source)
        return None if count is None else self.announce_rejected_rows(context, location, count)

    def announce_rejected_rows(self, context: Context, location: str, count: int) -> dict[str, Any]:
        """The artifact's location in the XCom (key ``rejected_rows``) and the log."""
        info = {"path": location, "rows": count}
        context["ti"].xcom_push(key="rejected_rows", value=info)
        self.log.warning("%d rejected row(s) written to %s", count, location)
        return info


class JobWaitMixin(JobSendOperator):
    """The waiting part of a sending operator: only the kinds whose jobs have a status to wait on take it.

    :param wait_for_completion: also wait until the vendor has processed every job
    :param deferrable: wait in the triggerer instead of on a worker (default: ``operators.default_deferrable``)
    :param poll_interval: seconds between status polls while waiting
    :param max_poll_interval: deferred polls back off up to this many seconds (default: the trigger's)
    :param wait_timeout: seconds to wait before failing (retryably: a retry reattaches and waits again)
    :param max_consecutive_failures: transient poll errors tolerated in a row before the wait gives up

    Put it before the vendor's sending base: ``class ImportOperator(JobWaitMixin, VendorSendOperator)`` (it is
    an operator itself, so Airflow's default-args wrapper sees one ``__init__`` per class). A vendor
    implements :meth:`wait_trigger` (its :class:`~airflow_provider_metrika.jobs.trigger.JobWaitTrigger`) and
    :meth:`fetch_jobs` (one synchronous poll); its :meth:`judge` decides what a terminal job means.
    The deferred and the blocking wait use the same :class:`~airflow_provider_metrika.jobs.waiting.Waiter`.
    """

    def __init__(
        self,
        *,
        wait_for_completion: bool = False,
        deferrable: bool | None = None,
        poll_interval: float = 60,
        max_poll_interval: float | None = None,
        wait_timeout: float = DEFAULT_WAIT_TIMEOUT,
        max_consecutive_failures: int = DEFAULT_MAX_CONSECUTIVE_FAILURES,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        WaitSettings.checked(
            deferrable,
            max_poll_interval,
            max_consecutive_failures,
            interval=("poll_interval", poll_interval),
            timeout=("wait_timeout", wait_timeout),
        ).apply(self)
        self.wait_for_completion = wait_for_completion
        self.poll_interval = poll_interval
        self.wait_timeout = wait_timeout

    # -- what a vendor provides ------------------------------------------------------------------------

    def wait_trigger(self, ids: Sequence[str]) -> JobWaitTrigger:
        """The vendor's trigger waiting on ``ids`` (its kwargs name the connection, never a secret)."""
        raise NotImplementedError

    def fetch_jobs(self, ids: Sequence[str]) -> Sequence[JobRecord]:
        """One synchronous poll of ``ids`` through the hook (the blocking wait)."""
        raise NotImplementedError

    def judge(self, record: JobRecord) -> Verdict:
        """The vendor's policy for one job: by its state unless the vendor says more."""
        return judge_by_state(record)

    def describe_wait(self, ids: Sequence[str]) -> str:
        """The jobs waited on, in words (messages, timeouts)."""
        return f"{self.vendor} jobs {', '.join(ids)}"

    # -- the wait --------------------------------------------------------------------------------------

    def waiter(self, ids: Sequence[str]) -> Waiter:
        return Waiter(
            self.judge,
            vendor=self.vendor,
            what=self.describe_wait(ids),
            max_consecutive_failures=self.max_consecutive_failures,
            logger=self.log,
        )

    def outcome(self, context: Context, records: list[JobRecord], result: JobsResult) -> JobsResult:
        """Wait for the jobs when asked to; the result after the wait keeps the send's extras."""
        if not self.wait_for_completion:
            return super().outcome(context, records, result)
        extras = {key: value for key, value in result.items() if key not in RESULT_KEYS}
        return self.wait_for(records, extras)

    def wait_for(self, records: Sequence[JobRecord], extras: Mapping[str, Any]) -> JobsResult:
        """Wait until every job is terminal (jobs that already are, e.g. reattached ones, end it at once)."""
        ids = [record.job_id for record in records]
        event = self.await_jobs(
            records,
            self.waiter(ids),
            lambda: self.wait_trigger(ids),
            lambda: self.fetch_jobs(ids),
            kwargs={"extras": dict(extras)},
        )
        return merge_extras(finish_wait(event, self.log), extras)

    def await_jobs(
        self,
        records: Sequence[JobRecord],
        waiter: Waiter,
        trigger: Callable[[], JobWaitTrigger],
        fetch: Callable[[], Sequence[JobRecord]],
        *,
        method_name: str = "execute_complete",
        kwargs: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The wait's event: at once when ``records`` are all terminal already; else deferred to ``trigger()``
        (the task resumes in ``method_name`` with ``kwargs``) or polled here through ``fetch``."""
        event = waiter.observe(records)
        if event is not None:
            return event
        if self.deferrable:
            self.defer(
                trigger=trigger(),
                method_name=method_name,
                kwargs=dict(kwargs) if kwargs else None,
                timeout=timedelta(seconds=self.wait_timeout),
            )
        return wait_blocking(fetch, waiter, poll_interval=self.poll_interval, timeout=self.wait_timeout, log=self.log)

    def execute_complete(
        self, context: Context, event: Mapping[str, Any], extras: Mapping[str, Any] | None = None
    ) -> JobsResult:
        """Resume on the worker when the trigger reports the jobs terminal (the send's extras come along)."""
        return self.report(context, merge_extras(finish_wait(event, self.log), extras or {}))


def merge_extras(result: JobsResult, extras: Mapping[str, Any]) -> JobsResult:
    """The wait's result with the send's extras (fingerprint, source, rejected rows ...) beside its jobs."""
    merged = dict(result)
    merged.update({key: value for key, value in extras.items() if key not in RESULT_KEYS})
    return merged  # type: ignore[return-value]
