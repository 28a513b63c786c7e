"""Split a CSV larger than Metrika's 1 GB limit into several uploads on row boundaries.

Each part repeats the header. Rows never straddle parts: a newline inside a quoted
field does not end a row (quote parity counts from the start of the file). The same
pass can feed a validator, so a bad row anywhere stops the upload before any part is sent.

:func:`split_ranges` cuts a file that can be read from any byte (a local file, an fsspec
file with ranged reads) into byte ranges of the file itself: nothing is copied, every part
is read from the original when it is sent. :func:`split_csv` copies the parts to temporary
files, for a source that can only be read from its start.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Callable
from typing import IO, Any

from airflow_provider_metrika.exceptions import MetrikaValidationError
from airflow_provider_metrika.jobs.inputs import MAX_RECORD_BYTES, PreparedInput, prepare_file

BUFFER = 1024 * 1024


def split_csv(
    source: PreparedInput,
    max_bytes: int,
    directory: str,
    *,
    on_bytes: Callable[[bytes], None] | None = None,
) -> list[PreparedInput]:
    """Write ``source`` as parts of at most ``max_bytes`` each (header included) into ``directory``."""
    parts: list[str] = []
    feed = _Batched(on_bytes) if on_bytes else None
    with source.opener() as stream, contextlib.ExitStack() as open_part:
        header = _bounded_line(stream, source.name, 1)
        if feed:
            feed(header)
        if len(header) * 2 > max_bytes:
            raise MetrikaValidationError(f"{source.name}: the header alone is too long to split the file")
        out: IO[bytes] | None = None
        size = 0
        row = bytearray()  # the record being read (one buffer, not a list of its lines)
        row_lines = 0
        quotes = 0
        line_number = 1  # the header
        while line := _bounded_line(stream, source.name, line_number + 1):
            line_number += 1
            if feed:
                feed(line)
            row += line
            row_lines += 1
            row_size = len(row)
            quotes += line.count(b'"')
            if quotes % 2:
                if row_size > MAX_RECORD_BYTES:
                    raise _overlong(source.name, line_number - row_lines + 1)
                continue  # inside a quoted field: the row goes on
            if out is None or size + row_size > max_bytes:
                if len(header) + row_size > max_bytes:
                    raise MetrikaValidationError(
                        f"{source.name} row {line_number - row_lines + 1}: {row_size} bytes, larger than the "
                        f"{max_bytes}-byte upload limit even alone"
                    )
                open_part.close()  # the previous part is complete
                parts.append(os.path.join(directory, f"part-{len(parts) + 1:04d}.csv"))
                out = open_part.enter_context(open(parts[-1], "wb"))
                out.write(header)
                size = len(header)
            out.write(row)
            size += row_size
            row, row_lines, quotes = bytearray(), 0, 0
        if feed:
            feed.flush()
        if row:
            start = line_number - row_lines + 1
            raise MetrikaValidationError(
                f"{source.name} row {start}: the file ends inside a quoted field (a quote is never closed)"
            )
    return [prepare_file(path) for path in parts]


def _overlong(name: str, row: int) -> MetrikaValidationError:
    return MetrikaValidationError(
        f"{name} row {row}: longer than {MAX_RECORD_BYTES:,} bytes (a line end is missing or a quote is never closed)"
    )


def _bounded_line(stream: IO[bytes], name: str, row: int) -> bytes:
    """The next line, read with a limit: a line longer than :data:`MAX_RECORD_BYTES` is an error, never held."""
    line = stream.readline(MAX_RECORD_BYTES + 1)
    if len(line) > MAX_RECORD_BYTES:
        raise _overlong(name, row)
    return line


class _Batched:
    """Hand bytes on in blocks of about ``BUFFER`` (a validator is much faster on blocks than on lines)."""

    def __init__(self, sink: Callable[[bytes], None]) -> None:
        self._sink = sink
        self._pending: list[bytes] = []
        self._size = 0

    def __call__(self, data: bytes) -> None:
        self._pending.append(data)
        self._size += len(data)
        if self._size >= BUFFER:
            self.flush()

    def flush(self) -> None:
        if self._pending:
            self._sink(b"".join(self._pending))
            self._pending, self._size = [], 0


# -- splitting by byte ranges of the original file (no copy) ---------------------------------------------


@dataclasses.dataclass(frozen=True)
class ByteRange:
    """One upload of a split file: the file's header line, then bytes ``start``..``end`` of the file itself."""

    index: int  # 1-based, in file order
    count: int
    start: int
    end: int
    header: bytes

    @property
    def size(self) -> int:
        return len(self.header) + self.end - self.start


class _RecordEnds:
    """Where records end in a CSV read in chunks: at a newline with an even number of quotes before it in
    the file (the rule the validator cuts records by). Keeps the quote parity, the line count and the last
    record end seen; finds the first record end after a point. Each byte is looked at by C-speed
    ``bytes.count``/``find`` a bounded number of times, whatever the quotes."""

    def __init__(self, offset: int, line: int) -> None:
        self.in_quotes = False
        self.line = line  # the line number at the scanned position
        self.last_end = offset  # the last record end at or before the scanned position
        self.last_end_line = line  # the line number of the record that starts there

    def scan(self, data: bytes, base: int, i: int, j: int) -> None:
        """Take ``data[i:j]`` (``data`` starts at file offset ``base``) into account."""
        quotes = data.count(b'"', i, j)
        newlines = data.count(b"\n", i, j)
        if newlines and (quotes or not self.in_quotes):
            inside, high, skipped = quotes, j, 0  # inside = quotes in data[i:high]
            while (k := data.rfind(b"\n", i, high)) >= 0:
                inside -= data.count(b'"', k, high)
                if not (self.in_quotes ^ (inside & 1)):
                    self.last_end, self.last_end_line = base + k + 1, self.line + newlines - skipped
                    break
                skipped, high = skipped + 1, k
        self.in_quotes ^= bool(quotes & 1)
        self.line += newlines

    def first_end(self, data: bytes, base: int, i: int, j: int) -> int | None:
        """The file offset of the first record end in ``data[i:j]``, if one is there."""
        inside, low = 0, i
        while (k := data.find(b"\n", low, j)) >= 0:
            inside += data.count(b'"', low, k)
            if not (self.in_quotes ^ (inside & 1)):
                return base + k + 1
            low = k + 1
        return None


def split_ranges(
    source: PreparedInput,
    max_bytes: int,
    *,
    on_bytes: Callable[[bytes], None] | None = None,
    read_all: bool = False,
) -> list[ByteRange]:
    """Where to cut ``source`` into uploads of at most ``max_bytes`` (header included), in file order.

    The last part is made as large as the limit allows and is found first: it starts at the first
    record end at or after ``size - (max_bytes - len(header))``, so only the bytes before it have to be
    read here (what comes before is cut greedily). ``on_bytes`` sees every byte read, in file order —
    the header and everything before the last part, or the whole file with ``read_all`` — so a
    validator fed by it can check those bytes before anything is sent and the last part while it is.
    """
    name = source.name
    with source.opener() as stream:
        header = _bounded_line(stream, name, 1)
        if on_bytes:
            on_bytes(header)
        if len(header) * 2 > max_bytes:
            raise MetrikaValidationError(f"{name}: the header alone is too long to split the file")
        room = max_bytes - len(header)  # record bytes per part
        last_start = source.size - room  # the last part cannot start earlier
        ends = _RecordEnds(len(header), line=2)
        cuts, cut_lines = [len(header)], [2]
        limit = len(header) + room
        tail: int | None = None
        base = len(header)
        while tail is None and (data := stream.read(BUFFER)):
            i, n = 0, len(data)
            while i < n and tail is None:
                stop = min(n, limit - base)
                search_from = last_start - 1 - base  # a record end >= last_start ends with a newline from there
                if search_from <= i:
                    before = (ends.last_end, ends.last_end_line)
                    end = ends.first_end(data, base, i, stop)
                    stop = stop if end is None else end - base
                    ends.scan(data, base, i, stop)
                    if end is not None:
                        if end >= source.size:  # the record around last_start runs to the end of the file
                            raise _too_big(name, before[1], end - before[0], max_bytes)
                        tail = end
                else:
                    stop = min(stop, search_from)
                    ends.scan(data, base, i, stop)
                i = stop
                if tail is None and base + i == limit:  # the part is full: cut at the last record end
                    if ends.last_end <= cuts[-1]:
                        raise _too_big(name, cut_lines[-1], base + i - cuts[-1], max_bytes, ends.in_quotes)
                    cuts.append(ends.last_end)
                    cut_lines.append(ends.last_end_line)
                    limit = ends.last_end + room
                    if limit <= base + i:
                        raise _too_big(name, cut_lines[-1], base + i - cuts[-1], max_bytes, ends.in_quotes)
            if on_bytes:
                on_bytes(data if tail is None or read_all else data[: tail - base])
            base += n
        if tail is None:  # (the limit is always met first, unless the file shrank while being read)
            raise _too_big(name, ends.last_end_line, base - ends.last_end, max_bytes, ends.in_quotes)
        if on_bytes and read_all:
            for data in iter(lambda: stream.read(BUFFER), b""):
                on_bytes(data)
    bounds = [*(cut for cut in cuts if cut < tail), tail, source.size]
    count = len(bounds) - 1
    return [ByteRange(index + 1, count, bounds[index], bounds[index + 1], header) for index in range(count)]


def _too_big(name: str, row: int, size: int, max_bytes: int, in_quotes: bool = False) -> MetrikaValidationError:
    hint = " (it is inside a quoted field: is a quote never closed?)" if in_quotes else ""
    return MetrikaValidationError(
        f"{name} row {row}: at least {size} bytes, larger than the {max_bytes}-byte upload limit even alone{hint}"
    )


class RangeReader:
    """Bytes ``start``..``end`` of a freshly opened file, for the multipart encoder (``len`` is what is left).

    A file whose size is no longer the one it was split and checked at is refused when opened, and one
    that ends early while being read is an error, not a short upload: a part is sent only as checked.
    """

    def __init__(self, handle: IO[bytes], name: str, size: int, start: int, end: int) -> None:
        self._handle = handle
        self._name = name
        try:
            now = handle.seek(0, os.SEEK_END)
            if now != size:
                raise MetrikaValidationError(
                    f"{name}: {now} bytes now, {size} when it was split and checked: the file changed; not sending it"
                )
            handle.seek(start)
        except BaseException:
            handle.close()
            raise
        self._left = end - start

    @property
    def len(self) -> int:
        return self._left

    def read(self, size: int | None = -1) -> bytes:
        if self._left <= 0:
            return b""
        data = self._handle.read(self._left if size is None or size < 0 else min(size, self._left))
        if not data:
            raise MetrikaValidationError(f"{self._name}: the file ended {self._left} bytes early: it changed")
        self._left -= len(data)
        return data

    def close(self) -> None:
        self._handle.close()


class PrefixedReader:
    """``prefix`` (a part's header line), then everything ``rest`` reads; ``len`` for the multipart encoder."""

    def __init__(self, prefix: bytes, rest: Any) -> None:
        self._prefix = prefix
        self._rest = rest

    @property
    def len(self) -> int:
        return len(self._prefix) + self._rest.len

    def read(self, size: int | None = -1) -> bytes:
        if not self._prefix:
            return self._rest.read(size)
        if size is None or size < 0:
            data, self._prefix = self._prefix + self._rest.read(), b""
            return data
        data, self._prefix = self._prefix[:size], self._prefix[size:]
        return data

    def readline(self, limit: int = -1) -> bytes:
        """The header line (what a first-row check reads); past it, lines are not this reader's business."""
        cut = self._prefix.find(b"\n") + 1 or len(self._prefix)
        if limit is not None and limit >= 0:
            cut = min(cut, limit)
        line, self._prefix = self._prefix[:cut], self._prefix[cut:]
        return line

    def close(self) -> None:
        self._rest.close()

    def __enter__(self) -> PrefixedReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def range_opener(source: PreparedInput, part: ByteRange, wrap: Callable[[RangeReader], Any] | None = None):
    """An opener for the hook: the part's header, then its byte range of ``source`` (``wrap`` may check it)."""

    def opener() -> PrefixedReader:
        body = RangeReader(source.opener(), source.name, source.size, part.start, part.end)
        return PrefixedReader(part.header, wrap(body) if wrap else body)

    return opener


def seekable(source: PreparedInput) -> bool:
    """Whether the source's handles can jump to a byte (local files, and fsspec files with ranged reads)."""
    with source.opener() as stream:
        try:
            return bool(stream.seekable())
        except (AttributeError, OSError, ValueError):
            return False
