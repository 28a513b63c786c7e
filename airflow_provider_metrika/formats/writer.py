"""Rows -> Metrika CSV: value converters and the one streaming writer every format uses.

The header is decided by the first row (its columns, in the format's fixed order); a later row
that brings a new column is an error, so the writer never has to look ahead. Each row is
checked with the same compiled rules the file validator uses, before its bytes are written.
"""

from __future__ import annotations

import calendar
import csv
import dataclasses
import io
import math
import numbers
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import date, datetime, tzinfo
from decimal import Decimal, InvalidOperation
from typing import IO, TYPE_CHECKING, Any

from airflow_provider_metrika.formats.base import CellError
from airflow_provider_metrika.formats.checker import StreamChecker
from airflow_provider_metrika.formats.options import ValidationOptions
from airflow_provider_metrika.formats.report import ValidationReport, raise_problem
from airflow_provider_metrika.formats.values import CellCheck, format_cdp_time

if TYPE_CHECKING:
    from airflow_provider_metrika.formats.base import FileFormat

DATAFRAME_CHUNK_ROWS = 10_000
FLUSH_CHARS = 1 << 16


@dataclasses.dataclass(frozen=True)
class Column:
    """A Metrika column: its header, the cell check, the lower_snake aliases and the value converter."""

    name: str
    check: CellCheck | None = None
    aliases: tuple[str, ...] = ()
    convert: Callable[[Any], str] = dataclasses.field(default=lambda value: to_text(value))


def is_missing(value: Any) -> bool:
    """None, NaN and NaT (pandas' missing values) all become an empty cell."""
    if value is None:
        return True
    try:
        return bool(value != value)
    except (TypeError, ValueError, ArithmeticError):
        return False


def to_text(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float | Decimal):
        return to_decimal_text(value)
    return str(value).strip()


def to_int_text(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, float | Decimal) and value == int(value):
        return str(int(value))
    return str(value).strip()


def to_decimal_text(value: Any) -> str:
    """Decimal/float/int -> plain ``1500.5`` text with '.' (never exponent notation)."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is a boolean, not a number")
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value!r} is not a finite number")
        value = Decimal(repr(value))
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{value!r} is not a finite number")
        text = format(value, "f")
        return text.rstrip("0").rstrip(".") if "." in text else text
    if isinstance(value, numbers.Real):
        return to_decimal_text(float(value))
    return str(value).strip()


def to_unix_seconds(value: Any) -> str:
    """An absolute time -> integer unix seconds; naive datetimes are refused (ambiguous timezone)."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a time")
    if isinstance(value, Decimal):
        value = float(value) if value.is_finite() else math.nan
    if isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral):
        if not math.isfinite(float(value)):
            raise ValueError(f"{value!r} is not a time")
        return str(math.floor(value))
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit() and text.isascii():
            return text
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"{value!r} is neither unix seconds nor an ISO date-time with an offset") from None
    if isinstance(value, datetime):
        if value.utcoffset() is None:
            raise ValueError(
                f"naive datetime {value.isoformat()}: ambiguous timezone; pass an aware datetime or unix seconds"
            )
        return str(calendar.timegm(value.utctimetuple()))
    if isinstance(value, date):
        raise ValueError(f"date {value.isoformat()} has no time of day or timezone; pass an aware datetime")
    raise ValueError(f"{type(value).__name__} {value!r} is not a time")


def to_cdp_time(value: Any, zone: tzinfo | None) -> str:
    """A CDP (counter-local) time: naive datetimes are taken as counter-local, aware ones converted."""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, datetime):
        if value.utcoffset() is not None:
            if zone is None:
                raise ValueError("aware datetime: set options.counter_timezone to convert it to the counter's zone")
            value = value.astimezone(zone).replace(tzinfo=None)
        return format_cdp_time(value)
    if isinstance(value, date):
        return format_cdp_time(value)
    raise ValueError(f"{type(value).__name__} {value!r} is not a date or datetime")


def as_list(value: Any) -> list[Any]:
    """Multi-value input: a list/tuple/set, or a comma-separated string."""
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    if isinstance(value, list | tuple | set | frozenset):
        return [item for item in value if not is_missing(item)]
    if hasattr(value, "tolist"):
        return as_list(value.tolist())
    return [value]


def iter_records(rows: Iterable[Mapping[str, Any]] | Any) -> Iterator[Mapping[str, Any]]:
    """Dict rows as given, or a pandas DataFrame in ``to_dict("records")`` chunks."""
    if hasattr(rows, "to_dict") and hasattr(rows, "iloc"):
        for start in range(0, len(rows), DATAFRAME_CHUNK_ROWS):
            yield from rows.iloc[start : start + DATAFRAME_CHUNK_ROWS].to_dict("records")
        return
    yield from rows


def encode_columns(row: Mapping[str, Any], lookup: Mapping[str, Column], *, allow_unknown: bool) -> dict[str, str]:
    """Map a row's keys (headers or aliases) to Metrika headers and convert each value."""
    if not isinstance(row, Mapping):
        raise CellError(None, f"a row must be a mapping, not {type(row).__name__}")
    cells: dict[str, str] = {}
    for key, value in row.items():
        column = lookup.get(key)
        name = column.name if column is not None else str(key)
        if column is None and not allow_unknown:
            expected = ", ".join(sorted({c.name for c in lookup.values()}))
            raise CellError(name, f"unknown column; expected one of {expected}")
        if name in cells:
            raise CellError(name, "given twice (once under an alias)")
        if is_missing(value):
            cells[name] = ""
            continue
        try:
            cells[name] = column.convert(value) if column is not None else to_text(value)
        except (ValueError, TypeError, OverflowError, InvalidOperation) as exc:
            raise CellError(name, str(exc)) from None
    return cells


def column_lookup(columns: Iterable[Column]) -> dict[str, Column]:
    return {key: column for column in columns for key in (column.name, *column.aliases)}


class _RowCells:
    """Turns encoded rows into cell lists under the header fixed by the first row."""

    def __init__(self, file_format: FileFormat, checker: StreamChecker) -> None:
        self._format = file_format
        self._checker = checker
        self.header: list[str] | None = None
        self._known: frozenset[str] = frozenset()

    def fields(self, cells: dict[str, str]) -> list[str]:
        if self.header is None:
            self.header = self._format.header_for(cells)
            self._known = frozenset(self.header)
            self._checker.take_header(self.header)
        extra = [name for name in cells if name not in self._known]
        if extra:
            raise CellError(extra[0], "column not present in the first row (the header is fixed by the first row)")
        fields = [cells.get(name, "") for name in self.header]
        _check_encodable(fields, self.header)
        return fields


def _check_encodable(fields: list[str], header: list[str]) -> None:
    """Lone surrogates (e.g. from badly decoded sources) cannot be written as UTF-8."""
    try:
        "".join(fields).encode()
    except UnicodeEncodeError:
        for name, value in zip(header, fields, strict=True):
            if not value.isascii():
                try:
                    value.encode()
                except UnicodeEncodeError:
                    raise CellError(name, "is not valid Unicode text (a lone surrogate); it cannot be UTF-8") from None


def write_rows_csv(file_format: FileFormat, rows: Any, out: IO[bytes], options: ValidationOptions) -> int:
    """Stream rows to ``out`` as Metrika CSV; raise MetrikaValidationError naming row and column.

    The header carries Metrika's own names, so ``columns_mapping`` does not apply to what is written.
    On an error ``out`` may already hold the rows before the bad one.
    """
    options = dataclasses.replace(options, columns_mapping=None)
    checker = file_format.stream_checker("<rows>", options, fail_fast=True)
    cells_of = _RowCells(file_format, checker)
    buffer = io.StringIO()
    delimiter = file_format.csv_delimiter(options)
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\n")
    # csv quotes a lone "\r" only when it is in the line terminator: quote such rows in full.
    quote_all = csv.writer(buffer, delimiter=delimiter, lineterminator="\n", quoting=csv.QUOTE_ALL)
    written = 0
    started = False
    for index, row in enumerate(iter_records(rows)):
        line = index + 2
        try:
            fields = cells_of.fields(file_format.encode_csv_row(row, options))
        except CellError as exc:
            raise_problem("<rows>", line, exc.column, exc.reason)
        if not started:
            writer.writerow(cells_of.header)
            started = True
        problems_before = checker.total_problems
        if not checker.take_row(fields, line):
            checker.raise_if_failing()
            if checker.total_problems == problems_before:
                continue  # outside the linkage window under stale_rows="drop": not written
        (quote_all if any("\r" in field for field in fields) else writer).writerow(fields)
        written += 1
        if buffer.tell() > FLUSH_CHARS:
            out.write(buffer.getvalue().encode())
            buffer.seek(0)
            buffer.truncate()
    if started:
        checker.finish().raise_for_problems()
        out.write(buffer.getvalue().encode())
    return written


def check_rows_as_csv(
    file_format: FileFormat, rows: Any, options: ValidationOptions, file_name: str
) -> ValidationReport:
    """Report every problem the rows would have as a written CSV (conversion problems included)."""
    options = dataclasses.replace(options, columns_mapping=None)
    checker = file_format.stream_checker(file_name, options, fail_fast=False)
    cells_of = _RowCells(file_format, checker)
    for index, row in enumerate(iter_records(rows)):
        line = index + 2
        try:
            fields = cells_of.fields(file_format.encode_csv_row(row, options))
        except CellError as exc:
            checker.reject_row(line, exc.column, exc.reason)
            continue
        checker.take_row(fields, line)
    return checker.finish()
