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
from datetime import UTC, date, datetime, timedelta, tzinfo
from decimal import Decimal, InvalidOperation
from typing import IO, TYPE_CHECKING, Any

from airflow_provider_metrika.formats.base import CellError
from airflow_provider_metrika.formats.checker import RejectHook, StreamChecker
from airflow_provider_metrika.formats.options import ValidationOptions
from airflow_provider_metrika.formats.report import ValidationReport, raise_problem, shown
from airflow_provider_metrika.formats.values import CellCheck, format_cdp_time

if TYPE_CHECKING:
    from airflow_provider_metrika.formats.base import FileFormat

DATAFRAME_CHUNK_ROWS = 10_000
FLUSH_CHARS = 1 << 16
#: Key orders whose column plan is remembered per format (rows of one source share one).
MAX_KEY_PLANS = 64
#: Rows checked column-wise at once before they are written.
WRITE_BATCH_ROWS = 512
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SECOND = timedelta(seconds=1)


@dataclasses.dataclass(frozen=True)
class Column:
    """A Metrika column: its header, the cell check, the lower_snake aliases and the value converter
    (:func:`to_text` when None)."""

    name: str
    check: CellCheck | None = None
    aliases: tuple[str, ...] = ()
    convert: Callable[[Any], str] | None = None


def is_missing(value: Any) -> bool:
    """None, NaN and NaT (pandas' missing values) all become an empty cell."""
    if value is None:
        return True
    try:
        return bool(value != value)
    except (TypeError, ValueError, ArithmeticError):
        return False


def to_text(value: Any) -> str:
    if type(value) is str:  # the common case first: a million rows make every check count
        return value.strip()
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
    kind = type(value)
    if kind is str:
        return value.strip()
    if kind is int:
        return str(value)
    if kind is float:
        text = repr(value)  # the shortest round-trip form, as Decimal(repr(value)) below would read it
        if "e" not in text and "n" not in text:  # no exponent, not inf/nan
            return text[:-2] if text.endswith(".0") else text
    if isinstance(value, bool):
        raise ValueError(f"{shown(value)} is a boolean, not a number")
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{shown(value)} is not a finite number")
        value = Decimal(repr(value))
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{shown(value)} is not a finite number")
        text = format(value, "f")
        return text.rstrip("0").rstrip(".") if "." in text else text
    if isinstance(value, numbers.Real):
        return to_decimal_text(float(value))
    return str(value).strip()


def to_unix_seconds(value: Any) -> str:
    """An absolute time -> integer unix seconds; naive datetimes are refused (ambiguous timezone)."""
    if type(value) is datetime and value.utcoffset() is not None:
        return str((value - _EPOCH) // _SECOND)  # floor, like timegm(utctimetuple()) below, but faster
    if isinstance(value, bool):
        raise ValueError(f"{shown(value)} is not a time")
    if isinstance(value, Decimal):
        value = float(value) if value.is_finite() else math.nan
    if isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral):
        if not math.isfinite(float(value)):
            raise ValueError(f"{shown(value)} is not a time")
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
            raise ValueError(f"{shown(value)} is neither unix seconds nor an ISO date-time with an offset") from None
    if isinstance(value, datetime):
        if value.utcoffset() is None:
            raise ValueError(
                f"naive datetime {value.isoformat()}: ambiguous timezone; pass an aware datetime or unix seconds"
            )
        return str(calendar.timegm(value.utctimetuple()))
    if isinstance(value, date):
        raise ValueError(f"date {value.isoformat()} has no time of day or timezone; pass an aware datetime")
    raise ValueError(f"{type(value).__name__} {shown(value)} is not a time")


def to_cdp_time(value: Any, zone: tzinfo | None) -> str:
    """A CDP (counter-local) time: naive datetimes are taken as counter-local, aware ones converted."""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, datetime):
        if value.utcoffset() is not None:
            if zone is None:
                raise ValueError("aware datetime: set counter_timezone (the counter's time_zone_name) to convert it")
            value = value.astimezone(zone).replace(tzinfo=None)
        return format_cdp_time(value)
    if isinstance(value, date):
        return format_cdp_time(value)
    raise ValueError(f"{type(value).__name__} {shown(value)} is not a date or datetime")


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


class ColumnLookup(dict[str, Column]):
    """Row keys (Metrika headers and aliases) -> columns, with the plan for each key order seen.

    Rows from one source share their keys, so resolving and checking the keys happens once per
    key order, not once per row.
    """

    def __init__(self, columns: Iterable[Column]) -> None:
        super().__init__((key, column) for column in columns for key in (column.name, *column.aliases))
        self.plans: dict[tuple[tuple[Any, ...], bool], list[tuple[str, Callable[[Any], str]]]] = {}

    def plan(self, keys: tuple[Any, ...], allow_unknown: bool) -> list[tuple[str, Callable[[Any], str]]]:
        """(Metrika header, converter) per key, in order; CellError for an unknown or doubled column."""
        plan = self.plans.get((keys, allow_unknown))
        if plan is not None:
            return plan
        plan = []
        names: set[str] = set()
        for key in keys:
            column = self.get(key)
            name = column.name if column is not None else str(key)
            if column is None and not allow_unknown:
                expected = ", ".join(sorted({c.name for c in self.values()}))
                raise CellError(name, f"unknown column; expected one of {expected}")
            if name in names:
                raise CellError(name, "given twice (once under an alias)")
            names.add(name)
            plan.append((name, (column.convert if column is not None else None) or to_text))
        if len(self.plans) < MAX_KEY_PLANS:
            self.plans[(keys, allow_unknown)] = plan
        return plan


def encode_columns(row: Mapping[str, Any], lookup: ColumnLookup, *, allow_unknown: bool) -> dict[str, str]:
    """Map a row's keys (headers or aliases) to Metrika headers and convert each value."""
    if not isinstance(row, Mapping):
        raise CellError(None, f"a row must be a mapping, not {type(row).__name__}")
    cells: dict[str, str] = {}
    for (name, convert), value in zip(lookup.plan(tuple(row), allow_unknown), row.values(), strict=True):
        if type(value) is not str and is_missing(value):
            cells[name] = ""
            continue
        try:
            cells[name] = convert(value)
        except (ValueError, TypeError, OverflowError, InvalidOperation) as exc:
            raise CellError(name, str(exc)) from None
    return cells


def column_lookup(columns: Iterable[Column]) -> ColumnLookup:
    return ColumnLookup(columns)


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
        if not self._known.issuperset(cells):
            extra = next(name for name in cells if name not in self._known)
            raise CellError(extra, "column not present in the first row (the header is fixed by the first row)")
        if len(cells) == len(self.header):
            fields = list(map(cells.__getitem__, self.header))
        else:
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

    Rows are converted one by one and checked in batches, column-wise when the batch is clean
    and row by row otherwise, before they are written. The header carries Metrika's own names,
    so ``columns_mapping`` does not apply to what is written. On an error ``out`` may already
    hold rows written before it.
    """
    options = dataclasses.replace(options, columns_mapping=None)
    checker = file_format.stream_checker("<rows>", options, fail_fast=True)
    cells_of = _RowCells(file_format, checker)
    sink = _CsvSink(out, file_format.csv_delimiter(options))
    batch: list[list[str]] = []
    first_line = 2
    for index, row in enumerate(iter_records(rows)):
        try:
            fields = cells_of.fields(file_format.encode_csv_row(row, options))
        except CellError as exc:
            sink.write(_checked(checker, batch, first_line))  # earlier rows' problems come first
            raise_problem("<rows>", index + 2, exc.column, exc.reason)
        if cells_of.header is not None and not sink.started:
            sink.start(cells_of.header)
        batch.append(fields)
        if len(batch) == WRITE_BATCH_ROWS:
            sink.write(_checked(checker, batch, first_line))
            first_line += len(batch)
            batch = []
    sink.write(_checked(checker, batch, first_line))
    if sink.started:
        checker.finish().raise_for_problems()
        sink.flush()
    return sink.rows


def _checked(checker: StreamChecker, batch: list[list[str]], first_line: int) -> list[list[str]]:
    """The rows of ``batch`` to write: all of a clean batch; else row by row, without rows dropped as stale.

    A row with a problem is still written (the checker raises once ``max_problems`` are known,
    or at the end), as it always was.
    """
    if not batch or checker.take_clean_rows(batch):
        return batch
    kept = []
    for offset, fields in enumerate(batch):
        problems_before = checker.total_problems
        if not checker.take_row(fields, first_line + offset):
            checker.raise_if_failing()
            if checker.total_problems == problems_before:
                continue  # outside the linkage window under stale_rows="drop": not written
        kept.append(fields)
    return kept


class _CsvSink:
    """csv.writer into a text buffer, flushed to ``out`` as UTF-8 in pieces."""

    def __init__(self, out: IO[bytes], delimiter: str) -> None:
        self._out = out
        self._buffer = io.StringIO()
        self._writer = csv.writer(self._buffer, delimiter=delimiter, lineterminator="\n")
        # csv quotes a lone "\r" only when it is in the line terminator: quote such rows in full.
        self._quote_all = csv.writer(self._buffer, delimiter=delimiter, lineterminator="\n", quoting=csv.QUOTE_ALL)
        self.started = False
        self.rows = 0

    def start(self, header: list[str]) -> None:
        self._writer.writerow(header)
        self.started = True

    def write(self, rows: list[list[str]]) -> None:
        if "\r" in "".join(map("".join, rows)):
            for fields in rows:
                (self._quote_all if any("\r" in field for field in fields) else self._writer).writerow(fields)
        else:
            self._writer.writerows(rows)
        self.rows += len(rows)
        if self._buffer.tell() > FLUSH_CHARS:
            self.flush()

    def flush(self) -> None:
        self._out.write(self._buffer.getvalue().encode())
        self._buffer.seek(0)
        self._buffer.truncate()


def check_rows_as_csv(
    file_format: FileFormat,
    rows: Any,
    options: ValidationOptions,
    file_name: str,
    on_reject: RejectHook | None = None,
) -> ValidationReport:
    """Report every problem the rows would have as a written CSV (conversion problems included);
    ``on_reject`` hears of each, with the row's cells as they would be written."""
    options = dataclasses.replace(options, columns_mapping=None)
    checker = file_format.stream_checker(file_name, options, fail_fast=False, on_reject=on_reject)
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
