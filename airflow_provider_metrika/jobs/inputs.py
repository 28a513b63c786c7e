"""Turn what a DAG author hands an upload operator into a re-openable byte stream.

Inputs: a local path, an ``ObjectStoragePath`` or fsspec URL (``s3://``, ``gs://``,
``file://`` ... with an optional ``source_conn_id``), or rows (a list of dicts from
XCom, or a pandas DataFrame) that the provider writes in Metrika's format itself.
Files are streamed, never read whole; every upload attempt reopens the source.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import os
import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import IO, Any

from airflow_provider_metrika.exceptions import InputValidationError, NoRowsError, ProviderConfigError
from airflow_provider_metrika.jobs.csv_limits import MAX_RECORD_BYTES
from airflow_provider_metrika.version_compat import ObjectStoragePath

#: Metrika's limit is "1 GB"; the stricter (decimal) reading keeps a split part safely below it.
MAX_FILE_BYTES = 1_000_000_000
HASH_CHUNK = 1024 * 1024
#: Metadata keys under which object stores publish a checksum of the content.
CHECKSUM_KEYS = ("ETag", "etag", "md5Hash", "md5", "crc32c", "content_md5")


@dataclasses.dataclass(frozen=True)
class PreparedInput:
    """A source the hook can open again for every attempt."""

    name: str
    size: int
    opener: Callable[[], IO[bytes]]
    checksum: str | None = None

    def content_digest(self) -> str:
        """SHA-256 of the content, for the upload fingerprint: other data, other fingerprint.

        Object stores that publish a content checksum (S3 ETag, GCS md5Hash/crc32c) are
        trusted for it, so a remote file is not downloaded an extra time; anything else is
        hashed in full (about 0.6 s per GiB here).
        """
        digest = hashlib.sha256(str(self.size).encode())
        if self.checksum:
            digest.update(b"checksum:" + self.checksum.encode())
            return digest.hexdigest()
        with self.opener() as stream:
            for chunk in iter(lambda: stream.read(HASH_CHUNK), b""):
                digest.update(chunk)
        return digest.hexdigest()

    def require_rows(self) -> None:
        """Raise :class:`NoRowsError` for a file that holds a header and nothing else.

        Reads in chunks (never a whole line: a line may be any length); a header that does not
        end within :data:`MAX_RECORD_BYTES` is left for the validator to report.
        """
        header_done = False
        read = 0
        with self.opener() as stream:
            for chunk in iter(lambda: stream.read(HASH_CHUNK), b""):
                if not header_done:
                    read += len(chunk)
                    cut = chunk.find(b"\n")
                    if cut < 0:
                        if read > MAX_RECORD_BYTES:
                            return
                        continue
                    header_done, chunk = True, chunk[cut + 1 :]
                if chunk.strip():
                    return
        raise NoRowsError(f"{self.name}: a header but no data rows: nothing to upload")

    def first_line(self, limit: int = MAX_RECORD_BYTES) -> bytes:
        """The header line (with its newline; at most ``limit`` bytes), for checks before any request."""
        with self.opener() as stream:
            return stream.readline(limit)

    def first_row(self, delimiter: str = ",") -> list[str]:
        """The first line's fields (a BOM dropped): the header, or the first record of a header-less file."""
        line = self.first_line().decode("utf-8-sig", errors="replace")
        return next(csv.reader(io.StringIO(line), delimiter=delimiter), [])


def remote_checksum(path: Any) -> str | None:
    """The content checksum an object store keeps for ``path``, if it keeps one (never the mtime)."""
    try:
        info = path.fs.info(path.path)
    except Exception:  # no metadata is fine: the content gets hashed instead
        return None
    for key in CHECKSUM_KEYS:
        value = info.get(key) if isinstance(info, dict) else None
        if value:
            return f"{key}={value}"
    return None


def _is_url(value: str) -> bool:
    return "://" in value and not value.startswith("file://")


def storage_path(location: Any, conn_id: str | None = None) -> ObjectStoragePath | None:
    """``location`` as an ``ObjectStoragePath`` when it is one or an fsspec URL; None for a local path."""
    if isinstance(location, ObjectStoragePath):
        return location
    if isinstance(location, str) and _is_url(location):
        return ObjectStoragePath(location, conn_id=conn_id)
    return None


def local_path(location: Any) -> Path:
    """A local path given as text, ``file://`` URL or path object."""
    return Path(str(location).removeprefix("file://")).expanduser()


def prepare_file(src: Any, *, source_conn_id: str | None = None, param: str = "src") -> PreparedInput:
    """Check that ``src`` exists and is a non-empty regular file, without reading it."""
    if src is None or (isinstance(src, str) and not src.strip()):
        raise ProviderConfigError(f"{param}: give a file path/URL or rows")
    remote = storage_path(src, source_conn_id)
    if remote is not None:
        path: Any = remote
        name = str(path)
        if not path.exists():
            raise ProviderConfigError(f"{param}: file not found: {name}")
        size = int(path.stat().st_size)
        checksum = remote_checksum(path)

        def opener() -> IO[bytes]:
            return path.open("rb")

    else:
        checksum = None
        local = local_path(src)
        name = str(local)
        if not local.exists():
            raise ProviderConfigError(f"{param}: file not found: {name}")
        if not local.is_file():
            raise ProviderConfigError(f"{param}: not a regular file: {name}")
        size = local.stat().st_size

        def opener() -> IO[bytes]:
            return local.open("rb")

    if size == 0:
        raise InputValidationError(f"{name}: the file is empty; a header row and data rows are required")
    return PreparedInput(name=name, size=size, opener=opener, checksum=checksum)


def rows_to_records(rows: Any, param: str = "rows") -> Iterable[Mapping[str, Any]]:
    """Rows from XCom (list of dicts) or a pandas DataFrame, as an iterable of mappings.

    ``None`` (an upstream task that returned nothing) is an input without rows, like ``[]``.
    """
    if rows is None:
        raise NoRowsError(f"{param}: None (the upstream task returned nothing): no rows to upload")
    if hasattr(rows, "to_dict") and hasattr(rows, "columns"):
        return rows.to_dict("records")
    if isinstance(rows, Mapping | str | bytes):
        raise ProviderConfigError(f"{param}: expected a list of dicts or a DataFrame, got {type(rows).__name__}")
    records = list(rows)
    for index, row in enumerate(records):
        if not isinstance(row, Mapping):
            raise ProviderConfigError(f"{param}[{index}]: expected a dict, got {type(row).__name__}")
    if not records:
        raise NoRowsError(f"{param}: no rows to upload")
    return records


def spool_rows(write: Callable[[IO[bytes]], int], directory: str, name: str) -> PreparedInput:
    """Write rows to a temporary CSV with ``write`` and return it as an input."""
    fd, path = tempfile.mkstemp(prefix="metrika-", suffix=f"-{name}.csv", dir=directory)
    with os.fdopen(fd, "wb") as out:
        count = write(out)
    if count == 0:
        raise NoRowsError(f"{name}: no rows to upload")
    return prepare_file(path)
