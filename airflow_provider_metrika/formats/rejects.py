"""The rejected-rows CSV: every row a check refused or dropped, with its row number, the problem and its
original cells, so a pipeline can fix those rows and resend only them.

Rows are written as the checker meets them (one pass, streamed): memory holds one row at a time.
Columns: ``row`` (the file line, header = 1), ``column``, ``problem``, then the file's own header.
Several problems of one row become one line (columns and problems joined by ``; ``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import IO, Any

from airflow_provider_metrika.formats.base import FileFormat, read_chunks
from airflow_provider_metrika.formats.options import ValidationOptions
from airflow_provider_metrika.jobs.rejects_writer import MAX_CELL_CHARS, REJECT_COLUMNS, RejectedRowsWriter

__all__ = [
    "MAX_CELL_CHARS",
    "REJECT_COLUMNS",
    "RejectedRowsWriter",
    "write_rejected_input",
    "write_rejected_records",
    "write_rejected_rows",
]


def write_rejected_records(
    file_format: FileFormat, records: Iterable[Mapping[str, Any]], out: IO[str], options: ValidationOptions
) -> int:
    """Check rows (dicts) as the writer would write them; every refused or dropped row goes to ``out`` with the
    cells the writer would have written (a value that cannot be converted: no cells)."""
    writer = RejectedRowsWriter(out)
    report = file_format.validate_rows(records, options, on_reject=writer.reject)
    return writer.close(report.header)


def write_rejected_rows(
    file_format: FileFormat, stream: IO[bytes], out: IO[str], options: ValidationOptions, file_name: str
) -> int:
    """Check ``stream`` once and write every refused or dropped row to ``out``; returns their number."""
    writer = RejectedRowsWriter(out)
    checker = file_format.stream_checker(file_name, options, fail_fast=False, on_reject=writer.reject)
    for chunk in read_chunks(stream):
        checker.feed(chunk)
    return writer.close(checker.finish().header)


def write_rejected_input(
    file_format: FileFormat,
    out: IO[str],
    options: ValidationOptions,
    *,
    source: Any = None,
    records: Iterable[Mapping[str, Any]] | None = None,
) -> int:
    """The rejected rows of an input: ``records`` (rows as the writer would write them), else the file ``source``
    (a :class:`~airflow_provider_metrika.jobs.inputs.PreparedInput`, read in one more streamed pass)."""
    if records is not None:
        return write_rejected_records(file_format, records, out, options)
    with source.opener() as stream:
        return write_rejected_rows(file_format, stream, out, options, source.name)
