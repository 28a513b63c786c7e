"""The rejected-rows CSV writer: every row a check refused or dropped, with its row number, the problem and its
original cells, so a pipeline can fix those rows and resend only them.

Rows are written as they are met (one pass, streamed): memory holds one row at a time.
Columns: ``row`` (the file line, header = 1), ``column``, ``problem``, then the input's own header.
Several problems of one row become one line (columns and problems joined by ``; ``). This module imports
neither Airflow nor a vendor module: the validators (and the emulator that runs them) use it without Airflow.
"""

from __future__ import annotations

import csv
from typing import IO

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
