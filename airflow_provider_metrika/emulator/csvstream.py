"""Incremental CSV reading for uploads that arrive in chunks.

The multipart part is fed chunk by chunk. Complete lines are handed on at once (the
partial last line is carried to the next chunk), so checking overlaps with the client
still sending, and a 1 GiB file is never held in memory. A quoted field may contain
a newline: a block is only cut where the number of quote characters is even.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Iterator

from airflow_provider_metrika.emulator.errors import invalid_uploading

MAX_FILE_BYTES = 1 << 30
MAX_CARRY_BYTES = 64 << 20
UTF8_BOM = b"\xef\xbb\xbf"

_column_patterns: dict[tuple[int, bytes], re.Pattern[bytes]] = {}


class CsvStream:
    """Feeds complete-line blocks to :meth:`check_header` and :meth:`check_block`.

    Counts bytes and data records, hashes the raw bytes, and rejects (400
    ``invalid_uploading``) empty, oversized, non-UTF-8 and header-less files.
    Subclasses implement the two hooks.
    """

    def __init__(self, delimiter: str = ","):
        self.delimiter = delimiter
        self.size = 0
        self.rows = 0
        self.header: list[str] | None = None
        self._sha256 = hashlib.sha256()
        self._carry = b""
        self._consumed = 0

    # -- feeding ----------------------------------------------------------------------------
    def feed(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > MAX_FILE_BYTES:
            raise invalid_uploading(f"file is larger than the 1 GiB limit ({MAX_FILE_BYTES} bytes)")
        self._sha256.update(chunk)
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

    @property
    def sha256(self) -> str:
        return self._sha256.hexdigest()

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

    def column_values(self, block: bytes, index: int) -> list[bytes] | None:
        """Fast path: the raw bytes of column ``index`` on every line, or None when unsafe.

        Unsafe means quotes or CR characters in the block, another delimiter, or a line
        without that column (blank lines included); the caller then uses :meth:`records`.
        """
        if self.delimiter != "," or b'"' in block or b"\r" in block:
            return None
        pattern = _column_patterns.get((index, b","))
        if pattern is None:
            pattern = re.compile(rb"^(?:[^,\n]*,){%d}([^,\n]*)" % index, re.M)
            _column_patterns[(index, b",")] = pattern
        values = pattern.findall(block, 0, len(block) - 1)
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


def _even_quotes(data: bytes, end: int) -> bool:
    return b'"' not in data or data.count(b'"', 0, end) % 2 == 0
