"""Reading request input: the streamed multipart ``file`` part and query parameters."""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import dataclasses
import hashlib
from collections.abc import Mapping
from typing import BinaryIO

from aiohttp import web

from airflow_provider_metrika.emulator.csvstream import CsvStream
from airflow_provider_metrika.emulator.errors import invalid_parameter, missing_parameter
from airflow_provider_metrika.emulator.linkage import remove_quietly

CHUNK_BYTES = 1 << 20
FILE_PART = "file"
_MAX_PENDING_CHUNKS = 8


@dataclasses.dataclass(frozen=True)
class ReceivedFile:
    size: int
    sha256: str


class _ChunkSink:
    """Hashes chunks and appends them to the spool on a worker thread, in order.

    Both release the GIL, so they overlap with the checks running on the event loop.
    At most a few chunks wait in the queue, keeping memory bounded.
    """

    def __init__(self, spool_path: str | None):
        self._sha256 = hashlib.sha256()
        self._spool: BinaryIO | None = open(spool_path, "wb") if spool_path else None  # noqa: SIM115
        self._worker = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="emulator-spool")
        self._pending: collections.deque[asyncio.Future[None]] = collections.deque()

    def _write(self, chunk: bytes) -> None:
        self._sha256.update(chunk)
        if self._spool is not None:
            self._spool.write(chunk)

    async def put(self, chunk: bytes) -> None:
        self._pending.append(asyncio.wrap_future(self._worker.submit(self._write, chunk)))
        if len(self._pending) > _MAX_PENDING_CHUNKS:
            await self._pending.popleft()

    async def close(self) -> str:
        """Wait for the queued chunks; returns the sha256 hex digest."""
        try:
            while self._pending:
                await self._pending.popleft()
        finally:
            self._worker.shutdown(wait=True)
            if self._spool is not None:
                self._spool.close()
        return self._sha256.hexdigest()


async def receive_file(request: web.Request, checker: CsvStream, spool_path: str | None = None) -> ReceivedFile:
    """Stream the ``file`` part through ``checker`` (and into ``spool_path`` if given).

    Nothing is buffered beyond a few chunks and the checker's partial line; on any
    error the spooled copy is removed.
    """
    if not request.content_type.startswith("multipart/"):
        raise missing_parameter(f"expected a multipart/form-data body with a part named {FILE_PART!r}")
    sink = _ChunkSink(spool_path)
    try:
        reader = await request.multipart()
        found = False
        while (part := await reader.next()) is not None:
            if found or getattr(part, "name", None) != FILE_PART:
                await part.release()
                continue
            found = True
            while chunk := await part.read_chunk(CHUNK_BYTES):
                await sink.put(chunk)
                checker.feed(chunk)
        if not found:
            raise missing_parameter(f"multipart body has no part named {FILE_PART!r}")
        checker.finish()
        return ReceivedFile(checker.size, await sink.close())
    except BaseException:
        await asyncio.shield(sink.close())
        if spool_path:
            remove_quietly(spool_path)
        raise


def int_param(query: Mapping[str, str], name: str, default: int, minimum: int = 0, maximum: int | None = None) -> int:
    """An integer query parameter within bounds; 400 ``invalid_parameter`` otherwise."""
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise invalid_parameter(f"{name} must be an integer, not {raw!r}") from None
    if value < minimum or (maximum is not None and value > maximum):
        bounds = f"between {minimum} and {maximum}" if maximum is not None else f">= {minimum}"
        raise invalid_parameter(f"{name} must be {bounds}, not {value}")
    return value


def path_int(request: web.Request, name: str) -> int:
    """A numeric path segment (uploading id); 400 when it is not a positive integer."""
    raw = request.match_info[name]
    if not raw.isascii() or not raw.isdigit() or int(raw) < 1:
        raise invalid_parameter(f"{name} must be a positive integer, not {raw!r}")
    return int(raw)
