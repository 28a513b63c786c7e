"""The file-format base class and reading sources in chunks.

A format is a header compiler (:meth:`FileFormat.compile_rules`) plus data; validation,
in-flight checking, ``filter_rows`` and the writers' self-check all run through one
:class:`~airflow_provider_metrika.formats.checker.StreamChecker`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import IO, Any

from airflow_provider_metrika.exceptions import MetrikaConfigError
from airflow_provider_metrika.formats.checker import HeaderContext, RejectHook, RowRules, StreamChecker
from airflow_provider_metrika.formats.options import ValidationOptions
from airflow_provider_metrika.formats.report import Problem, ValidationReport, raise_problem

CHUNK_SIZE = 1 << 20

Source = str | os.PathLike | IO[bytes]


@contextmanager
def open_binary(source: Source) -> Iterator[IO[bytes]]:
    """Open a path in binary mode, or pass a binary file-like object through (left open)."""
    if isinstance(source, str | os.PathLike):
        with open(source, "rb") as handle:
            yield handle
    elif hasattr(source, "read"):
        yield source  # type: ignore[misc]
    else:
        raise MetrikaConfigError(f"cannot read {type(source).__name__}: pass a path or a binary file object")


def read_chunks(stream: IO[bytes], size: int = CHUNK_SIZE) -> Iterator[bytes]:
    while True:
        chunk = stream.read(size)
        if not chunk:
            return
        if isinstance(chunk, str):
            raise MetrikaConfigError("the file was opened in text mode; open it in binary mode ('rb')")
        yield chunk


def source_name(source: Source) -> str:
    if isinstance(source, str | os.PathLike):
        return os.path.basename(os.fspath(source))
    name = getattr(source, "name", None)
    return os.path.basename(name) if isinstance(name, str) else "<stream>"


class FileFormat:
    """One Metrika file format. Subclasses compile header rules and encode rows for the writer."""

    name: str = ""
    #: CSV formats with a CDP ``delimiter_type`` honour ``options.delimiter``; others use ','.
    honours_delimiter: bool = False
    json_root: str | None = None

    def csv_delimiter(self, options: ValidationOptions) -> str:
        return options.delimiter if self.honours_delimiter else ","

    def compile_rules(self, header: list[str], options: ValidationOptions, context: HeaderContext) -> RowRules:
        raise NotImplementedError

    def header_is_data(self, first_row: list[str]) -> bool:
        """True for a header-less layout: the first line is then checked and counted as a data row."""
        return False

    def check_options(self, options: ValidationOptions) -> None:
        """Hook for format-specific option checks (raise MetrikaConfigError)."""

    # -- validation ----------------------------------------------------------------------
    def stream_checker(
        self,
        file_name: str = "<stream>",
        options: ValidationOptions | None = None,
        *,
        fail_fast: bool = True,
        on_reject: RejectHook | None = None,
    ) -> StreamChecker:
        options = options or ValidationOptions()
        self.check_options(options)
        return StreamChecker(self, file_name, options, fail_fast=fail_fast, on_reject=on_reject)

    def validate(
        self, source: Source, file_name: str | None = None, options: ValidationOptions | None = None
    ) -> ValidationReport:
        """Check a whole file, streaming in chunks; never raises for bad content."""
        return self._run(source, file_name, options, sink=None)

    def filter_rows(
        self, source: Source, dest: IO[bytes], options: ValidationOptions | None = None, file_name: str | None = None
    ) -> ValidationReport:
        """Write the header and the valid, kept rows (stale ones dropped under ``stale_rows="drop"``)."""
        return self._run(source, file_name, options, sink=dest)

    def _run(
        self, source: Source, file_name: str | None, options: ValidationOptions | None, sink: IO[bytes] | None
    ) -> ValidationReport:
        options = options or ValidationOptions()
        self.check_options(options)
        checker = StreamChecker(self, file_name or source_name(source), options, fail_fast=False, sink=sink)
        with open_binary(source) as stream:
            for chunk in read_chunks(stream):
                checker.feed(chunk)
        return checker.finish()

    def validate_json(
        self, source: Source, file_name: str | None = None, options: ValidationOptions | None = None
    ) -> ValidationReport:
        """Check a JSON body file; only the kinds with a JSON endpoint (contacts, orders) have one."""
        raise MetrikaConfigError(f"{self.name} files are CSV; Metrika has no JSON upload for them")

    def validate_rows(
        self,
        rows: Iterable[Mapping[str, Any]],
        options: ValidationOptions | None = None,
        file_name: str = "<rows>",
        *,
        on_reject: RejectHook | None = None,
    ) -> ValidationReport:
        """Check rows as the writer would emit them (every value problem is reported, not raised).

        "row N" is the line the row would occupy in the written CSV (the header is row 1).
        """
        from airflow_provider_metrika.formats.writer import check_rows_as_csv

        return check_rows_as_csv(self, rows, options or ValidationOptions(), file_name, on_reject)

    # -- writing -------------------------------------------------------------------------
    def write_csv(
        self, rows: Iterable[Mapping[str, Any]] | Any, out: IO[bytes], options: ValidationOptions | None = None
    ) -> int:
        """Write Metrika CSV for ``rows`` (dicts or a DataFrame); returns the number of rows written."""
        from airflow_provider_metrika.formats.writer import write_rows_csv

        return write_rows_csv(self, rows, out, options or ValidationOptions())

    def to_json_body(
        self, rows: Iterable[Mapping[str, Any]] | Any, options: ValidationOptions | None = None
    ) -> dict[str, list[dict[str, Any]]]:
        raise MetrikaConfigError(f"{self.name} has no JSON upload; use write_csv")

    def encode_csv_row(self, row: Mapping[str, Any], options: ValidationOptions) -> dict[str, str]:
        """Map one input row to ``{Metrika header: cell text}``; raise ValueError(column, reason) on bad values."""
        raise NotImplementedError

    def header_for(self, columns: Iterable[str]) -> list[str]:
        """The written header for the columns the first row uses (a fixed, documented order)."""
        return list(columns)


class CellError(ValueError):
    """A value the writer cannot convert; carries the column so the error can name it."""

    def __init__(self, column: str | None, reason: str) -> None:
        self.column = column
        self.reason = reason
        super().__init__(f"column {column}: {reason}" if column else reason)


__all__ = [
    "CHUNK_SIZE",
    "CellError",
    "FileFormat",
    "HeaderContext",
    "Problem",
    "RowRules",
    "Source",
    "StreamChecker",
    "ValidationOptions",
    "ValidationReport",
    "raise_problem",
]
