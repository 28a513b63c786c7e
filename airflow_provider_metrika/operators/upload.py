"""Upload operators: resolve the input, validate it, upload it once, optionally wait.

One base class serves every upload kind; the public operators only name their kind
and the query parameters Metrika wants for it.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from airflow_provider_metrika.exceptions import (
    MetrikaAmbiguousResponseError,
    MetrikaConfigError,
    MetrikaNoRowsError,
    MetrikaValidationError,
)
from airflow_provider_metrika.fingerprint import comment_with, find_uploading, reattach, validate_comment
from airflow_provider_metrika.formats import FileFormat, ValidationOptions, get_file_format
from airflow_provider_metrika.formats.rejects import write_rejected_records, write_rejected_rows
from airflow_provider_metrika.formats.validation import check_mode, plan_parts
from airflow_provider_metrika.hooks.metrika import MetrikaHook
from airflow_provider_metrika.jobs.current_try import CurrentTry
from airflow_provider_metrika.jobs.fingerprint import FINGERPRINT_LEN, fingerprint
from airflow_provider_metrika.jobs.inputs import (
    MAX_FILE_BYTES,
    PreparedInput,
    prepare_file,
    rows_to_records,
    spool_rows,
)
from airflow_provider_metrika.jobs.journal import SendJournal, SentRecord, new_record
from airflow_provider_metrika.jobs.rejects import open_target
from airflow_provider_metrika.jobs.trigger import defer_until_terminal
from airflow_provider_metrika.jobs.waiting import finish_wait, wait_blocking
from airflow_provider_metrika.lineage import completed, operator_lineage
from airflow_provider_metrika.links import MetrikaUploadsLink, remember_counter
from airflow_provider_metrika.parameters import check_optional_text, check_waiting, is_template
from airflow_provider_metrika.sensors.uploading import THREE_HOURS
from airflow_provider_metrika.task_retry import DEFAULT_RETRY_POLICY, retry_policy_kwargs
from airflow_provider_metrika.triggers.uploading import DEFAULT_MAX_CONSECUTIVE_FAILURES, MetrikaUploadingTrigger
from airflow_provider_metrika.uploads import Uploading, get_upload_kind
from airflow_provider_metrika.version_compat import AirflowSkipException, BaseOperator, Context, default_deferrable
from airflow_provider_metrika.waiting import WaitPolicy, fetch_uploadings, metrika_waiter


class MetrikaBaseUploadOperator(BaseOperator):
    """Upload a file (or rows) of one Metrika upload kind and push the uploading to XCom.

    :param src: local path, ``ObjectStoragePath`` or fsspec URL of the file (templated)
    :param rows: rows instead of a file: a list of dicts (e.g. from XCom) or a pandas DataFrame
    :param counter_id: Metrika counter id; the connection's default when omitted (templated)
    :param comment: comment stored with the uploading, up to 232 characters (templated); the provider appends its
        fingerprint. Characters other than Latin/Cyrillic letters and digits get a warning (the documented rule,
        which real clients do not keep to)
    :param strict_comment: make such characters an error instead, before anything is read or sent
    :param metrika_conn_id: Airflow connection of type ``yandex_metrika``
    :param source_conn_id: connection for reading ``src`` from object storage
    :param validation: ``preflight`` (default: whole file checked before any request),
        ``inflight`` (checked while streaming, one pass, aborted before the last byte on error) or ``none``
    :param stale_rows: rows older than Metrika's 21-day linkage window: ``warn``, ``drop`` or ``fail``
    :param max_problems: how many problems a validation error lists
    :param wait_for_completion: also wait until Metrika has processed the uploading
    :param deferrable: wait in the triggerer instead of on a worker
    :param poll_interval: seconds between status polls while waiting
    :param wait_timeout: seconds to wait for processing before failing (default 3 h)
    :param rejected_rows_path: where to write the rows validation refused or ``stale_rows="drop"`` left out, as a
        CSV (row number, column, problem, the original cells): a local path, fsspec URL or ``ObjectStoragePath``
        (with ``source_conn_id``; templated); its location goes to the XCom key ``rejected_rows``
    :param if_empty: an input without data rows (a quiet day in the CRM): ``skip`` the task (default) or ``fail``
    :param max_file_bytes: larger files are split into several uploads on row boundaries (Metrika's limit: 1 GB);
        the XCom then lists every uploading and the wait covers all of them
    :param linkage_failure: when waiting: ``fail`` or ``warn`` on a linkage failure; by default a calls uploading
        of static calls only warns (Metrika keeps them for call reports), any other fails
    :param min_linked_ratio: when waiting: share of rows (0..1) that must link to visitors, from Metrika's counters
    :param on_low_linkage: below ``min_linked_ratio``: ``fail`` (default, without retries) or ``warn``
    :param durable: on Airflow 3.3+, keep each uploading id in the task state store as soon as Metrika returns it,
        so a retry of this task instance with the same data reattaches to it instead of validating and uploading
        again (below 3.3, and with ``durable=False``, the retry finds its uploading by the fingerprint instead)
    :param retry_policy: Airflow 3.3+: defaults to :class:`~airflow_provider_metrika.task_retry.MetrikaRetryPolicy`
        (bad input and 4xx fail at once, a spent daily quota retries after the reset, a lost upload answer
        retries a minute later at the soonest); ``None`` leaves the task's own retries alone; not available below 3.3

    Exactly once: every upload carries a fingerprint of (task instance, data) in its comment; a retry, or an
    upload whose answer was lost, reuses the uploading that carries it rather than making a second one.
    """

    kind: ClassVar[str]
    #: Whether the documented letters-and-digits rule concerns this kind's comment (the calls page states none).
    comment_character_rule: ClassVar[bool] = True
    template_fields: Sequence[str] = (
        "src",
        "rows",
        "counter_id",
        "comment",
        "metrika_conn_id",
        "source_conn_id",
        "rejected_rows_path",
    )
    template_fields_renderers: ClassVar[dict[str, str]] = {"rows": "json"}
    ui_color = "#ffdb4d"
    operator_extra_links = (MetrikaUploadsLink(),)

    def __init__(
        self,
        *,
        src: Any = None,
        rows: Any = None,
        counter_id: int | str | None = None,
        comment: str | None = None,
        metrika_conn_id: str = MetrikaHook.default_conn_name,
        source_conn_id: str | None = None,
        validation: str = "preflight",
        stale_rows: str = "warn",
        max_problems: int = 20,
        wait_for_completion: bool = False,
        deferrable: bool | None = None,
        poll_interval: float = 60,
        max_poll_interval: float | None = None,
        wait_timeout: float = THREE_HOURS,
        max_consecutive_failures: int = DEFAULT_MAX_CONSECUTIVE_FAILURES,
        max_file_bytes: int = MAX_FILE_BYTES,
        durable: bool = True,
        if_empty: str = "skip",
        linkage_failure: str | None = None,
        min_linked_ratio: float | None = None,
        on_low_linkage: str = "fail",
        strict_comment: bool = False,
        retry_policy: Any = DEFAULT_RETRY_POLICY,
        rejected_rows_path: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs, **retry_policy_kwargs(retry_policy, type(self).__name__))
        self.policy = WaitPolicy(linkage_failure, min_linked_ratio, on_low_linkage)
        self.rejected_rows_path = rejected_rows_path
        if src is None and rows is None:
            raise MetrikaConfigError(f"{type(self).__name__}: give src (a file) or rows")
        if src is not None and rows is not None:
            raise MetrikaConfigError(f"{type(self).__name__}: give src or rows, not both")
        self.src = src
        self.rows = rows
        self._rows: Any = rows
        self._rows_given = rows is not None  # rows may still resolve to None (an upstream task returned nothing)
        self.current_try = CurrentTry({}, None)  # replaced by the running try's own in claim_upload
        self._rows_placeholder: str | None = None
        self.counter_id = counter_id
        self.comment = comment if is_template(comment) else check_optional_text("comment", comment)
        self.metrika_conn_id = metrika_conn_id
        self.source_conn_id = source_conn_id
        self.validation = check_mode(validation)
        check_waiting(
            interval_name="poll_interval",
            interval=poll_interval,
            max_interval=max_poll_interval,
            timeout_name="wait_timeout",
            timeout=wait_timeout,
            max_failures=max_consecutive_failures,
        )
        self.stale_rows = stale_rows
        self.max_problems = max_problems
        self.wait_for_completion = wait_for_completion
        self.deferrable = default_deferrable() if deferrable is None else deferrable
        self.poll_interval = poll_interval
        self.max_poll_interval = max_poll_interval
        self.wait_timeout = wait_timeout
        self.max_consecutive_failures = max_consecutive_failures
        self.max_file_bytes = max_file_bytes
        self.if_empty = if_empty
        self.durable = durable
        self.strict_comment = strict_comment

    # -- what subclasses vary -------------------------------------------------------------
    def upload_params(self, comment: str, source: PreparedInput) -> dict[str, Any]:
        """Query parameters of the upload request."""
        return {"comment": comment}

    def after_upload(self, hook: MetrikaHook, counter_id: int, uploading: Uploading) -> Uploading:
        """A step some kinds need after the upload (user params: confirm); also runs for a reused uploading."""
        return uploading

    def validation_options(self) -> ValidationOptions:
        return ValidationOptions(max_problems=self.max_problems, stale_rows=self.stale_rows)

    def before_upload(self, hook: MetrikaHook, counter_id: int, context: Context, marks: Sequence[str]) -> dict:
        """A step between validation and the first upload (expenses: delete the replaced range); XCom extras."""
        return {}

    # -- the story every kind shares ------------------------------------------------------
    @property
    def file_format(self) -> str | FileFormat:
        return get_upload_kind(self.kind).file_format

    def prepare_input(self, tmpdir: str) -> PreparedInput:
        if self._rows_given:
            records = rows_to_records(self._rows)
            fmt = get_file_format(self.file_format)
            options = self.validation_options()
            return spool_rows(lambda out: fmt.write_csv(records, out, options=options), tmpdir, self.kind)
        return prepare_file(self.src, source_conn_id=self.source_conn_id)

    def render_template_fields(self, context: Context, jinja_env: Any = None) -> None:
        """Resolve ``rows`` (XCom, Jinja) like any field, then keep them out of the rendered-fields record.

        CRM rows carry personal data (emails, phones): the UI's rendered view and the
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
        self._rows_placeholder = self.rows = json.dumps({"rows": count, "not_shown": "CRM data"})

    def check_params(self) -> None:
        """Every (rendered) parameter checked before the input is read or a request is sent."""
        rule = "none" if not self.comment_character_rule else "strict" if self.strict_comment else "warn"
        validate_comment(
            check_optional_text("comment", self.comment), reserve=FINGERPRINT_LEN, rule=rule, warn=self.log.warning
        )
        self.validation_options()
        if self.if_empty not in ("skip", "fail"):
            raise MetrikaConfigError(f"if_empty={self.if_empty!r}: expected 'skip' or 'fail'")

    def execute(self, context: Context) -> Any:
        self.check_params()
        hook = MetrikaHook(self.metrika_conn_id)
        counter_id = hook.resolve_counter_id(self.counter_id)
        remember_counter(context, counter_id)
        with tempfile.TemporaryDirectory(prefix="metrika-") as tmpdir:
            try:
                uploadings, extra = self.upload(hook, counter_id, context, tmpdir)
            except MetrikaNoRowsError as nothing:
                if self.if_empty == "fail":
                    raise
                raise AirflowSkipException(f"{nothing}; skipping (if_empty='skip')") from nothing
        uploadings = [self.after_upload(hook, counter_id, uploading) for uploading in uploadings]
        for uploading in uploadings:
            self.log.info("Uploaded: %s", uploading.describe())
        ids = [uploading.uploading_id for uploading in uploadings]
        context["ti"].xcom_push(key="uploading_id", value=ids[0] if len(ids) == 1 else ids)
        if len(uploadings) == 1:
            result: dict[str, Any] = uploadings[0].to_xcom() | extra
        else:
            result = {"kind": self.kind, "counter_id": counter_id, "uploadings": [u.to_xcom() for u in uploadings]}
            result |= extra
        if not self.wait_for_completion:
            return completed(self, context, result)
        return completed(self, context, self.wait(hook, context, counter_id, ids, uploadings))

    def upload(
        self, hook: MetrikaHook, counter_id: int, context: Context, tmpdir: str
    ) -> tuple[list[Uploading], dict[str, Any]]:
        """Prepare and validate the input, then upload each part unless this task already did.

        A complete journal record for this input short-cuts everything but reading the
        input's digest; otherwise each part's uploading id is journaled as soon as it exists.
        """
        self.claim_upload(context)
        try:
            source = self.prepare_input(tmpdir)
        except MetrikaValidationError:  # rows the CSV writer refused
            self.report_rejected_rows(context, None)
            raise
        source.require_rows()
        digest = source.content_digest()
        journal, record, reattached = self.resume(hook, counter_id, context, digest)
        if record is not None and reattached is not None:
            return reattached, {"fingerprint": fingerprints_extra(record.marks), "source": source.name}
        try:
            parts = plan_parts(
                self.file_format,
                source,
                self.validation_options(),
                mode=self.validation,
                max_bytes=self.max_file_bytes,
                directory=tmpdir,
                log=self.log,
            )
            marks = [
                fingerprint(context, digest if len(parts) == 1 else f"{digest}:{index}/{len(parts)}")
                for index in range(1, len(parts) + 1)
            ]
            record = new_record(self.kind, counter_id, fingerprint(context, digest), marks)
            before = self.before_upload(hook, counter_id, context, marks)
            uploadings = []
            for index, ((part, opener), mark) in enumerate(zip(parts, marks, strict=True)):
                uploading = self.upload_once(hook, counter_id, part, opener, comment_with(self.comment, mark), mark)
                record = record.with_part(index, uploading.uploading_id)
                journal.write(record)
                uploadings.append(uploading)
        except MetrikaValidationError:
            self.report_rejected_rows(context, source)
            raise
        extra = {"fingerprint": fingerprints_extra(marks), "source": source.name, **before}
        extra.update(self.after_uploads(context, source, uploadings))
        return uploadings, extra

    def after_uploads(self, context: Context, source: PreparedInput, uploadings: list[Uploading]) -> dict[str, Any]:
        """XCom extras once every part is sent: the rows ``stale_rows="drop"`` left out, when they are asked for."""
        if self.stale_rows != "drop" or self.validation == "none":
            return {}
        rejected = self.write_rejected_rows(context, source)
        return {} if rejected is None else {"rejected_rows": rejected}

    def report_rejected_rows(self, context: Context, source: PreparedInput | None) -> None:
        """:meth:`write_rejected_rows` while a validation error is on its way: a failure here is only logged."""
        try:
            self.write_rejected_rows(context, source)
        except Exception as error:  # the validation error is what the task reports
            self.log.warning("Could not write the rejected rows: %s: %s", type(error).__name__, error)

    def write_rejected_rows(self, context: Context, source: PreparedInput | None) -> dict[str, Any] | None:
        """Write the rows validation refuses or drops to ``rejected_rows_path`` (one more streamed pass over
        the file; for ``rows``, a pass over them as the CSV writer would write them)."""
        if not self.rejected_rows_path:
            return None
        fmt = get_file_format(self.file_format)
        options = self.validation_options()
        with open_target(self.rejected_rows_path, self.source_conn_id) as (location, out):
            if self._rows is not None or source is None:
                count = write_rejected_records(fmt, rows_to_records(self._rows), out, options)
            else:
                with source.opener() as stream:
                    count = write_rejected_rows(fmt, stream, out, options, source.name)
        return self.announce_rejected_rows(context, location, count)

    def announce_rejected_rows(self, context: Context, location: str, count: int) -> dict[str, Any]:
        """The artifact's location in the XCom (key ``rejected_rows``) and the log."""
        info = {"path": location, "rows": count}
        context["ti"].xcom_push(key="rejected_rows", value=info)
        self.log.warning("%d rejected row(s) written to %s", count, location)
        return info

    def claim_upload(self, context: Context) -> None:
        """Claim the upload for this try (Airflow 3.3+), so a stale try still running stops before posting."""
        self.current_try = CurrentTry.of(context, durable=self.durable, logger=self.log)
        self.current_try.claim()

    def resume(
        self, hook: MetrikaHook, counter_id: int, context: Context, digest: str
    ) -> tuple[SendJournal, SentRecord | None, list[Uploading] | None]:
        """This task instance's journal, its record for this data, and the uploadings that record names, read back.

        The uploadings are None when there is nothing to reattach to (no record, an
        incomplete one, or ids Metrika no longer knows): then the data is uploaded.
        """
        journal = SendJournal.of(context, durable=self.durable, logger=self.log)
        record = journal.read(self.kind, counter_id, fingerprint(context, digest))
        return journal, record, reattach(hook, record, self.log)

    def upload_once(
        self, hook: MetrikaHook, counter_id: int, source: PreparedInput, opener: Any, comment: str, mark: str
    ) -> Uploading:
        """Reuse an uploading that already carries this task's fingerprint; otherwise upload.

        A task retry after a successful upload, or an upload whose answer was lost,
        finds its uploading instead of making a second one.
        """
        existing = find_uploading(hook, self.kind, counter_id, mark)
        if existing is not None:
            self.log.info("Reusing %s (fingerprint %s): not uploading again", existing.describe(), mark)
            return existing
        params = self.upload_params(comment, source)
        self.current_try.check(f"the {self.kind} upload {mark}")
        try:
            return hook.upload_file(self.kind, counter_id, opener, params=params, file_name=file_name_of(source))
        except MetrikaAmbiguousResponseError:
            found = find_uploading(hook, self.kind, counter_id, mark)
            if found is None:
                raise
            self.log.warning("The upload's answer was lost, but Metrika has it: %s", found.describe())
            return found

    def wait(
        self, hook: MetrikaHook, context: Context, counter_id: int, ids: list[str], known: Sequence[Uploading] = ()
    ) -> Any:
        """Wait until every uploading is terminal; ``known`` ones that already are (a retry) end it at once."""
        waiter = metrika_waiter(
            self.kind,
            counter_id,
            ids,
            policy=self.policy,
            max_consecutive_failures=self.max_consecutive_failures,
            logger=self.log,
        )
        settled = waiter.observe([u.to_record() for u in known]) if known else None
        if settled is not None:
            return finish_wait(settled, self.log)
        if self.deferrable:
            trigger = MetrikaUploadingTrigger(
                kind=self.kind,
                scope=counter_id,
                job_ids=ids,
                conn_id=self.metrika_conn_id,
                poll_interval=self.poll_interval,
                max_poll_interval=self.max_poll_interval,
                max_consecutive_failures=self.max_consecutive_failures,
                **self.policy.to_kwargs(),
            )
            defer_until_terminal(self, trigger, timeout=self.wait_timeout)
        event = wait_blocking(
            fetch_uploadings(hook, self.kind, counter_id, ids),
            waiter,
            poll_interval=self.poll_interval,
            timeout=self.wait_timeout,
            log=self.log,
        )
        return finish_wait(event, self.log)

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """The source file in, the counter and kind out, Metrika's counters as run facets."""
        return operator_lineage(self)

    def execute_complete(self, context: Context, event: Mapping[str, Any]) -> Any:
        """Resume on the worker when the trigger reports the uploading terminal."""
        return completed(self, context, finish_wait(event, self.log))


def fingerprints_extra(marks: Sequence[str]) -> str | list[str]:
    """The ``fingerprint`` entry of the XCom: one mark, or the list of the parts' marks."""
    return marks[0] if len(marks) == 1 else list(marks)


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

    def upload_params(self, comment: str, source: PreparedInput) -> dict[str, Any]:
        params = super().upload_params(comment, source)
        if self.new_goal_name:
            params["new_goal_name"] = self.new_goal_name
        return params


class MetrikaUploadChatsOperator(MetrikaBaseUploadOperator):
    """Upload chats (offline conversions of type ``CHATS``: ``DateTime``, an id column, optional details).

    Metrika creates the automatic goal "Chat" from them. Wait with ``MetrikaUploadingSensor(kind="chats")``
    or ``wait_for_completion=True``. Columns: https://yandex.com/dev/metrika/en/management/chats
    """

    kind = "chats"
