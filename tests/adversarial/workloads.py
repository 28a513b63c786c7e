"""What the hostile-input tests run in a measured child process (importable, picklable by name)."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

from airflow_provider_metrika.exceptions import MetrikaError
from airflow_provider_metrika.formats import ValidationOptions, get_file_format

HEADER = "ClientId,Target,DateTime\n"
BLOCK = 1 << 20


def write_stream(path: str | Path, head: str, filler: str, megabytes: int, tail: str = "") -> str:
    """``head`` then ``megabytes`` MiB of ``filler`` repeated, then ``tail``: a big input written in 1 MiB steps."""
    block = (filler * (BLOCK // len(filler) + 1))[:BLOCK]
    with open(path, "w", encoding="utf-8", newline="") as out:
        out.write(head)
        for _ in range(megabytes):
            out.write(block)
        out.write(tail)
    return str(path)


def validate_file(path: str, kind: str = "offline_conversions") -> str:
    """The validator over a path: its summary."""
    return get_file_format(kind).validate(path, options=ValidationOptions()).summary()


def operator_input_path(
    path: str, kind: str = "offline_conversions", mode: str = "inflight", max_bytes: int = 0
) -> str:
    """What an upload operator does with a file before and while sending it, without the network:
    the empty-input check, the content digest, the validation plan (split when ``max_bytes``) and
    reading every part's bytes through the opener the hook would use."""
    from airflow_provider_metrika.operators.inputs import MAX_FILE_BYTES, prepare_file
    from airflow_provider_metrika.operators.validation import plan_parts

    log = logging.getLogger("adversarial")
    try:
        source = prepare_file(path)
        source.require_rows()
        source.content_digest()
        with tempfile.TemporaryDirectory() as directory:
            parts = plan_parts(
                get_file_format(kind).name,
                source,
                ValidationOptions(),
                mode=mode,
                max_bytes=max_bytes or MAX_FILE_BYTES,
                directory=directory,
                log=log,
            )
            sent = 0
            for _part, opener in parts:
                with opener() as stream:
                    for chunk in iter(lambda: stream.read(1 << 16), b""):
                        sent += len(chunk)
        return f"sent {sent} bytes"
    except MetrikaError as error:
        return f"{type(error).__name__}: {error}"


def operator_input_paths(runs: list[tuple[str, str, int]]) -> list[str]:
    """:func:`operator_input_path` for each ``(path, mode, max_bytes)``, in one process."""
    return [operator_input_path(path, "offline_conversions", mode, max_bytes) for path, mode, max_bytes in runs]
