"""Validation of an upload's bytes, before it is sent or while it streams.

``preflight`` reads the file once before any request (nothing is sent for a bad file);
``inflight`` checks the bytes as they are sent and aborts the request before its last
byte if a row is bad, so Metrika never receives a complete upload; ``none`` skips it.
The header is checked before any request in every mode but ``none``.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import logging
import queue
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from airflow_provider_metrika.exceptions import MetrikaConfigError
from airflow_provider_metrika.formats import FileFormat, ValidationOptions, ValidationReport, get_file_format
from airflow_provider_metrika.formats.base import CHUNK_SIZE
from airflow_provider_metrika.jobs.inputs import PreparedInput, prepare_file
from airflow_provider_metrika.jobs.splitting import range_opener, seekable, split_csv, split_ranges

VALIDATION_MODES = ("preflight", "inflight", "none")
#: Chunks the in-flight checker may run ahead of the sending (memory: this many times CHUNK_SIZE).
READ_AHEAD_CHUNKS = 4


def check_mode(mode: str) -> str:
    if mode not in VALIDATION_MODES:
        raise MetrikaConfigError(f"validation={mode!r}: expected one of {', '.join(VALIDATION_MODES)}")
    return mode


class ValidatingReader:
    """A file-like the multipart encoder reads: it hands out only bytes a format checker has passed.

    A worker thread reads the file and checks it up to ``read_ahead`` chunks ahead of the
    sending, so checking and sending overlap (socket writes release the GIL) and neither
    waits for the other while the buffer has room; memory stays at a few chunks. A problem
    surfaces on the next ``read`` — before the bad chunk is handed out — and aborts the
    request mid-body. End of file is reported only after the checker has finished without
    problems, so an invalid file never reaches Metrika whole.
    """

    def __init__(
        self,
        raw: IO[bytes],
        checker: Any,
        size: int,
        *,
        read_ahead: int = READ_AHEAD_CHUNKS,
        chunk_size: int = CHUNK_SIZE,
    ) -> None:
        self._raw = raw
        self._checker = checker
        self._remaining = size
        self._chunk_size = chunk_size
        self._checked: queue.Queue[bytes | BaseException | None] = queue.Queue(maxsize=max(1, read_ahead))
        self._closing = threading.Event()
        self._worker: threading.Thread | None = None
        self._chunk = b""
        self._offset = 0
        self._ended = False
        self._failure: BaseException | None = None
        self.report: ValidationReport | None = None

    @property
    def len(self) -> int:  # requests-toolbelt reads the remaining length from here
        return self._remaining

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            return b"".join(iter(lambda: self.read(self._chunk_size), b""))
        if self._offset >= len(self._chunk) and not self._next_chunk():
            return b""
        if self._offset == 0 and size >= len(self._chunk):
            data = self._chunk
        else:
            data = self._chunk[self._offset : self._offset + size]
        self._offset += len(data)
        self._remaining -= len(data)
        return data

    def _next_chunk(self) -> bool:
        """Take the next checked chunk; False at a clean end of file; raises the checker's (or the file's) error."""
        if self._failure is not None:
            raise self._failure
        if self._ended:
            return False
        if self._worker is None:
            self._worker = threading.Thread(target=self._check_ahead, name="metrika-validate", daemon=True)
            self._worker.start()
        item = self._checked.get()
        if item is None:
            self._ended = True
            return False
        if isinstance(item, BaseException):
            self._failure = item
            raise item
        self._chunk, self._offset = item, 0
        return True

    def _check_ahead(self) -> None:
        """The worker: read, check, hand over; at end of file finish the check; hand over any error."""
        try:
            while not self._closing.is_set():
                chunk = self._raw.read(self._chunk_size)
                if not chunk:
                    self.report = self._checker.finish()
                    self.report.raise_for_problems()
                    self._checked.put(None)
                    return
                self._checker.feed(chunk)
                self._checked.put(chunk)
        except BaseException as error:
            self._checked.put(error)

    def close(self) -> None:
        """Stop the worker (it may be blocked handing over a chunk), then close the file."""
        self._closing.set()
        if self._worker is not None:
            while self._worker.is_alive():
                with contextlib.suppress(queue.Empty):
                    while True:
                        self._checked.get_nowait()
                self._worker.join(timeout=0.05)
        self._raw.close()

    def __enter__(self) -> ValidatingReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def check_header(fmt_name: str | FileFormat, source: PreparedInput, options: ValidationOptions) -> None:
    """Header and required columns, from the first line only: cheap, and before any request."""
    checker = get_file_format(fmt_name).stream_checker(file_name=source.name, options=options)
    checker.feed(source.first_line())
    report = checker.finish()
    header_problems = [p for p in report.problems if getattr(p, "row", None) in (None, 0, 1)]
    if header_problems:
        report.raise_for_problems()


def preflight(
    fmt_name: str | FileFormat, source: PreparedInput, options: ValidationOptions, log: logging.Logger
) -> ValidationReport:
    """Validate the whole file before uploading; raise on problems."""
    with source.opener() as stream:
        report = get_file_format(fmt_name).validate(stream, file_name=source.name, options=options)
    report.raise_for_problems()
    for warning in report.warnings:
        log.warning("%s", warning)
    return report


def inflight_opener(fmt_name: str | FileFormat, source: PreparedInput, options: ValidationOptions):
    """An opener for the hook that validates while the bytes are sent."""

    def opener() -> ValidatingReader:
        checker = get_file_format(fmt_name).stream_checker(file_name=source.name, options=options)
        return ValidatingReader(source.opener(), checker, source.size)

    return opener


def drop_stale_rows(
    fmt_name: str | FileFormat, source: PreparedInput, options: ValidationOptions, directory: str, log: logging.Logger
) -> PreparedInput:
    """``stale_rows="drop"``: copy only the rows inside the linkage window; other problems still fail."""
    kept = Path(directory) / "within-window.csv"
    with source.opener() as stream, kept.open("wb") as out:
        report = get_file_format(fmt_name).filter_rows(stream, out, options=options)
    report.raise_for_problems()
    log.warning("%s: dropped %d row(s) older than the linkage window", source.name, report.dropped_rows)
    filtered = prepare_file(kept)
    return dataclasses.replace(filtered, name=source.name)


def plan_parts(
    fmt_name: str | FileFormat,
    source: PreparedInput,
    options: ValidationOptions,
    *,
    mode: str,
    max_bytes: int,
    directory: str,
    log: logging.Logger,
) -> list[tuple[PreparedInput, Callable[[], Any]]]:
    """The parts to upload, in the order to send them, each with the opener the hook should use.

    A file over ``max_bytes`` is split (see :func:`split_in_place`); a bad row anywhere
    stops the upload before any part is complete on Metrika's side.
    """
    if mode != "none" and options.stale_rows == "drop":
        source = drop_stale_rows(fmt_name, source, options, directory, log)
        mode = "validated"
    if source.size > max_bytes:
        checker = None
        if mode in ("preflight", "inflight"):
            checker = get_file_format(fmt_name).stream_checker(file_name=source.name, options=options)
        if seekable(source):
            return split_in_place(source, checker, inflight=mode == "inflight", max_bytes=max_bytes, log=log)
        return split_to_copies(source, checker, max_bytes=max_bytes, directory=directory, log=log)
    if mode == "preflight":
        report = preflight(fmt_name, source, options, log)
        log.info("Validated %s: %d rows", source.name, report.rows)
    elif mode == "inflight":
        check_header(fmt_name, source, options)
        return [(source, inflight_opener(fmt_name, source, options))]
    return [(source, source.opener)]


def split_in_place(
    source: PreparedInput, checker: Any, *, inflight: bool, max_bytes: int, log: logging.Logger
) -> list[tuple[PreparedInput, Callable[[], Any]]]:
    """Parts as byte ranges of the file, sent from it: no copy, no extra disk, and the in-flight overlap kept.

    How validation in flight and "nothing half-sent" combine: the last part is made as large as the
    limit allows and goes first. Everything before it is read (and, unless ``mode="none"``, checked)
    before any request; the last part is checked while it streams, and its request is aborted before
    its last byte if a row is bad, so Metrika never gets a complete part of a bad file; the other parts
    follow unchecked, already checked. A problem found before the last part stops everything before a
    request (the rest is still checked, to report every problem). Without ``inflight`` the ``checker``
    (if any) checks the whole file first. For a 1 GiB file only the 74 MB before the last part are
    checked ahead of the sending.
    """
    feed = checker.feed if checker is not None else None
    ranges = split_ranges(source, max_bytes, on_bytes=feed, read_all=checker is not None and not inflight)
    last = ranges[-1]
    in_flight = checker is not None and inflight and not checker.total_problems
    if checker is not None and not in_flight:
        if inflight:  # a problem before the last part: check the rest too, to report it all
            with range_opener(source, dataclasses.replace(last, header=b""))() as rest:
                for chunk in iter(lambda: rest.read(CHUNK_SIZE), b""):
                    checker.feed(chunk)
        checker.finish().raise_for_problems()

    def checked_while_sent(body: Any) -> ValidatingReader:  # every attempt from the state before the last part
        return ValidatingReader(body, copy.deepcopy(checker), body.len)

    log.info(
        "%s is %d bytes: split into %d uploads of at most %d bytes, sent from the file itself (no copy)%s",
        source.name,
        source.size,
        len(ranges),
        max_bytes,
        "; the last part goes first, checked while it streams" if in_flight else "",
    )
    folder, slash, file_name = source.name.rpartition("/")
    stem = file_name.removesuffix(".csv") or "data"
    parts = []
    for part in [last, *ranges[:-1]]:
        name = f"{folder}{slash}{stem}-part{part.index}of{part.count}.csv"  # the file name Metrika is sent
        wrap = checked_while_sent if in_flight and part is last else None
        opener = range_opener(source, part, wrap)
        parts.append((PreparedInput(name=name, size=part.size, opener=opener), opener))
    return parts


def split_to_copies(
    source: PreparedInput, checker: Any, *, max_bytes: int, directory: str, log: logging.Logger
) -> list[tuple[PreparedInput, Callable[[], Any]]]:
    """Parts copied to ``directory``, for a source that can only be read from its start; the copying pass
    also feeds the ``checker`` (if any), so no part is sent unless every row is good."""
    parts = split_csv(source, max_bytes, directory, on_bytes=checker.feed if checker else None)
    if checker is not None:
        report = checker.finish()
        report.raise_for_problems()
    log.info(
        "%s is %d bytes: split into %d uploads of at most %d bytes (copied: the source cannot seek)",
        source.name,
        source.size,
        len(parts),
        max_bytes,
    )
    return [(part, part.opener) for part in parts]
