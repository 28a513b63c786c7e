"""Validation of an upload's bytes, before it is sent or while it streams.

``preflight`` reads the file once before any request (nothing is sent for a bad file);
``inflight`` checks the bytes as they are sent and aborts the request before its last
byte if a row is bad, so Metrika never receives a complete upload; ``none`` skips it.
The header is checked before any request in every mode but ``none``.
"""

from __future__ import annotations

import contextlib
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
from airflow_provider_metrika.jobs.splitting import split_csv

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
    """The parts to upload, each with the opener the hook should use; all validation done up front.

    A file over ``max_bytes`` is split, and the splitting pass also validates (whatever
    the mode but ``none``), so no part is sent unless every row is good.
    """
    if mode != "none" and options.stale_rows == "drop":
        source = drop_stale_rows(fmt_name, source, options, directory, log)
        mode = "validated"
    if source.size > max_bytes:
        checker = None
        if mode in ("preflight", "inflight"):
            checker = get_file_format(fmt_name).stream_checker(file_name=source.name, options=options)
        parts = split_csv(source, max_bytes, directory, on_bytes=checker.feed if checker else None)
        if checker is not None:
            report = checker.finish()
            report.raise_for_problems()
        log.info(
            "%s is %d bytes: split into %d uploads of at most %d bytes", source.name, source.size, len(parts), max_bytes
        )
        return [(part, part.opener) for part in parts]
    if mode == "preflight":
        report = preflight(fmt_name, source, options, log)
        log.info("Validated %s: %d rows", source.name, report.rows)
    elif mode == "inflight":
        check_header(fmt_name, source, options)
        return [(source, inflight_opener(fmt_name, source, options))]
    return [(source, source.opener)]
