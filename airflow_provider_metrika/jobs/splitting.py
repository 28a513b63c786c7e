"""Split a CSV larger than Metrika's 1 GB limit into several uploads on row boundaries.

Each part repeats the header. Rows never straddle parts: a newline inside a quoted
field does not end a row (quote parity is tracked per line). The same pass can feed
a validator, so a bad row anywhere stops the upload before any part is sent.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from typing import IO

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
        f"{name} row {row}: longer than {MAX_RECORD_BYTES:,} bytes (a line end is missing or a quote is never "
        "closed); Metrika's longest documented row is far shorter"
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
