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
    """``head``, then ``filler`` repeated to about ``megabytes`` MiB (whole repeats only), then ``tail``:
    a big input written in 1 MiB steps."""
    block = filler * max(1, BLOCK // len(filler))
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
    from airflow_provider_metrika.formats.validation import plan_parts
    from airflow_provider_metrika.jobs.inputs import MAX_FILE_BYTES, prepare_file

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


def operator_inputs(csv_runs: list[tuple[str, str, int]], json_paths: list[str]) -> list[list[str]]:
    """:func:`operator_input_path` for each ``(path, mode, max_bytes)`` and :func:`json_operator_rows` for
    the JSON paths, in one process (importing Airflow once is most of such a test's time)."""
    csv_answers = [
        operator_input_path(path, "offline_conversions", mode, max_bytes) for path, mode, max_bytes in csv_runs
    ]
    return [csv_answers, json_operator_rows(json_paths)]


def validate_json_file(path: str, kind: str = "orders") -> str:
    """The JSON validator (what ``validate --format json`` runs) over a path: its summary."""
    return get_file_format(kind).validate_json(path, options=ValidationOptions()).summary()


def json_operator_rows(paths: list[str]) -> list[str]:
    """What a CDP orders operator reads from each ``.json`` source before it builds the body."""
    from airflow_provider_metrika.operators.cdp import MetrikaUploadOrdersOperator

    answers = []
    for path in paths:
        operator = MetrikaUploadOrdersOperator(task_id="orders", src=path, merge_mode="SAVE")
        try:
            name, rows = operator.json_rows()
            answers.append(f"{len(rows)} rows from {name}")
        except MetrikaError as error:
            answers.append(f"{type(error).__name__}: {error}")
    return answers


def hostile_json_files(directory: Path) -> dict[str, str]:
    """A 100 MB string (over an operator's JSON size cap), a 15 MB one (under it), a 1 MB-deep nesting."""
    return {
        "string_100mb": write_stream(directory / "string_100mb.json", '{"orders": [{"id": "', "a", 100, '"}]}'),
        "string_15mb": write_stream(directory / "string_15mb.json", '{"orders": [{"id": "', "a", 15, '"}]}'),
        "deep": write_stream(directory / "deep.json", '{"orders": [', "[", 1, ""),
    }
