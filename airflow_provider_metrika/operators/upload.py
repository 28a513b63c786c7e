"""Upload operators: resolve the input, validate it, upload each part once, optionally wait.

Every Metrika kind sends through the kernel's :class:`~airflow_provider_metrika.jobs.sending.JobSendOperator`:
:class:`MetrikaSendOperator` adds what every Metrika upload shares (the counter, validation against the kind's
file format, rows written in Metrika's CSV, rejected rows, lineage); :class:`MetrikaBaseUploadOperator` adds
the comment that carries the fingerprint and the waiting part, which only the kinds with a status to wait on
take (the CDP kinds answer synchronously). The public operators only name their kind and query parameters.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import IO, Any, ClassVar

from airflow_provider_metrika.fingerprint import comment_with, find_uploading, read_back, validate_comment
from airflow_provider_metrika.formats import FileFormat, ValidationOptions, get_file_format
from airflow_provider_metrika.formats.rejects import write_rejected_input
from airflow_provider_metrika.formats.validation import check_mode, plan_parts
from airflow_provider_metrika.hooks.metrika import MetrikaHook
from airflow_provider_metrika.jobs.current_try import CLAIM_KEY
from airflow_provider_metrika.jobs.fingerprint import FINGERPRINT_LEN
from airflow_provider_metrika.jobs.inputs import MAX_FILE_BYTES, PreparedInput, rows_to_records
from airflow_provider_metrika.jobs.journal import JOURNAL_KEY
from airflow_provider_metrika.jobs.record import JobRecord, JobsResult
from airflow_provider_metrika.jobs.sending import DEFAULT_WAIT_TIMEOUT, JobSendOperator, JobWaitMixin, Part
from airflow_provider_metrika.jobs.waiting import Waiter
from airflow_provider_metrika.lineage import completed, operator_lineage
from airflow_provider_metrika.links import MetrikaUploadsLink, remember_counter
from airflow_provider_metrika.parameters import check_optional_text, is_template
from airflow_provider_metrika.task_retry import MetrikaRetryPolicy
from airflow_provider_metrika.triggers.uploading import MetrikaUploadingTrigger
from airflow_provider_metrika.uploads import VENDOR, Uploading, get_upload_kind
from airflow_provider_metrika.version_compat import Context
from airflow_provider_metrika.waiting import WaitPolicy, fetch_uploadings, metrika_waiter

#: Kept for DAGs that import it from here: the default wait timeout (3 h).
THREE_HOURS = DEFAULT_WAIT_TIMEOUT


class MetrikaSendOperator(JobSendOperator):
    """Send a file (or rows) of one Metrika upload kind, each part once; the kernel's sending base for Metrika.

    :param src: local path, ``ObjectStoragePath`` or fsspec URL of the file (templated)
    :param rows: rows instead of a file: a list of dicts (e.g. from XCom) or a pandas DataFrame
    :param counter_id: Metrika counter id; the connection's default when omitted (templated)
    :param metrika_conn_id: Airflow connection of type ``yandex_metrika``
    :param source_conn_id: connection for reading ``src`` from object storage
    :param validation: ``preflight`` (default: whole file checked before any request),
        ``inflight`` (checked while streaming, one pass, aborted before the last byte on error) or ``none``
    :param stale_rows: rows older than Metrika's 21-day linkage window: ``warn``, ``drop`` or ``fail``
    :param max_problems: how many problems a validation error lists
    :param rejected_rows_path: where to write the rows validation refused or ``stale_rows="drop"`` left out, as a
        CSV (row number, column, problem, the original cells): a local path, fsspec URL or ``ObjectStoragePath``
        (with ``source_conn_id``; templated); its location goes to the XCom key ``rejected_rows``
    :param if_empty: an input without data rows (a quiet day in the CRM): ``skip`` the task (default) or ``fail``
    :param max_file_bytes: larger files are split into several uploads on row boundaries (Metrika's limit: 1 GB);
        the result then lists every uploading
    :param durable: on Airflow 3.3+, keep each uploading id in the task state store as soon as Metrika returns it,
        so a retry of this task instance with the same data reattaches to it instead of validating and uploading
        again (below 3.3, and with ``durable=False``, the retry finds its uploading by the fingerprint instead)
    :param retry_policy: Airflow 3.3+: defaults to :class:`~airflow_provider_metrika.task_retry.MetrikaRetryPolicy`
        (bad input and 4xx fail at once, a spent daily quota retries after the reset, a lost upload answer
        retries a minute later at the soonest); ``None`` leaves the task's own retries alone; not available below 3.3

    Returns a :class:`~airflow_provider_metrika.jobs.record.JobsResult` (``ids`` and ``jobs`` are lists, also for
    one uploading); the XCom key ``uploading_id`` holds the same ids.
    """

    vendor = VENDOR
    hook_class = MetrikaHook
    conn_id_field = "metrika_conn_id"
    default_retry_policy = MetrikaRetryPolicy
    journal_key = JOURNAL_KEY
    claim_key = CLAIM_KEY
    kind: ClassVar[str]
    template_fields: Sequence[str] = (
        "src",
        "rows",
        "counter_id",
        "metrika_conn_id",
        "source_conn_id",
        "rejected_rows_path",
    )
    ui_color = "#ffdb4d"
    operator_extra_links = (MetrikaUploadsLink(),)

    def __init__(
        self,
        *,
        counter_id: int | str | None = None,
        metrika_conn_id: str = MetrikaHook.default_conn_name,
        validation: str = "preflight",
        stale_rows: str = "warn",
        max_problems: int = 20,
        max_file_bytes: int = MAX_FILE_BYTES,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.counter_id = counter_id
        self.metrika_conn_id = metrika_conn_id
        self.validation = check_mode(validation)
        self.stale_rows = stale_rows
        self.max_problems = max_problems
        self.max_file_bytes = max_file_bytes

    # -- what the kinds vary -------------------------------------------------------------------------

    def upload_params(self, part: Part) -> dict[str, Any]:
        """Query parameters of the upload request of ``part``."""
        return {}

    def validation_options(self) -> ValidationOptions:
        return ValidationOptions(max_problems=self.max_problems, stale_rows=self.stale_rows)

    @property
    def file_format(self) -> str | FileFormat:
        return get_upload_kind(self.kind).file_format

    # -- the kernel's questions, answered for Metrika ------------------------------------------------

    def record_of(self, uploading: Uploading) -> JobRecord:
        """The uploading as a job record; the uploading itself is kept for the kind's own steps (confirm, ...)."""
        self.uploadings[uploading.uploading_id] = uploading
        return uploading.to_record()

    @cached_property
    def uploadings(self) -> dict[str, Uploading]:
        """Every uploading this try sent, found or read back, by id (Metrika's own fields, beyond the record)."""
        return {}

    @cached_property
    def counter(self) -> int:
        """The counter id, resolved once (the parameter, or the connection's default)."""
        return self.hook.resolve_counter_id(self.counter_id)

    def job_scope(self) -> str:
        return str(self.counter)

    def check_params(self) -> None:
        self.validation_options()

    def send_input(self, context: Context, tmpdir: str) -> tuple[list[JobRecord], dict[str, Any]]:
        remember_counter(context, self.counter)
        return super().send_input(context, tmpdir)

    def write_rows(self, records: Any, out: IO[bytes]) -> int:
        return get_file_format(self.file_format).write_csv(records, out, options=self.validation_options())

    def plan_parts(self, source: PreparedInput, tmpdir: str) -> list[tuple[PreparedInput, Any]]:
        return plan_parts(
            self.file_format,
            source,
            self.validation_options(),
            mode=self.validation,
            max_bytes=self.max_file_bytes,
            directory=tmpdir,
            log=self.log,
        )

    def find_sent(self, fingerprint: str) -> JobRecord | None:
        """Metrika's CDP kinds carry no comment, so nothing can be found by fingerprint (a re-send merges)."""
        return None

    def send(self, part: Part, fingerprint: str) -> JobRecord:
        uploading = self.hook.upload_file(
            self.kind, self.counter, part.body, params=self.upload_params(part), file_name=file_name_of(part.source)
        )
        return self.record_of(uploading)

    def read_back(self, job_id: str) -> JobRecord | None:
        uploading = read_back(self.hook, self.kind, self.counter, job_id)
        return None if uploading is None else self.record_of(uploading)

    def after_sends(self, context: Context, source: PreparedInput, records: list[JobRecord]) -> dict[str, Any]:
        """The rows ``stale_rows="drop"`` left out, when they are asked for."""
        if self.stale_rows != "drop" or self.validation == "none":
            return {}
        rejected = self.rejected_rows(context, source)
        return {} if rejected is None else {"rejected_rows": rejected}

    def write_rejected_rows(self, out: IO[str], source: PreparedInput | None) -> int | None:
        """The rows validation refuses or drops (one more streamed pass over the file; for ``rows``, a pass over
        them as the CSV writer would write them)."""
        records = rows_to_records(self._rows) if self._rows is not None or source is None else None
        fmt = get_file_format(self.file_format)
        return write_rejected_input(fmt, out, self.validation_options(), source=source, records=records)

    def on_sent(self, context: Context, records: list[JobRecord]) -> None:
        super().on_sent(context, records)
        context["ti"].xcom_push(key="uploading_id", value=[record.job_id for record in records])

    def report(self, context: Context, result: JobsResult) -> JobsResult:
        return completed(self, context, result)

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """The source file in, the counter and kind out, Metrika's counters as run facets."""
        return operator_lineage(self)


class MetrikaBaseUploadOperator(JobWaitMixin, MetrikaSendOperator):
    """Upload a file (or rows) of one Metrika kind with a status to wait on; optionally wait until processed.

    Takes every parameter of :class:`MetrikaSendOperator`, and:

    :param comment: comment stored with the uploading, up to 232 characters (templated); the provider appends its
        fingerprint. Characters other than Latin/Cyrillic letters and digits get a warning (the documented rule,
        which real clients do not keep to)
    :param strict_comment: make such characters an error instead, before anything is read or sent
    :param wait_for_completion: also wait until Metrika has processed every uploading
    :param deferrable: wait in the triggerer instead of on a worker (default: ``operators.default_deferrable``)
    :param poll_interval: seconds between status polls while waiting
    :param max_poll_interval: deferred polls back off up to this many seconds
    :param wait_timeout: seconds to wait for processing before failing (default 3 h)
    :param max_consecutive_failures: transient poll errors tolerated in a row before the wait gives up
    :param linkage_failure: when waiting: ``fail`` or ``warn`` on a linkage failure; by default a calls uploading
        of static calls only warns (Metrika keeps them for call reports), any other fails
    :param min_linked_ratio: when waiting: share of rows (0..1) that must link to visitors, from Metrika's counters
    :param on_low_linkage: below ``min_linked_ratio``: ``fail`` (default, without retries) or ``warn``

    Exactly once: every upload carries a fingerprint of (task instance, data) in its comment; a retry, or an
    upload whose answer was lost, reuses the uploading that carries it rather than making a second one.
    """

    #: Whether the documented letters-and-digits rule concerns this kind's comment (the calls page states none).
    comment_character_rule: ClassVar[bool] = True
    template_fields: Sequence[str] = (*MetrikaSendOperator.template_fields, "comment")

    def __init__(
        self,
        *,
        comment: str | None = None,
        strict_comment: bool = False,
        linkage_failure: str | None = None,
        min_linked_ratio: float | None = None,
        on_low_linkage: str = "fail",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.comment = comment if is_template(comment) else check_optional_text("comment", comment)
        self.strict_comment = strict_comment
        self.wait_policy = WaitPolicy(linkage_failure, min_linked_ratio, on_low_linkage)

    def check_params(self) -> None:
        """Every (rendered) parameter checked before the input is read or a request is sent."""
        rule = "none" if not self.comment_character_rule else "strict" if self.strict_comment else "warn"
        validate_comment(
            check_optional_text("comment", self.comment), reserve=FINGERPRINT_LEN, rule=rule, warn=self.log.warning
        )
        super().check_params()

    def part_comment(self, part: Part) -> str:
        """The user's comment followed by the part's fingerprint."""
        return comment_with(self.comment, part.fingerprint)

    def upload_params(self, part: Part) -> dict[str, Any]:
        return {"comment": self.part_comment(part)}

    def find_sent(self, fingerprint: str) -> JobRecord | None:
        uploading = find_uploading(self.hook, self.kind, self.counter, fingerprint)
        return None if uploading is None else self.record_of(uploading)

    # -- the wait, in Metrika's terms ---------------------------------------------------------------

    def waiter(self, ids: Sequence[str]) -> Waiter:
        return metrika_waiter(
            self.kind,
            self.counter,
            ids,
            policy=self.wait_policy,
            max_consecutive_failures=self.max_consecutive_failures,
            logger=self.log,
        )

    def wait_trigger(self, ids: Sequence[str]) -> MetrikaUploadingTrigger:
        return self.trigger_for(self.kind, ids, **self.wait_policy.to_kwargs())

    def trigger_for(self, kind: str, ids: Sequence[str], **policy: Any) -> MetrikaUploadingTrigger:
        """The trigger waiting on ``ids`` of ``kind`` in this counter, with this task's poll settings."""
        return MetrikaUploadingTrigger(
            kind=kind,
            scope=self.counter,
            job_ids=list(ids),
            conn_id=self.metrika_conn_id,
            poll_interval=self.poll_interval,
            max_poll_interval=self.max_poll_interval,
            max_consecutive_failures=self.max_consecutive_failures,
            **policy,
        )

    def fetch_jobs(self, ids: Sequence[str]) -> Sequence[JobRecord]:
        return fetch_uploadings(self.hook, self.kind, self.counter, ids)()


def file_name_of(source: PreparedInput) -> str:
    name = source.name.rstrip("/").rsplit("/", 1)[-1]
    return name if name.endswith(".csv") else f"{name or 'data'}.csv"


class MetrikaUploadOfflineConversionsOperator(MetrikaBaseUploadOperator):
    """Upload offline conversions (CSV: ``Target``, ``DateTime``, an id column, optional ``Price``/``Currency``).

    Example::

        upload = MetrikaUploadOfflineConversionsOperator(
            task_id="upload", src="/data/conversions_{{ ds }}.csv", counter_id=12345,
            comment="crm{{ ds_nodash }}", wait_for_completion=True, deferrable=True,
        )
    """

    kind = "offline_conversions"


class MetrikaUploadCallsOperator(MetrikaBaseUploadOperator):
    """Upload call conversions (CSV: ``DateTime``, an id column, ``StaticCall``, ``PhoneNumber`` ...).

    Wait with ``MetrikaUploadingSensor(kind="calls")`` or ``wait_for_completion=True``.

    :param new_goal_name: name of the calls goal Metrika creates if the counter has none (templated)
    """

    kind = "calls"
    comment_character_rule = False
    template_fields: Sequence[str] = (*MetrikaBaseUploadOperator.template_fields, "new_goal_name")

    def __init__(self, *, new_goal_name: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.new_goal_name = new_goal_name

    def upload_params(self, part: Part) -> dict[str, Any]:
        params = super().upload_params(part)
        if self.new_goal_name:
            params["new_goal_name"] = self.new_goal_name
        return params


class MetrikaUploadChatsOperator(MetrikaBaseUploadOperator):
    """Upload chats (offline conversions of type ``CHATS``: ``DateTime``, an id column, optional details).

    Metrika creates the automatic goal "Chat" from them. Wait with ``MetrikaUploadingSensor(kind="chats")``
    or ``wait_for_completion=True``. Columns: https://yandex.com/dev/metrika/en/management/chats
    """

    kind = "chats"
