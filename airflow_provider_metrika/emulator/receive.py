"""Reading request input: the streamed multipart ``file`` part, whole (JSON) bodies, query parameters.

Whatever a client sends, it gets Metrika's error body with a 4xx status, never a 500: a
malformed multipart body (no boundary or another one than declared, a body that ends before
the closing boundary, a ``file`` part without a filename or sent twice) is 400
``invalid_uploading``; a number outside what Metrika's int32/int64 fields hold is 400
``invalid_parameter``. Each read of a body waits at most ``body_timeout_seconds`` (emulator
config) for the next bytes, so a client that stalls gets 408 and frees its token's
parallel-request slot instead of holding it forever.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import dataclasses
import hashlib
import json
import re
from collections.abc import Awaitable, Mapping
from typing import Any, BinaryIO, TypeVar

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestPayloadError

from airflow_provider_metrika.emulator.csvstream import CsvStream
from airflow_provider_metrika.emulator.errors import (
    ApiError,
    body_timeout,
    body_too_large,
    invalid_parameter,
    invalid_uploading,
    missing_parameter,
    shown,
)
from airflow_provider_metrika.emulator.harness import HARNESS
from airflow_provider_metrika.emulator.linkage import remove_quietly

CHUNK_BYTES = 1 << 20
FILE_PART = "file"
INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1
_MAX_PENDING_CHUNKS = 8
_INTEGER = re.compile(r"-?[0-9]+")
# What aiohttp raises on a body it cannot parse or decode (bad boundary, early end, bad encoding).
_MALFORMED = (ValueError, RuntimeError, HttpProcessingError, RequestPayloadError)
_TRUNCATED = ("Reading after EOF", "Invalid boundary b''")  # aiohttp's words for a body cut short
_T = TypeVar("_T")


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


async def _read(request: web.Request, step: Awaitable[_T]) -> _T:
    """One read of the body: 408 once no byte arrived for the configured time, 400 when malformed.

    A read may span several arrivals (a part's header lines), so the timeout is on silence:
    each period in which the body grew restarts it.
    """
    seconds = request.app[HARNESS].body_timeout_seconds()
    reading = asyncio.ensure_future(step)
    try:
        received = request.content.total_bytes
        while not (await asyncio.wait({reading}, timeout=seconds))[0]:
            if request.content.total_bytes == received:
                raise body_timeout(seconds)
            received = request.content.total_bytes
        return reading.result()
    except _MALFORMED as error:
        lines = [line.strip() for line in str(error).splitlines() if line.strip()]
        detail = lines[-1][:200] if lines else type(error).__name__
        if detail.startswith(_TRUNCATED):
            detail = "the body ends before the closing boundary"
        raise invalid_uploading(f"malformed request body: {detail}") from None
    finally:
        reading.cancel()


async def receive_file(request: web.Request, checker: CsvStream, spool_path: str | None = None) -> ReceivedFile:
    """Stream the one ``file`` part through ``checker`` (and into ``spool_path`` if given).

    Nothing is buffered beyond a few chunks and the checker's partial line; on any
    error (a bad body, a stall, a client that disconnects) the spooled copy is removed.
    """
    if not request.content_type.startswith("multipart/"):
        raise missing_parameter(f"expected a multipart/form-data body with a part named {FILE_PART!r}")
    sink = _ChunkSink(spool_path)
    try:
        reader = await _read(request, request.multipart())
        found = False
        while (part := await _read(request, reader.next())) is not None:
            if not isinstance(part, BodyPartReader):  # a nested multipart/mixed: not a file field
                await _read(request, part.release())
                continue
            if part.name != FILE_PART:
                while await _read(request, part.read_chunk(CHUNK_BYTES)):
                    pass
                continue
            if found:
                raise invalid_uploading(f"the body has more than one part named {FILE_PART!r}")
            if not part.filename:
                raise missing_parameter(f"part {FILE_PART!r} is not a file: its Content-Disposition has no filename")
            found = True
            while chunk := await _read(request, part.read_chunk(CHUNK_BYTES)):
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


async def read_body(request: web.Request, limit: int) -> bytes:
    """The whole body (a JSON document), read within the idle timeout; 413 beyond ``limit`` bytes."""
    if request.content_length is not None and request.content_length > limit:
        raise body_too_large("the request body", limit)
    chunks: list[bytes] = []
    size = 0
    while chunk := await _read(request, request.content.readany()):
        size += len(chunk)
        if size > limit:
            raise body_too_large("the request body", limit)
        chunks.append(chunk)
    return b"".join(chunks)


def parse_json(raw: bytes) -> Any:
    """The JSON document in ``raw``; 400 ``invalid_json`` when it is not UTF-8 JSON or nests too deep to parse."""
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ApiError(400, "invalid_json", f"request body is not valid JSON: {error}") from None
    except RecursionError:
        raise ApiError(400, "invalid_json", "request body is JSON nested too deeply") from None


def int_param(query: Mapping[str, str], name: str, default: int, minimum: int = 0, maximum: int = INT32_MAX) -> int:
    """An integer query parameter within bounds (Metrika's are int32); 400 ``invalid_parameter`` otherwise."""
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    if not _INTEGER.fullmatch(raw):
        raise invalid_parameter(f"{name} must be an integer, not {shown(raw)}")
    value = int(raw) if len(raw) <= 40 else None  # longer is out of bounds (and slow to convert)
    if value is None or not minimum <= value <= maximum:
        raise invalid_parameter(f"{name} must be between {minimum} and {maximum}, not {shown(raw)}")
    return value


def path_int(request: web.Request, name: str) -> int:
    """A numeric path segment (uploading id, int64); 400 when it is not a positive integer."""
    raw = request.match_info[name]
    if not raw.isascii() or not raw.isdigit() or len(raw) > 19 or not 1 <= int(raw) <= INT64_MAX:
        raise invalid_parameter(f"{name} must be a positive 64-bit integer, not {shown(raw)}")
    return int(raw)
