"""Incremental CSV reading for uploads that arrive in chunks.

The multipart part is fed chunk by chunk. Complete lines are handed on at once (the
partial last line is carried to the next chunk), so checking overlaps with the client
still sending, and a 1 GiB file is never held in memory. A quoted field may contain
a newline: a block is only cut where the number of quote characters is even.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator

try:  # optional accelerator: numpy comes with pandas, the provider does not require it
    import numpy as _numpy
except ImportError:  # pragma: no cover - exercised in environments without numpy
    _numpy = None

from airflow_provider_metrika.emulator.errors import invalid_uploading

MAX_FILE_BYTES = 1 << 30
MAX_CARRY_BYTES = 64 << 20
UTF8_BOM = b"\xef\xbb\xbf"

_column_patterns: dict[int, re.Pattern[bytes]] = {}


class CsvStream:
    """Feeds complete-line blocks to :meth:`check_header` and :meth:`check_block`.

    Counts bytes and data records and rejects (400
    ``invalid_uploading``) empty, oversized, non-UTF-8 and header-less files.
    Subclasses implement the two hooks.
    """

    def __init__(self, delimiter: str = ","):
        self.delimiter = delimiter
        self.size = 0
        self.rows = 0
        self.header: list[str] | None = None
        self._carry = b""
        self._consumed = 0

    # -- feeding ----------------------------------------------------------------------------
    def feed(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > MAX_FILE_BYTES:
            raise invalid_uploading(f"file is larger than the 1 GiB limit ({MAX_FILE_BYTES} bytes)")
        data = self._carry + chunk if self._carry else chunk
        cut = data.rfind(b"\n") + 1
        if cut and _even_quotes(data, cut):
            self._carry = data[cut:]
            self._process(data[:cut])
        else:
            self._carry = data
            if len(data) > MAX_CARRY_BYTES:
                raise invalid_uploading("a line (or an unterminated quoted field) is longer than 64 MiB")

    def finish(self) -> None:
        """Process the last line; call once after the last chunk."""
        if self.size == 0:
            raise invalid_uploading("file is empty")
        if self._carry:
            carry, self._carry = self._carry, b""
            self._process(carry + b"\n")
        if self.header is None:
            raise invalid_uploading("file has no header row")

    # -- hooks ------------------------------------------------------------------------------
    def check_header(self, header: list[str]) -> None:
        """Validate the header row (raise :class:`ApiError` to reject)."""

    def check_block(self, block: bytes) -> None:
        """Check a block of complete data lines; the default parses and counts them."""
        for _ in self.records(block):
            pass

    # -- helpers for subclasses -------------------------------------------------------------
    def records(self, block: bytes) -> Iterator[tuple[int, list[str]]]:
        """The block's non-blank records as ``(row number, fields)``; row 1 is the first data row."""
        reader = csv.reader(io.StringIO(block.decode("utf-8"), newline=""), delimiter=self.delimiter)
        try:
            for fields in reader:
                if not fields or (len(fields) == 1 and not fields[0].strip()):
                    continue
                self.rows += 1
                yield self.rows, fields
        except csv.Error as error:
            raise invalid_uploading(f"row {self.rows + 1}: malformed CSV ({error})") from None

    def digit_column_max(self, block: bytes, index: int) -> int | None:
        """Fast path: the largest value of column ``index`` when, on every line, it is plain digits.

        None means "cannot tell quickly" (quotes, CR, blank or short lines, non-digits,
        another delimiter); the caller then walks :meth:`records` for an exact answer.
        Uses numpy when it is installed (about twice as fast), else a regex.
        """
        if self.delimiter != "," or b'"' in block or b"\r" in block:
            return None
        if _numpy is not None and self.header:
            found = _numpy_digit_column_max(block, index, len(self.header))
            if found is not None:
                return found
        values = self._column_values(block, index)
        if values is None or b"" in values or not b"".join(values).isdigit():
            return None
        return int(max(values)) if len(set(map(len, values))) == 1 else max(map(int, values))

    def _column_values(self, block: bytes, index: int) -> list[bytes] | None:
        """The raw bytes of column ``index`` on every line, or None when a line lacks it."""
        pattern = _column_patterns.get(index)
        if pattern is None:
            # Anchored on the newline before each line (a literal prefix the regex engine
            # scans for quickly); possessive quantifiers never backtrack.
            pattern = re.compile(rb"\n(?:[^,\n]*+,){%d}([^,\n]*+)" % index)
            _column_patterns[index] = pattern
        values = pattern.findall(b"\n" + block, 0, len(block))
        return values if len(values) == block.count(b"\n") else None

    # -- internals --------------------------------------------------------------------------
    def _process(self, block: bytes) -> None:
        if not block.isascii():
            try:
                block.decode("utf-8")
            except UnicodeDecodeError as error:
                raise invalid_uploading(f"file is not valid UTF-8 (byte {self._consumed + error.start})") from None
        consumed = len(block)
        if self.header is None:
            block = self._take_header(block)
        if block:
            self.check_block(block)
        self._consumed += consumed

    def _take_header(self, block: bytes) -> bytes:
        if self._consumed == 0 and block.startswith(UTF8_BOM):
            block = block[len(UTF8_BOM) :]
        line, _, rest = block.partition(b"\n")
        if not line.strip():
            raise invalid_uploading("file has no header row: the first line is blank")
        if line.count(b'"') % 2:
            raise invalid_uploading("the header row must be a single line")
        header = next(csv.reader([line.decode("utf-8").rstrip("\r")], delimiter=self.delimiter))
        self.header = [name.strip() for name in header]
        self.check_header(self.header)
        return rest


def _numpy_digit_column_max(block: bytes, index: int, columns: int) -> int | None:
    """Vectorised :meth:`CsvStream.digit_column_max` for blocks where every line has ``columns`` fields
    and the column's values all have the same width (the common machine-written case)."""
    np = _numpy
    data = np.frombuffer(block, dtype=np.uint8)
    newlines = np.flatnonzero(data == 10)
    commas = np.flatnonzero(data == 44)
    per_line = columns - 1
    if not newlines.size or commas.size != newlines.size * per_line:
        return None
    if per_line:
        grid = commas.reshape(newlines.size, per_line)
        # Each line's commas lie between its own newlines, so every line has exactly per_line.
        if (grid[:, -1] > newlines).any() or (grid[1:, 0] < newlines[:-1]).any():
            return None
    starts = grid[:, index - 1] + 1 if index else np.concatenate(([0], newlines[:-1] + 1))
    ends = grid[:, index] if index < per_line else newlines
    width = int(ends[0] - starts[0])
    if not 1 <= width <= 18 or ((ends - starts) != width).any():
        return None
    digits = data[starts[:, None] + np.arange(width)] - np.uint8(48)
    if (digits > 9).any():
        return None
    values = digits.astype(np.int64) @ (10 ** np.arange(width - 1, -1, -1, dtype=np.int64))
    return int(values.max())


def _even_quotes(data: bytes, end: int) -> bool:
    return b'"' not in data or data.count(b'"', 0, end) % 2 == 0
