"""The chunk-fed CSV checker every format and entry point shares.

Bytes arrive in chunks of any size; text is cut into blocks at record boundaries and each
block goes through ``csv.reader``: clean batches are checked column-wise with C-level loops,
anything else row by row, which words the problems with their file line and column.
"""

from __future__ import annotations

import codecs
import csv
import dataclasses
import io
from collections.abc import Callable
from itertools import compress, islice
from typing import IO, TYPE_CHECKING, Any

from airflow_provider_metrika.formats.fastpath import LinePattern, compile_line_pattern
from airflow_provider_metrika.formats.options import ValidationOptions
from airflow_provider_metrika.formats.report import MAX_MESSAGE_CHARS, Problem, ValidationReport, cut_text
from airflow_provider_metrika.formats.values import (
    STALE,
    CellCheck,
    column_stale_count,
    control_character_problem,
    has_control_character,
)
from airflow_provider_metrika.jobs.csv_limits import MAX_RECORD_CHARS

if TYPE_CHECKING:
    from airflow_provider_metrika.formats.base import FileFormat

#: Different warnings a report lists (the rest are counted).
MAX_WARNINGS = 20
#: Rows checked column-wise at once by the fast path.
BATCH_ROWS = 256
#: The longest record the checker reads is the kernel's cap for every CSV the provider reads,
#: :data:`~airflow_provider_metrika.jobs.csv_limits.MAX_RECORD_CHARS` (131,072 characters). It suits Metrika:
#: Metrika's longest documented values are lists: up to 500 ``client_ids`` (int64, about 10,500
#: characters), 50 e-mails, 50 phones, 50 + 50 MD5s, 100 goals and a 1,000-character
#: ``user_comment`` (https://yandex.ru/dev/metrika/en/management/openapi/schema/uploadContacts,
#: .../uploadOrders, .../uploadSimpleOrders); a CDP row with every one of them full is about
#: 32,000 characters, and offline-conversion and call rows are a few hundred (the Target, a
#: URL). 131,072 is four times the fullest documented row and equals the ``csv`` module's own
#: default field limit, so no field inside an accepted record can trip it. A longer record (a
#: line end missing, a quote never closed) is reported at its first row and skipped, so the
#: checker never holds more than this much of one row, whatever the file.
_BOM = "\ufeff"
_REPLACEMENT = "\ufffd"
_NOT_UTF8 = "not valid UTF-8; save the file as UTF-8"
_OTHER_LINE_BREAKS = ("\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029")
_BARE_CR = "a carriage return (\\r) inside a line; line breaks must be \\n or \\r\\n"


#: Told of each refused or dropped row: (row, column, message, the row's cells or None, the header).
RejectHook = Callable[[int | None, str | None, str, list[str] | None, list[str] | None], None]


@dataclasses.dataclass(frozen=True)
class RowRules:
    """A format's checks bound to one header's column indexes (built once, used per row).

    ``checks`` run on non-empty cells (a check may answer :data:`STALE`: valid but older than
    the linkage window); ``required`` cells must be non-empty; each ``any_of`` group needs one
    non-empty cell; ``warn_if_empty`` cells, and cells a ``warn_when`` predicate picks, only produce a counted
    warning.
    """

    width: int
    checks: tuple[tuple[int, str, CellCheck], ...] = ()
    required: tuple[tuple[int, str], ...] = ()
    any_of: tuple[tuple[tuple[int, ...], str], ...] = ()
    warn_if_empty: tuple[tuple[int, str, str], ...] = ()
    warn_when: tuple[tuple[int, str, Callable[[str], bool], str], ...] = ()


def split_lines(text: str) -> list[str]:
    """Lines ending in "\\n" (kept), as csv expects; ``str.splitlines`` is faster but also splits
    on a bare "\\r", form feeds and Unicode separators, so it is used only when none occur."""
    if text.count("\r") == text.count("\r\n") and not any(char in text for char in _OTHER_LINE_BREAKS):
        return text.splitlines(keepends=True)
    return io.StringIO(text).readlines()


def _csv_reason(exc: csv.Error) -> str:
    text = str(exc)
    if "new-line character" in text:
        return _BARE_CR
    if "field larger than field limit" in text:
        return f"a field is longer than {csv.field_size_limit():,} characters"
    if "NUL" in text:
        return "a NUL byte (\\x00); Metrika takes text without control characters"
    return text


def _record_end(text: str, start: int, in_quotes: bool) -> tuple[int, bool]:
    """Where the record that ``text[start:]`` is part of ends: the index of its closing "\\n" (-1 when
    the text ends first) and whether the text ends inside a quoted field.

    A "\\n" ends a record only outside quotes; each step jumps to the next quote or line end, so a
    long line full of quotes costs one pass.
    """
    position = start
    newline = text.find("\n", position)
    while True:
        if in_quotes:
            quote = text.find('"', position)
            if quote < 0:
                return -1, True
            position, in_quotes = quote + 1, False
            if newline != -1 and newline < position:
                newline = text.find("\n", position)
        else:
            quote = text.find('"', position, newline if newline != -1 else len(text))
            if quote < 0:
                return newline, False
            position, in_quotes = quote + 1, True


def _outside_quotes_count(text: str, char: str) -> int:
    """How often ``char`` occurs in ``text`` outside quoted sections."""
    return sum(part.count(char) for part in text.split('"')[::2])


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
    With a ``sink``, the header and every valid row are written to it byte-for-byte. ``on_reject``
    hears of every problem and every dropped row: ``(row, column, message, the row's cells or None, header)``.
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
        on_reject: RejectHook | None = None,
    ) -> None:
        self._format = file_format
        self._on_reject = on_reject
        self._cells: list[str] | None = None  # the row being checked, for on_reject
        self.file_name = file_name
        self._options = options
        self._fail_fast = fail_fast
        self._sink = sink
        self._delimiter = delimiter or file_format.csv_delimiter(options)
        self._decoder = codecs.getincrementaldecoder("utf-8")("strict")
        self._started = False
        self._pending = ""
        self._skipping = False
        self._skip_in_quotes = False
        self._line_base = 0
        self._header: list[str] | None = None
        self._header_ok = False
        self._rules: RowRules | None = None
        self._line_pattern: LinePattern | None = None
        self._problems: list[Problem] = []
        self._total = 0
        self._warnings: list[str] = []
        self._warned: set[str] = set()
        self._more_warnings = 0
        self._undecodable = False  # some bytes were not UTF-8: cells with U+FFFD are reported
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
        if self._on_reject is not None:
            self._on_reject(row, column, message, self._cells, self._header)

    @property
    def header(self) -> list[str]:
        """The header row as read so far (empty before it)."""
        return list(self._header or [])

    @property
    def _reporting_drops(self) -> bool:
        """Dropped rows must pass the row loop: they go to a sink's filtered copy or to ``on_reject``."""
        return self._options.stale_rows == "drop" and (self._sink is not None or self._on_reject is not None)

    @property
    def total_problems(self) -> int:
        return self._total

    def warn(self, message: str) -> None:
        """Keep a warning once; past :data:`MAX_WARNINGS` different ones, only count them."""
        if message in self._warned:
            return
        if len(self._warned) < 50 * MAX_WARNINGS:  # past that, a repeat may be counted again: still bounded
            self._warned.add(message)
        if len(self._warnings) < MAX_WARNINGS:
            self._warnings.append(cut_text(message, MAX_MESSAGE_CHARS))
        else:
            self._more_warnings += 1

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
        self, no_rows_message: str | None = "the file has a header but no data rows", no_rows_row: int | None = 2
    ) -> ValidationReport:
        """Check what is left and return the report (the caller decides whether to raise); ``no_rows_message``
        None when an empty input was already reported."""
        if not self._finished:
            self._take_text(self._decode(b"", final=True), final=True)
            self._finished = True
            self._final_checks(no_rows_message, no_rows_row)
        return self._report()

    def _decode(self, chunk: bytes, final: bool) -> str:
        buffered = self._decoder.getstate()[0]
        try:
            text = self._decoder.decode(chunk, final)
        except UnicodeDecodeError:
            # From here on undecodable bytes read as U+FFFD, and each cell holding one is a problem of its row.
            self._undecodable = True
            self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
            text = self._decoder.decode(buffered + chunk, final)
        if not self._started and text:
            self._started = True
            if text.startswith(_BOM):
                text = text[1:]
                self.warn("the file starts with a UTF-8 BOM; it is ignored")
        return text

    def _take_text(self, text: str, final: bool) -> None:
        """Take decoded text in pieces of at most half a record's cap: a record longer than the cap
        then always reaches :meth:`_take_piece` as a pending record, whatever the chunk sizes."""
        piece = MAX_RECORD_CHARS // 2
        for start in range(0, len(text), piece):
            self._take_piece(text[start : start + piece] if len(text) > piece else text)
        if final:
            self._take_piece("", final=True)

    def _take_piece(self, text: str, final: bool = False) -> None:
        if self._skipping:
            text = self._skip_record(text)
            if self._skipping:
                return
        block = self._pending + text if self._pending else text
        if self._pending:
            end, _in_quotes = _record_end(block, 0, False)
            if (end if end >= 0 else len(block)) > MAX_RECORD_CHARS:
                self._pending = ""
                if end < 0:
                    self._overlong_record(block, complete=False)
                    return
                self._overlong_record(block[: end + 1], complete=True)
                block = block[end + 1 :]
        if final:
            self._pending = ""
            if block:
                self._process(block)
            return
        cut = block.rfind("\n") + 1
        if cut and self._header is not None and self._block_is_clean(block, cut):
            self._pending = block[cut:]  # clean lines hold no quotes, so the cut is a record boundary
        elif cut:
            if block.count('"', 0, cut) % 2:
                cut = self._last_record_end(block, cut)  # a quoted field spans the cut: keep its record
            self._pending = block[cut:]
            if cut:
                self._process(block[:cut])
        else:
            self._pending = block
        if len(self._pending) > MAX_RECORD_CHARS:
            pending, self._pending = self._pending, ""
            self._overlong_record(pending, complete=False)

    @staticmethod
    def _last_record_end(block: str, cut: int) -> int:
        """The end of the last complete record in ``block[:cut]`` (0 when none ends there)."""
        last = 0
        position = 0
        while position < cut:
            end, _in_quotes = _record_end(block, position, False)
            if end < 0 or end >= cut:
                break
            last = position = end + 1
        return last

    def _overlong_record(self, record: str, *, complete: bool) -> None:
        """A record longer than :data:`MAX_RECORD_CHARS`: reported at its row (and column, when the cap
        was passed inside a known one), never checked; an incomplete one is skipped up to its end."""
        row = self._line_base + 1
        column = None
        if self._header:
            index = _outside_quotes_count(record[:MAX_RECORD_CHARS], self._delimiter)
            column = self._header[index] if index < len(self._header) else None
        what = "the header" if self._header is None else "the row"
        if "\x00" in record:
            why = "it holds NUL bytes: is this a binary file?"
        elif "\r" in record and "\n" not in record:
            why = "its lines end in a bare \\r; line breaks must be \\n or \\r\\n"
        else:
            why = "a line end is missing or a quote is never closed"
        self.add_problem(
            row,
            column,
            f"{what} is longer than {MAX_RECORD_CHARS:,} characters ({why}); Metrika's longest documented row "
            "is far shorter, so it is not read further",
        )
        if self._header is None:
            self._header = []  # the next lines are rows, not a header
            self._header_ok = False
        else:
            self._rows += 1
            self._bad_rows += 1
        self._line_base += record.count("\n")
        if not complete:
            self._skipping = True
            self._skip_in_quotes = record.count('"') % 2 == 1

    def _skip_record(self, text: str) -> str:
        """Drop ``text`` up to the end of the over-long record; returns what follows it (all of the rest
        of the file when its end is not in ``text``)."""
        end, self._skip_in_quotes = _record_end(text, 0, self._skip_in_quotes)
        if end < 0:
            self._line_base += text.count("\n")
            return ""
        self._line_base += text.count("\n", 0, end) + 1
        self._skipping = False
        return text[end + 1 :]

    # -- the row loop --------------------------------------------------------------------
    def _process(self, block: str) -> None:
        """Check a block that ends on a record boundary: header first, then the fastest path that vouches."""
        if self._header is None:
            cut = block.find("\n") + 1 or len(block)
            if block.count('"', 0, cut) % 2:
                self._process_lines(block)  # a quoted header spans lines: the csv path reads it
                return
            self._process_lines(block[:cut])
            block = block[cut:]
        if block and not self._block_is_clean(block, len(block)):
            self._process_lines(block)

    def _block_is_clean(self, block: str, end: int) -> bool:
        """Whole-block fast path (one regex over ``block[:end]``, not copied); True when every line
        is a valid row and those lines are done."""
        if self._line_pattern is None or (self._undecodable and block.find(_REPLACEMENT, 0, end) >= 0):
            return False
        checked = self._line_pattern.check_block(block, end)
        if checked is None:
            return False
        rows, stale = checked
        policy = self._options.stale_rows
        if stale and (policy == "fail" or self._reporting_drops):
            return False  # problems to word, or stale rows to cut out line by line
        self._rows += rows
        self._stale += stale
        if policy == "drop":
            self._dropped += stale
        self._line_base += rows
        if self._sink is not None:
            self._sink.write(block[:end].encode())
        return True

    def _process_lines(self, block: str) -> None:
        """The csv-based paths: batches checked column-wise when clean, else row by row."""
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

    def _columns_verdict(self, batch: list[list[str]]) -> tuple[int, list[tuple[int, CellCheck]]] | None:
        """Check cell rows column by column with C-level loops: None when some row breaks a rule,
        else the number of stale rows and the checks that found them."""
        rules = self._rules
        if rules is None or not batch or set(map(len, batch)) != {rules.width}:
            return None
        if self._has_bad_text("".join(map("".join, batch))):
            return None
        columns = list(zip(*batch, strict=True))
        stale = 0
        stale_checks = []
        for index, _column, check in rules.checks:
            count = column_stale_count(check, columns[index])
            if count is None:
                return None
            if count:
                stale += count
                stale_checks.append((index, check))
        if any("" in columns[index] for index, _ in rules.required):
            return None
        for indexes, _message in rules.any_of:
            if not all(map(any, zip(*(columns[i] for i in indexes), strict=True))):
                return None
        if any("" in columns[index] for index, _column, _message in rules.warn_if_empty):
            return None
        if any(any(map(picks, columns[index])) for index, _column, picks, _message in rules.warn_when):
            return None  # the row loop counts the warning
        return stale, stale_checks

    def _batch_is_clean(self, batch: list[list[str]], lines: list[str], start: int, end: int) -> bool:
        """Fast path: check a batch column by column with C-level loops.

        True when every row is fine (stale rows counted per policy) and the batch is done;
        False sends it to the row loop, which finds and words the problems. Batches stay
        small so their lists die young (a big batch wakes the cyclic GC's older generations).
        """
        verdict = self._columns_verdict(batch)
        if verdict is None:
            return False
        stale, stale_checks = verdict
        policy = self._options.stale_rows
        dropping = stale and policy == "drop" and self._sink is not None
        reporting = stale and policy == "drop" and self._on_reject is not None
        if (stale and policy == "fail") or (dropping and end - start != len(batch)) or reporting:
            return False  # problems to word, stale rows to cut out of multi-line records or to report
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

    def take_clean_rows(self, rows: list[list[str]]) -> bool:
        """Rows given as cells, checked column-wise at once: True when all are valid and kept (and
        counted); False, counting nothing, when they need :meth:`take_row` one by one (a problem,
        or a stale row that ``stale_rows`` fails or drops)."""
        verdict = self._columns_verdict(rows)
        if verdict is None or (verdict[0] and self._options.stale_rows != "warn"):
            return False
        self._rows += len(rows)
        self._stale += verdict[0]
        return True

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

    @property
    def options(self) -> ValidationOptions:
        return self._options

    def count_warning(self, message: str) -> None:
        """Count one row for a warning reported once at the end as "N row(s): message"."""
        self._warned_empty[message] = self._warned_empty.get(message, 0) + 1

    def raise_if_failing(self) -> None:
        """Under ``fail_fast``, raise once ``max_problems`` problems are known."""
        self._raise_if_failing()

    def _on_header(self, fields: list[str]) -> None:
        self._header = fields
        problems_before = self._total
        if self._format.header_is_data(fields):
            self._rules = self._format.compile_rules(fields, self._options, HeaderContext(self))
            self._line_pattern = compile_line_pattern(self._rules, self._delimiter)
            self._header_ok = True
            self.take_row(fields, 1)
            return
        if not any(fields):
            self.add_problem(1, None, "the header row is empty")
            self._header_ok = False
            return
        if self._has_bad_text("".join(fields)):
            self._report_bad_text(fields, 1)
        seen: set[str] = set()
        for name in fields:
            if not name.strip():
                self.add_problem(1, None, "a column has an empty name")
            elif name in seen:
                self.add_problem(1, name, f"duplicate column name {name!r}")
            seen.add(name)
        self._rules = self._format.compile_rules(fields, self._options, HeaderContext(self))
        self._line_pattern = compile_line_pattern(self._rules, self._delimiter)
        self._header_ok = self._total == problems_before

    def _check_row(self, fields: list[str], row: int) -> bool:
        """Apply the compiled rules; True when the row is valid and kept (the per-row hot path)."""
        if self._on_reject is None:
            return self._check_fields(fields, row)
        self._cells = fields
        try:
            return self._check_fields(fields, row)
        finally:
            self._cells = None

    def _check_fields(self, fields: list[str], row: int) -> bool:
        rules = self._rules
        if rules is None:
            self._bad_rows += 1
            return False
        if len(fields) != rules.width:
            self.add_problem(row, None, f"has {len(fields)} fields; the header has {rules.width}")
            self._bad_rows += 1
            return False
        ok = not self._has_bad_text("".join(fields)) or self._report_bad_text(fields, row)
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
        for index, column, picks, message in rules.warn_when:
            if picks(fields[index]):
                key = f"{message} (column {column})"
                self._warned_empty[key] = self._warned_empty.get(key, 0) + 1
        if not ok:
            self._bad_rows += 1
            return False
        return stale is None or self._outside_window(row, *stale)

    def _has_bad_text(self, text: str) -> bool:
        """Control characters, or (once some bytes were not UTF-8) the replacement character."""
        return has_control_character(text) or (self._undecodable and _REPLACEMENT in text)

    def _report_bad_text(self, fields: list[str], row: int) -> bool:
        """Report each cell of ``fields`` with a control character or undecodable bytes; False (the row is bad)."""
        header = self._header or []
        for index, value in enumerate(fields):
            message = control_character_problem(value)
            if message is None and self._undecodable and _REPLACEMENT in value:
                message = _NOT_UTF8
            if message is not None:
                self.add_problem(row, header[index] if index < len(header) else None, message)
        return False

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
            if self._on_reject is not None:
                days = self._options.linkage_window_days
                message = f"{value} is older than the {days}-day linkage window; dropped"
                self._on_reject(row, column, message, self._cells, self._header)
            return False
        return True

    # -- the end -------------------------------------------------------------------------
    def _final_checks(self, no_rows_message: str, no_rows_row: int | None) -> None:
        if self._header is None:
            self.add_problem(None, None, "the file is empty; a header row and data rows are required")
        elif self._rows == 0 and no_rows_message is not None:
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
            warnings=list(self._warnings)
            + ([f"... and {self._more_warnings:,} more warning(s)"] if self._more_warnings else []),
            header=list(self._header or []),
        )
