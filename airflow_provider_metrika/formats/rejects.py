"""The rejected-rows CSV: every row a check refused or dropped, with its row number, the problem and its
original cells, so a pipeline can fix those rows and resend only them.

Rows are written as the checker meets them (one pass, streamed): memory holds one row at a time.
Columns: ``row`` (the file line, header = 1), ``column``, ``problem``, then the file's own header.
Several problems of one row become one line (columns and problems joined by ``; ``).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from typing import IO, Any

from airflow_provider_metrika.formats.base import FileFormat, read_chunks
from airflow_provider_metrika.formats.options import ValidationOptions

REJECT_COLUMNS = ("row", "column", "problem")
#: Longest cell copied into the artifact (a runaway record is cut, never held whole twice).
MAX_CELL_CHARS = 131_072


class RejectedRowsWriter:
    """Writes rejected rows to a text stream under the checked file's header (the checker passes it along)."""

    def __init__(self, out: IO[str], header: list[str] | None = None) -> None:
        self._writer = csv.writer(out, lineterminator="\n")
        self._header = header
        self._started = False
        self._pending: tuple[int | None, list[str], list[str], list[str] | None] | None = None
        self.rows = 0

    def reject(
        self,
        row: int | None,
        column: str | None,
        problem: str,
        cells: list[str] | None,
        header: list[str] | None = None,
    ) -> None:
        """One problem of a row; consecutive problems of the same row are merged into one line."""
        if not self._header and header:
            self._header = list(header)
        if self._pending is not None and row is not None and self._pending[0] == row:
            self._pending[1].append(column or "")
            self._pending[2].append(problem)
            return
        self._flush()
        self._pending = (row, [column or ""], [problem], None if cells is None else list(cells))

    def close(self, header: list[str] | None = None) -> int:
        """Write what is pending (and the header, if nothing was rejected); returns the rejected rows."""
        if not self._header and header:
            self._header = list(header)
        self._flush()
        if not self._started:
            self._write_header()
        return self.rows

    def _write_header(self) -> None:
        self._writer.writerow([*REJECT_COLUMNS, *(self._header or ())])
        self._started = True

    def _flush(self) -> None:
        if self._pending is None:
            return
        if not self._started:
            self._write_header()
        row, columns, problems, cells = self._pending
        self._pending = None
        named = "; ".join(dict.fromkeys(c for c in columns if c))
        self._writer.writerow(
            ["" if row is None else row, named, "; ".join(problems), *(cell[:MAX_CELL_CHARS] for cell in cells or ())]
        )
        self.rows += 1


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
