"""Shared streaming machinery: options, problems, the report, and the chunk-fed CSV checker.

Every file format is a header compiler (:meth:`FileFormat.compile_rules`) plus data; the one
:class:`StreamChecker` loop does the decoding, CSV splitting and row checks for all of them, so
``validate``, in-flight checking, ``filter_rows`` and the writers' self-check share one code path.
"""

from __future__ import annotations

import codecs
import csv
import dataclasses
import io
import json
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, tzinfo
from itertools import compress, islice
from typing import IO, Any

from airflow_provider_metrika.exceptions import MetrikaConfigError, MetrikaValidationError
from airflow_provider_metrika.formats.values import STALE, CellCheck, column_stale_count

CHUNK_SIZE = 1 << 20
#: Rows checked column-wise at once by the fast path.
BATCH_ROWS = 256
#: A quoted field may span chunks; past this much buffered text we stop waiting for its end.
MAX_PENDING_CHARS = 8 << 20
STALE_POLICIES = ("warn", "drop", "fail")
MERGE_MODES = ("SAVE", "UPDATE", "APPEND")
_DELIMITERS = {",": ",", ";": ";", "comma": ",", "semicolon": ";"}
_BOM = "\ufeff"
_OTHER_LINE_BREAKS = ("\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029")
_BARE_CR = "a carriage return (\\r) inside a line; line breaks must be \\n or \\r\\n"

Source = str | os.PathLike | IO[bytes]


@dataclasses.dataclass(frozen=True)
class Problem:
    """One rule broken at one place; rows are 1-based file lines, the header is row 1."""

    file_name: str
    row: int | None
    column: str | None
    message: str

    def __str__(self) -> str:
        where = self.file_name
        if self.row is not None:
            where += f" row {self.row}"
        if self.column is not None:
            where += f"{',' if self.row is not None else ''} column {self.column}"
        return f"{where}: {self.message}"


def _parse_columns_mapping(value: Mapping[str, str] | str | None) -> dict[str, str] | None:
    """Accept a dict, a JSON object, or Metrika's own ``"attr":"Header",...`` query form."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        try:
            value = json.loads(text if text.startswith("{") else "{" + text + "}")
        except ValueError:
            raise MetrikaConfigError(f'columns_mapping {value!r} is neither JSON nor "attr":"Header" pairs') from None
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) and k and v for k, v in value.items()
    ):
        raise MetrikaConfigError("columns_mapping must map Metrika attribute names to CSV header names (strings)")
    return dict(value)


@dataclasses.dataclass(frozen=True)
class ValidationOptions:
    """How strictly to check, and the facts a check needs (now, delimiter, column mapping).

    Values are normalised on creation: ``delimiter`` accepts ``,``/``;``/``comma``/``semicolon``,
    ``merge_mode`` any case, ``columns_mapping`` a dict, JSON or Metrika's query form.
    ``counter_timezone`` is used by the CDP writers to convert aware datetimes.
    """

    max_problems: int = 20
    now: datetime | None = None
    stale_rows: str = "warn"
    linkage_window_days: int = 21
    delimiter: str = ","
    columns_mapping: Mapping[str, str] | None = None
    merge_mode: str | None = None
    counter_timezone: tzinfo | str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.max_problems, int) or self.max_problems < 1:
            raise MetrikaConfigError(f"max_problems must be a positive integer, not {self.max_problems!r}")
        if self.now is not None and (not isinstance(self.now, datetime) or self.now.utcoffset() is None):
            raise MetrikaConfigError("now must be a timezone-aware datetime")
        if self.stale_rows not in STALE_POLICIES:
            raise MetrikaConfigError(f"stale_rows={self.stale_rows!r}: expected one of {', '.join(STALE_POLICIES)}")
        if not isinstance(self.linkage_window_days, int) or self.linkage_window_days < 0:
            raise MetrikaConfigError("linkage_window_days must be a non-negative integer")
        delimiter = _DELIMITERS.get(str(self.delimiter).lower())
        if delimiter is None:
            raise MetrikaConfigError(f"delimiter={self.delimiter!r}: expected ',' (COMMA) or ';' (SEMICOLON)")
        object.__setattr__(self, "delimiter", delimiter)
        object.__setattr__(self, "columns_mapping", _parse_columns_mapping(self.columns_mapping))
        if self.merge_mode is not None:
            mode = str(self.merge_mode).upper()
            if mode not in MERGE_MODES:
                raise MetrikaConfigError(f"merge_mode={self.merge_mode!r}: expected one of {', '.join(MERGE_MODES)}")
            object.__setattr__(self, "merge_mode", mode)
        if isinstance(self.counter_timezone, str):
            object.__setattr__(self, "counter_timezone", _zone(self.counter_timezone))

    @property
    def delimiter_type(self) -> str:
        """The CDP ``delimiter_type`` query value for this delimiter."""
        return "SEMICOLON" if self.delimiter == ";" else "COMMA"

    def now_timestamp(self) -> int:
        return int((self.now or datetime.now(UTC)).timestamp())


def _zone(name: str) -> tzinfo:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise MetrikaConfigError(f"counter_timezone {name!r} is not a known time zone") from None


@dataclasses.dataclass
class ValidationReport:
    """What a check found: counts, the first problems (all are counted) and warnings."""

    file_name: str
    rows: int
    valid_rows: int
    dropped_rows: int
    problems: list[Problem]
    total_problems: int
    warnings: list[str]
    header: list[str]

    @property
    def ok(self) -> bool:
        return self.total_problems == 0

    def summary(self) -> str:
        lines = [f"{self.file_name}: {self.rows} rows, {self.valid_rows} valid, {self.dropped_rows} dropped"]
        lines += [f"  - {problem}" for problem in self.problems]
        if self.total_problems > len(self.problems):
            lines.append(f"  ... and {self.total_problems - len(self.problems)} more")
        lines += [f"  warning: {warning}" for warning in self.warnings]
        lines.append(f"{self.total_problems} problem(s) in total" if self.total_problems else "OK: no problems")
        return "\n".join(lines)

    def raise_for_problems(self) -> None:
        if self.ok:
            return
        shown = [str(problem) for problem in self.problems]
        message = f"{self.file_name}: {self.total_problems} problem(s) found; first {len(shown)}:\n" + "\n".join(
            f"  - {line}" for line in shown
        )
        raise MetrikaValidationError(message, problems=shown, total=self.total_problems)


@dataclasses.dataclass(frozen=True)
class RowRules:
    """A format's checks bound to one header's column indexes (built once, used per row).

    ``checks`` run on non-empty cells (a check may answer :data:`STALE`: valid but older than
    the linkage window); ``required`` cells must be non-empty; each ``any_of`` group needs one
    non-empty cell; ``warn_if_empty`` cells only produce a counted warning.
    """

    width: int
    checks: tuple[tuple[int, str, CellCheck], ...] = ()
    required: tuple[tuple[int, str], ...] = ()
    any_of: tuple[tuple[tuple[int, ...], str], ...] = ()
    warn_if_empty: tuple[tuple[int, str, str], ...] = ()


def split_lines(text: str) -> list[str]:
    """Lines ending in "\\n" (kept), as csv expects; ``str.splitlines`` is faster but also splits
    on a bare "\\r", form feeds and Unicode separators, so it is used only when none occur."""
    if text.count("\r") == text.count("\r\n") and not any(char in text for char in _OTHER_LINE_BREAKS):
        return text.splitlines(keepends=True)
    return io.StringIO(text).readlines()


def _csv_reason(exc: csv.Error) -> str:
    return _BARE_CR if "new-line character" in str(exc) else str(exc)


class HeaderContext:
    """Lets a format's header compiler report row-1 problems and warnings."""

    def __init__(self, checker: StreamChecker) -> None:
        self._checker = checker

    def problem(self, column: str | None, message: str) -> None:
        self._checker.add_problem(1, column, message)

    def warn(self, message: str) -> None:
        self._checker.warn(message)


class StreamChecker:
    """Checks a CSV fed in byte chunks of any size, keeping only a partial record in memory.

    Text is cut into blocks at record boundaries (a newline with an even number of quote
    characters before it), and each block goes through ``csv.reader``. With ``fail_fast``,
    :meth:`feed` raises :class:`MetrikaValidationError` once ``max_problems`` problems are found.
    With a ``sink``, the header and every valid row are written to it byte-for-byte.
    """

    def __init__(
        self,
        file_format: FileFormat,
        file_name: str,
        options: ValidationOptions,
        *,
        fail_fast: bool = True,
        sink: IO[bytes] | None = None,
        delimiter: str | None = None,
    ) -> None:
        self._format = file_format
        self.file_name = file_name
        self._options = options
        self._fail_fast = fail_fast
        self._sink = sink
        self._delimiter = delimiter or file_format.csv_delimiter(options)
        self._decoder = codecs.getincrementaldecoder("utf-8")("strict")
        self._started = False
        self._pending = ""
        self._line_base = 0
        self._header: list[str] | None = None
        self._header_ok = False
        self._rules: RowRules | None = None
        self._problems: list[Problem] = []
        self._total = 0
        self._warnings: list[str] = []
        self._rows = 0
        self._bad_rows = 0
        self._dropped = 0
        self._stale = 0
        self._blank = 0
        self._warned_empty: dict[str, int] = {}
        self._finished = False

    # -- problem bookkeeping -------------------------------------------------------------
    def add_problem(self, row: int | None, column: str | None, message: str) -> None:
        self._total += 1
        if len(self._problems) < self._options.max_problems:
            self._problems.append(Problem(self.file_name, row, column, message))

    @property
    def total_problems(self) -> int:
        return self._total

    def warn(self, message: str) -> None:
        if message not in self._warnings:
            self._warnings.append(message)

    def _raise_if_failing(self) -> None:
        if self._fail_fast and self._total >= self._options.max_problems:
            self._report().raise_for_problems()

    # -- feeding -------------------------------------------------------------------------
    def feed(self, chunk: bytes) -> None:
        """Check the next bytes of the file; raises early under ``fail_fast``."""
        if self._finished:
            raise RuntimeError("feed() after finish()")
        self._take_text(self._decode(chunk, final=False), final=False)
        self._raise_if_failing()

    def finish(
        self, no_rows_message: str = "the file has a header but no data rows", no_rows_row: int | None = 2
    ) -> ValidationReport:
        """Check what is left and return the report (the caller decides whether to raise)."""
        if not self._finished:
            self._take_text(self._decode(b"", final=True), final=True)
            self._finished = True
            self._final_checks(no_rows_message, no_rows_row)
        return self._report()

    def _decode(self, chunk: bytes, final: bool) -> str:
        buffered = self._decoder.getstate()[0]
        try:
            text = self._decoder.decode(chunk, final)
        except UnicodeDecodeError as exc:
            data = buffered + chunk
            row = self._line_base + self._pending.count("\n") + data[: exc.start].count(b"\n") + 1
            self.add_problem(row, None, f"not valid UTF-8 (byte 0x{data[exc.start]:02X}); save the file as UTF-8")
            self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
            text = self._decoder.decode(data, final)
        if not self._started and text:
            self._started = True
            if text.startswith(_BOM):
                text = text[1:]
                self.warn("the file starts with a UTF-8 BOM; it is ignored")
        return text

    def _take_text(self, text: str, final: bool) -> None:
        block = self._pending + text if self._pending else text
        if final:
            self._pending = ""
            if block:
                self._process(block)
            return
        cut = block.rfind("\n") + 1
        if cut == 0:
            self._pending = block
            return
        head = block[:cut]
        if head.count('"') % 2 and len(block) <= MAX_PENDING_CHARS:
            self._pending = block  # a quoted field spans the cut: wait for its end
            return
        self._pending = block[cut:]
        self._process(head)

    # -- the row loop --------------------------------------------------------------------
    def _process(self, block: str) -> None:
        """Check a block that ends on a record boundary: header first, then rows in batches."""
        lines = split_lines(block)
        reader = csv.reader(lines, delimiter=self._delimiter)
        start = self._read_header(reader, lines) if self._header is None else 0
        while start < len(lines):
            try:
                batch: list[list[str]] | None = list(islice(reader, BATCH_ROWS))
            except csv.Error:
                batch = None  # the row loop re-reads these lines and words the error
            end = reader.line_num
            if end <= start:
                break
            if batch is None or not self._batch_is_clean(batch, lines, start, end):
                self._check_lines(lines[start:end], self._line_base + start)
            start = end
        self._line_base += len(lines)

    def _read_header(self, reader: Any, lines: list[str]) -> int:
        """Take the header record; returns how many lines it used."""
        try:
            fields = next(reader, None)
        except csv.Error as exc:
            self.add_problem(1, None, f"malformed CSV: {_csv_reason(exc)}")
            self._header = []
            return reader.line_num
        self._on_header(fields or [])
        if self._sink is not None:
            self._sink.write("".join(lines[: reader.line_num]).encode())
        return reader.line_num

    def _batch_is_clean(self, batch: list[list[str]], lines: list[str], start: int, end: int) -> bool:
        """Fast path: check a batch column by column with C-level loops.

        True when every row is fine (stale rows counted per policy) and the batch is done;
        False sends it to the row loop, which finds and words the problems. Batches stay
        small so their lists die young (a big batch wakes the cyclic GC's older generations).
        """
        rules = self._rules
        if rules is None or set(map(len, batch)) != {rules.width}:
            return False
        columns = list(zip(*batch, strict=True))
        stale = 0
        stale_checks = []
        for index, _column, check in rules.checks:
            count = column_stale_count(check, columns[index])
            if count is None:
                return False
            if count:
                stale += count
                stale_checks.append((index, check))
        if any("" in columns[index] for index, _ in rules.required):
            return False
        for indexes, _message in rules.any_of:
            if not all(map(any, zip(*(columns[i] for i in indexes), strict=True))):
                return False
        if any("" in columns[index] for index, _column, _message in rules.warn_if_empty):
            return False
        policy = self._options.stale_rows
        dropping = stale and policy == "drop" and self._sink is not None
        if (stale and policy == "fail") or (dropping and end - start != len(batch)):
            return False  # problems to word, or stale rows to cut out of multi-line records
        self._rows += len(batch)
        self._stale += stale
        if policy == "drop":
            self._dropped += stale
        if dropping:
            kept = [not any(check(fields[index]) is STALE for index, check in stale_checks) for fields in batch]
            self._sink.write("".join(compress(lines[start:end], kept)).encode())
        elif self._sink is not None:
            self._sink.write("".join(lines[start:end]).encode())
        return True

    def _check_lines(self, lines: list[str], lines_before: int) -> None:
        """The row loop: every record of ``lines`` through :meth:`_check_row`, with its file line."""
        reader = csv.reader(lines, delimiter=self._delimiter)
        start = 0
        while True:
            try:
                for fields in reader:
                    end = reader.line_num
                    if not fields:
                        self._blank += 1
                    else:
                        self._rows += 1
                        kept = self._check_row(fields, lines_before + start + 1)
                        if kept and self._sink is not None:
                            self._sink.write("".join(lines[start:end]).encode())
                    start = end
                break
            except csv.Error as exc:
                self.add_problem(lines_before + start + 1, None, f"malformed CSV: {_csv_reason(exc)}")
                start = reader.line_num
                self._rows += 1
                self._bad_rows += 1

    # -- direct entry points for rows that never were CSV text (writers, validate_rows) ---
    def take_header(self, fields: list[str]) -> None:
        self._started = True
        self._line_base = 1
        self._on_header(fields)

    def take_row(self, fields: list[str], row: int) -> bool:
        """Check one row given as cells; True when valid and kept."""
        self._rows += 1
        return self._check_row(fields, row)

    def reject_row(self, row: int, column: str | None, message: str) -> None:
        """Count a row that could not even be turned into cells."""
        self._rows += 1
        self._bad_rows += 1
        self.add_problem(row, column, message)

    def record_row(self, ok: bool) -> None:
        """Count a row checked outside the CSV rules (JSON rows)."""
        self._rows += 1
        self._bad_rows += not ok

    def raise_if_failing(self) -> None:
        """Under ``fail_fast``, raise once ``max_problems`` problems are known."""
        self._raise_if_failing()

    def _block_is_clean(self, lines: list[str], block: str) -> bool:
        """Fast path: check the block column by column with C-level loops.

        True when every row is fine (stale rows counted per policy) and the block is done;
        False sends it to the row-by-row loop, which finds and words the problems.
        """
        rules = self._rules
        try:
            records = list(csv.reader(lines, delimiter=self._delimiter))
        except csv.Error:
            return False
        if not records or set(map(len, records)) != {rules.width}:
            return False
        columns = list(zip(*records, strict=True))
        stale = 0
        for index, _column, check in rules.checks:
            count = column_stale_count(check, columns[index])
            if count is None:
                return False
            stale += count
        if any("" in columns[index] for index, _ in rules.required):
            return False
        for indexes, _message in rules.any_of:
            if not all(map(any, zip(*(columns[i] for i in indexes), strict=True))):
                return False
        if any("" in columns[index] for index, _column, _message in rules.warn_if_empty):
            return False
        policy = self._options.stale_rows
        if stale and (policy == "fail" or (policy == "drop" and self._sink is not None)):
            return False
        self._rows += len(records)
        self._stale += stale
        if policy == "drop":
            self._dropped += stale
        if self._sink is not None:
            self._sink.write(block.encode())
        return True

    def _on_header(self, fields: list[str]) -> None:
        self._header = fields
        problems_before = self._total
        if not any(fields):
            self.add_problem(1, None, "the header row is empty")
            self._header_ok = False
            return
        seen: set[str] = set()
        for name in fields:
            if not name.strip():
                self.add_problem(1, None, "a column has an empty name")
            elif name in seen:
                self.add_problem(1, name, f"duplicate column name {name!r}")
            seen.add(name)
        self._rules = self._format.compile_rules(fields, self._options, HeaderContext(self))
        self._header_ok = self._total == problems_before

    def _check_row(self, fields: list[str], row: int) -> bool:
        """Apply the compiled rules; True when the row is valid and kept (the per-row hot path)."""
        rules = self._rules
        if rules is None:
            self._bad_rows += 1
            return False
        if len(fields) != rules.width:
            self.add_problem(row, None, f"has {len(fields)} fields; the header has {rules.width}")
            self._bad_rows += 1
            return False
        ok = True
        stale = None
        for index, column, check in rules.checks:
            value = fields[index]
            if value:
                message = check(value)
                if message is not None:
                    if message is STALE:
                        stale = (column, value)
                    else:
                        self.add_problem(row, column, message)
                        ok = False
        for index, column in rules.required:
            if not fields[index]:
                self.add_problem(row, column, "is empty; a value is required")
                ok = False
        for indexes, message in rules.any_of:
            for index in indexes:
                if fields[index]:
                    break
            else:
                self.add_problem(row, None, message)
                ok = False
        for index, column, message in rules.warn_if_empty:
            if not fields[index]:
                key = f"{message} (column {column})"
                self._warned_empty[key] = self._warned_empty.get(key, 0) + 1
        if not ok:
            self._bad_rows += 1
            return False
        return stale is None or self._outside_window(row, *stale)

    def _outside_window(self, row: int, column: str, value: str) -> bool:
        """A row older than the linkage window, per ``stale_rows``; True when it is still kept."""
        policy = self._options.stale_rows
        if policy == "fail":
            days = self._options.linkage_window_days
            message = f"{value} is older than the {days}-day linkage window; Metrika will not link it"
            self.add_problem(row, column, message)
            self._bad_rows += 1
            return False
        self._stale += 1
        if policy == "drop":
            self._dropped += 1
            return False
        return True

    # -- the end -------------------------------------------------------------------------
    def _final_checks(self, no_rows_message: str, no_rows_row: int | None) -> None:
        if self._header is None:
            self.add_problem(None, None, "the file is empty; a header row and data rows are required")
        elif self._rows == 0:
            self.add_problem(no_rows_row, None, no_rows_message)
        days = self._options.linkage_window_days
        if self._stale and self._options.stale_rows == "warn":
            self.warn(f"{self._stale} row(s) are older than the {days}-day linkage window; Metrika will not link them")
        if self._dropped:
            self.warn(f"{self._dropped} row(s) older than the {days}-day linkage window were dropped")
        if self._blank:
            self.warn(f"{self._blank} blank line(s) ignored")
        for message, count in self._warned_empty.items():
            self.warn(f"{count} row(s): {message}")

    def _report(self) -> ValidationReport:
        return ValidationReport(
            file_name=self.file_name,
            rows=self._rows,
            valid_rows=self._rows - self._bad_rows - self._dropped if self._header_ok else 0,
            dropped_rows=self._dropped,
            problems=list(self._problems),
            total_problems=self._total,
            warnings=list(self._warnings),
            header=list(self._header or []),
        )


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

    def check_options(self, options: ValidationOptions) -> None:
        """Hook for format-specific option checks (raise MetrikaConfigError)."""

    # -- validation ----------------------------------------------------------------------
    def stream_checker(
        self, file_name: str = "<stream>", options: ValidationOptions | None = None, *, fail_fast: bool = True
    ) -> StreamChecker:
        options = options or ValidationOptions()
        self.check_options(options)
        return StreamChecker(self, file_name, options, fail_fast=fail_fast)

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

    def validate_rows(
        self, rows: Iterable[Mapping[str, Any]], options: ValidationOptions | None = None, file_name: str = "<rows>"
    ) -> ValidationReport:
        """Check rows as the writer would emit them (every value problem is reported, not raised).

        "row N" is the line the row would occupy in the written CSV (the header is row 1).
        """
        from airflow_provider_metrika.formats.writer import check_rows_as_csv

        return check_rows_as_csv(self, rows, options or ValidationOptions(), file_name)

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


def raise_problem(file_name: str, row: int | None, column: str | None, message: str) -> None:
    """Raise MetrikaValidationError for a single problem (the writers stop at the first bad value)."""
    problem = str(Problem(file_name, row, column, message))
    raise MetrikaValidationError(problem, problems=[problem], total=1)


class CellError(ValueError):
    """A value the writer cannot convert; carries the column so the error can name it."""

    def __init__(self, column: str | None, reason: str) -> None:
        self.column = column
        self.reason = reason
        super().__init__(f"column {column}: {reason}" if column else reason)


Converter = Callable[[Any], str]
