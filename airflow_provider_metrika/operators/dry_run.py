"""A dry run of an upload: validate the file exactly as the upload would, send nothing.

The report goes to XCom (under ``report`` in the provider's one result shape, with no jobs), so a
branch or a human approval step can look at it before the real upload; the rows with problems can
be written to a file for whoever fixes the CRM data, in the upload operators' format.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from airflow_provider_metrika.formats import ValidationOptions, ValidationReport, get_file_format
from airflow_provider_metrika.formats.rejects import write_rejected_input
from airflow_provider_metrika.jobs.inputs import PreparedInput, local_path, prepare_file, storage_path
from airflow_provider_metrika.jobs.record import JobsResult, jobs_result
from airflow_provider_metrika.jobs.rejects import open_target
from airflow_provider_metrika.uploads import VENDOR, get_upload_kind
from airflow_provider_metrika.version_compat import AirflowFailException, BaseOperator, Context


def report_to_xcom(report: ValidationReport) -> dict[str, Any]:
    """The report as JSON-safe data: counts, the first problems (cells cut), warnings."""
    return {
        "ok": report.ok,
        "file": report.file_name,
        "rows": report.rows,
        "valid_rows": report.valid_rows,
        "dropped_rows": report.dropped_rows,
        "total_problems": report.total_problems,
        "problems": [str(problem) for problem in report.problems],
        "warnings": list(report.warnings),
    }


def _open_binary_target(path: Any, conn_id: str | None) -> IO[bytes]:
    """A local path (parents created) or an object-store URL, opened for writing bytes."""
    remote = storage_path(path, conn_id)
    if remote is not None:
        return remote.open("wb")
    target = Path(local_path(path))
    target.parent.mkdir(parents=True, exist_ok=True)
    return target.open("wb")


class MetrikaValidateUploadOperator(BaseOperator):
    """Dry run of an upload of ``kind``: validate the file as the upload operator would; send nothing.

    Returns (XCom) a :class:`~airflow_provider_metrika.jobs.record.JobsResult` with no jobs whose ``report`` is
    the validation report: ``ok``, ``rows``, ``valid_rows``, ``total_problems``, the first ``problems`` (file,
    row, column, message) and ``warnings``. No connection is read and no request is sent.

    :param kind: upload kind (``offline_conversions``, ``calls``, ``user_params``, ...; templated)
    :param src: local path, ``ObjectStoragePath`` or fsspec URL of the file (templated)
    :param source_conn_id: connection for reading ``src`` from object storage
    :param stale_rows: rows older than the linkage window: ``warn`` (default) or ``fail`` (a problem)
    :param max_problems: how many problems the report lists (all are counted)
    :param rejected_rows_path: write the rows with problems here, in the upload operators' rejected-rows format
        (``row``, ``column``, ``problem``, then the row's cells): a local path or an object-store URL (templated);
        the XCom's ``rejected_rows`` is then ``{"path", "rows"}``
    :param valid_rows_path: write the header and the rows without problems here (templated): a file the
        upload operator can take after a human approved uploading what is good
    :param fail_on_problems: fail the task (without retries) when the report has problems; by default
        the task succeeds and the report says ``ok: false``
    """

    template_fields: Sequence[str] = ("kind", "src", "source_conn_id", "rejected_rows_path", "valid_rows_path")
    ui_color = "#fff2b3"

    def __init__(
        self,
        *,
        kind: str,
        src: Any,
        source_conn_id: str | None = None,
        stale_rows: str = "warn",
        max_problems: int = 20,
        rejected_rows_path: Any = None,
        valid_rows_path: Any = None,
        fail_on_problems: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.kind = kind
        self.src = src
        self.source_conn_id = source_conn_id
        self.stale_rows = stale_rows
        self.max_problems = max_problems
        self.rejected_rows_path = rejected_rows_path
        self.valid_rows_path = valid_rows_path
        self.fail_on_problems = fail_on_problems

    def execute(self, context: Context) -> JobsResult:
        fmt = get_file_format(get_upload_kind(self.kind).file_format)
        options = ValidationOptions(max_problems=self.max_problems, stale_rows=self.stale_rows)
        source = prepare_file(self.src, source_conn_id=self.source_conn_id)
        with source.opener() as stream:
            if self.valid_rows_path:
                with _open_binary_target(self.valid_rows_path, self.source_conn_id) as valid:
                    report = fmt.filter_rows(stream, valid, options=options, file_name=source.name)
            else:
                report = fmt.validate(stream, file_name=source.name, options=options)
        extra: dict[str, Any] = {"report": report_to_xcom(report), "source": source.name}
        if self.rejected_rows_path and not report.ok:
            extra["rejected_rows"] = self._write_rejected(fmt, source, options)
        if self.valid_rows_path:
            extra["valid_rows_path"] = str(self.valid_rows_path)
        self.log.info("Dry run of a %s upload:\n%s", self.kind, report.summary())
        if self.fail_on_problems and not report.ok:
            raise AirflowFailException(f"dry run: {report.total_problems} problem(s) in {report.file_name}")
        return jobs_result(VENDOR, [], warnings=report.warnings, **extra)

    def _write_rejected(self, fmt: Any, source: PreparedInput, options: ValidationOptions) -> dict[str, Any]:
        """The rows with problems, in the upload operators' rejected-rows format (one more streamed pass)."""
        with open_target(self.rejected_rows_path, self.source_conn_id) as (location, out):
            count = write_rejected_input(fmt, out, options, source=source)
        self.log.info("Wrote %d rejected row(s) to %s", count, location)
        return {"path": location, "rows": count}
