"""Where the rejected-rows CSV goes: a local path, an fsspec URL or an ``ObjectStoragePath`` the user names.

Every row a check refused or dropped is one line: its row number, the column and the problem, then its
original cells under the input's own header, so a pipeline can fix those rows and resend only them. The
operators of every vendor write it (when validation refuses rows, when stale rows are dropped, when a
server refuses rows it names) and put its location in the XCom (key ``rejected_rows``: ``{"path", "rows"}``).
Rows are written as they are met (one streamed pass): memory holds one row at a time.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import IO, Any

from airflow_provider_metrika.jobs.inputs import PreparedInput, local_path, storage_path
from airflow_provider_metrika.jobs.rejects_writer import MAX_CELL_CHARS, REJECT_COLUMNS, RejectedRowsWriter

__all__ = [
    "MAX_CELL_CHARS",
    "MAX_SERVER_MESSAGES",
    "REJECT_COLUMNS",
    "RejectedRowsWriter",
    "open_target",
    "record_cells",
    "server_rejections",
    "write_server_rejections",
]

#: The row a CRM validation message names (``row 3: ...``), counted from the first data row.
_ROW_IN_MESSAGE = re.compile(r"\brow (\d+)\b")
#: Messages of one refusal taken into the artifact (a server's list is short; a hostile one is cut).
MAX_SERVER_MESSAGES = 10_000


@contextlib.contextmanager
def open_target(location: Any, conn_id: str | None) -> Iterator[tuple[str, IO[str]]]:
    """The named location opened for writing UTF-8 text: ``(its name, the stream)``; local folders are created."""
    remote = storage_path(location, conn_id)
    if remote is not None:
        with contextlib.suppress(OSError, NotImplementedError):  # object stores have no folders to make
            remote.parent.mkdir(parents=True, exist_ok=True)
        with remote.open("w", encoding="utf-8", newline="") as out:
            yield str(remote), out
        return
    path = local_path(location)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as out:
        yield str(path), out


def server_rejections(messages: Sequence[Any]) -> tuple[list[str], dict[int, list[str]]]:
    """A server's messages split into general ones and those naming a data row (1 = the first data row)."""
    general: list[str] = []
    by_row: dict[int, list[str]] = {}
    for message in list(messages)[:MAX_SERVER_MESSAGES]:
        text = str(message)
        found = _ROW_IN_MESSAGE.search(text)
        if found is None:
            general.append(text)
        else:
            by_row.setdefault(int(found[1]), []).append(text)
    return general, by_row


def write_server_rejections(
    out: IO[str],
    messages: Sequence[Any],
    source: PreparedInput | None,
    delimiter: str,
    log: logging.Logger,
    *,
    records: Sequence[Any] | None = None,
) -> int:
    """A server's messages with the cells of the rows they name: the sent ``records`` (JSON rows, one object each)
    when given, else the CSV ``source`` read again (one streamed pass).

    A message that names no row (or a row beyond the input) is written with no cells.
    """
    general, by_row = server_rejections(messages)
    header: list[str] = []
    writer = RejectedRowsWriter(out, header)
    with contextlib.ExitStack() as stack:
        rows: Iterator[list[str]] | None = None
        if by_row and records is not None:
            rows = record_cells(records, header)
        elif by_row and source is not None:
            rows = _csv_cells(stack, source, delimiter, header, log)
        for text in general:
            writer.reject(None, None, text, None)
        try:
            for number, fields in enumerate(rows or (), start=1):
                for text in by_row.pop(number, ()):
                    writer.reject(number + 1, None, text, fields)
                if not by_row:
                    break
        except (OSError, UnicodeDecodeError, csv.Error) as error:
            log.warning("Could not read %s again for the rejected rows' cells: %s", getattr(source, "name", ""), error)
    for number, texts in sorted(by_row.items()):
        for text in texts:
            writer.reject(number + 1, None, text, None)
    return writer.close()


def _csv_cells(
    stack: contextlib.ExitStack, source: PreparedInput, delimiter: str, header: list[str], log: logging.Logger
) -> Iterator[list[str]] | None:
    """The data rows of a CSV source, its header put into ``header``; None (and a warning) when it cannot be read."""
    try:
        stream = io.TextIOWrapper(stack.enter_context(source.opener()), encoding="utf-8-sig", newline="")
        rows = csv.reader(stream, delimiter=delimiter)
        header.extend(next(rows, []))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        log.warning("Could not read %s again for the rejected rows' cells: %s", source.name, error)
        return None
    return rows


def record_cells(records: Sequence[Any], header: list[str]) -> Iterator[list[str]]:
    """Each record (a JSON object) as cells under ``header``, which gets every key in first-seen order.

    Text stays as it was; numbers, lists and objects are written as JSON, null as an empty cell.
    """
    header.extend(dict.fromkeys(key for record in records if isinstance(record, Mapping) for key in record))
    for record in records:
        values = record if isinstance(record, Mapping) else {}
        yield [_cell(values.get(key)) for key in header]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
