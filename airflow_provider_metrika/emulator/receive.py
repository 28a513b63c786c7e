"""Reading request input: the streamed multipart ``file`` part and query parameters."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping

from aiohttp import web

from airflow_provider_metrika.emulator.csvstream import CsvStream
from airflow_provider_metrika.emulator.errors import invalid_parameter, missing_parameter
from airflow_provider_metrika.emulator.linkage import remove_quietly

CHUNK_BYTES = 1 << 20
FILE_PART = "file"


async def receive_file(request: web.Request, checker: CsvStream, spool_path: str | None = None) -> None:
    """Stream the ``file`` part through ``checker`` (and into ``spool_path`` if given).

    Nothing is buffered beyond one chunk and the checker's partial line; on any error
    the spooled copy is removed.
    """
    if not request.content_type.startswith("multipart/"):
        raise missing_parameter(f"expected a multipart/form-data body with a part named {FILE_PART!r}")
    spool = open(spool_path, "wb") if spool_path else None  # noqa: SIM115 - closed in finally
    try:
        reader = await request.multipart()
        found = False
        while (part := await reader.next()) is not None:
            if found or getattr(part, "name", None) != FILE_PART:
                await part.release()
                continue
            found = True
            while chunk := await part.read_chunk(CHUNK_BYTES):
                checker.feed(chunk)
                if spool is not None:
                    spool.write(chunk)
        if not found:
            raise missing_parameter(f"multipart body has no part named {FILE_PART!r}")
        checker.finish()
    except BaseException:
        if spool is not None:
            spool.close()
            remove_quietly(spool_path)
        raise
    finally:
        if spool is not None:
            with contextlib.suppress(OSError):
                spool.close()


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
