"""Hostile files never make memory grow with them, nor time grow faster than the file.

Each case is a file a CRM export (or an attacker) could produce: a line without an end, a quote
that is never closed, a header that never ends, CR-only line ends, a run of NUL bytes. Every path
that reads a file is measured in a fresh process (see ``resources.py``): the validator, the
command line, and what an upload operator does before and while sending (in-flight, preflight,
split). Each must answer with an error naming the file and row, and grow by less than 16 MiB.
"""

from __future__ import annotations

import os
import re

import pytest

from tests.adversarial.resources import measure_callable, measure_module
from tests.adversarial.workloads import HEADER, hostile_json_files, operator_inputs, validate_file, write_stream

MAX_GROWTH_MIB = 16
SIZE_MIB = 50


def _sparse_nuls(path: str) -> str:
    with open(path, "wb") as out:
        out.write(HEADER.encode())
        out.truncate(len(HEADER) + SIZE_MIB * (1 << 20))  # a hole: NUL bytes, written in no time
    return path


#: name -> (how to make it, the row and column the error must name, a fragment of the reason)
CASES = {
    "line_without_end": (lambda p: write_stream(p, HEADER + "1,", "a", SIZE_MIB), 2, "Target", "line end"),
    "quote_never_closed": (lambda p: write_stream(p, HEADER + '1,"', "x,y\n", SIZE_MIB), 2, "Target", "quote"),
    "header_without_end": (lambda p: write_stream(p, "", "ClientId", SIZE_MIB), 1, None, "header"),
    "cr_only_line_ends": (
        lambda p: write_stream(p, HEADER.replace("\n", "\r"), "1,t,1700000000\r", SIZE_MIB),
        1,
        None,
        "bare \\r",
    ),
    "nul_bytes": (_sparse_nuls, 2, "ClientId", "NUL"),
}


@pytest.fixture(scope="module")
def hostile_files(tmp_path_factory):
    directory = tmp_path_factory.mktemp("hostile")
    files = {name: make(str(directory / f"{name}.csv")) for name, (make, *_rest) in CASES.items()}
    yield files
    for path in files.values():
        os.unlink(path)


def _assert_names_the_place(text: str, name: str) -> None:
    _make, row, column, reason = CASES[name]
    assert f"{name}.csv row {row}" in text, text
    if column is not None:
        assert f"row {row}, column {column}:" in text, text
    assert reason in text, text


@pytest.mark.parametrize("name", sorted(CASES))
def test_validator_memory_and_time_are_bounded(hostile_files, name):
    usage = measure_callable(validate_file, hostile_files[name], preload=["airflow_provider_metrika.formats"])
    assert usage.error is None, usage.error
    usage.assert_bounded(MAX_GROWTH_MIB, max_seconds=20)
    _assert_names_the_place(usage.result, name)
    assert re.search(r": 1 rows, 0 valid|: 0 rows, 0 valid", usage.result), usage.result


@pytest.mark.parametrize("name", ["line_without_end", "quote_never_closed"])
def test_command_line_memory_and_time_are_bounded(hostile_files, name):
    argv = ["validate", hostile_files[name], "--kind", "offline_conversions"]
    usage = measure_module("airflow_provider_metrika", argv, preload=["airflow_provider_metrika.__main__"])
    assert usage.result == 1, (usage.result, usage.stderr[-2000:])
    usage.assert_bounded(MAX_GROWTH_MIB, max_seconds=20)
    _assert_names_the_place(usage.stdout, name)


MODES = (("inflight", 0), ("preflight", 0), ("preflight", 10 << 20), ("none", 10 << 20))


@pytest.mark.parametrize("mode, max_bytes", MODES)
def test_operator_paths_are_bounded(hostile_files, tmp_path, mode, max_bytes):
    """In-flight, preflight and split (with and without validation) over every hostile CSV, and the rows a
    CDP operator reads from hostile JSON files: one process per read path, so that each path's peak is its
    own (not what the allocator kept from the paths measured before it)."""
    runs = [(hostile_files[name], mode, max_bytes) for name in sorted(CASES)]
    json_files = hostile_json_files(tmp_path)
    json_paths = [json_files[name] for name in ("string_100mb", "string_15mb", "deep")]
    small_csv = tmp_path / "small.csv"
    small_csv.write_text(HEADER + "1,t,1700000000\n")
    small_json = tmp_path / "small.json"
    small_json.write_text('{"orders": [{"id": "1"}]}')
    usage = measure_callable(
        operator_inputs,
        runs,
        json_paths,
        preload=["airflow_provider_metrika.operators.cdp"],
        warmup=([(str(small_csv), mode, max_bytes or 100)], [str(small_json)]),
        timeout=240,
    )
    assert usage.error is None, usage.error
    usage.assert_bounded(MAX_GROWTH_MIB, max_seconds=120)
    csv_answers, (too_big, long_string, deep) = usage.result
    for (path, mode_, max_bytes_), answer in zip(runs, csv_answers, strict=True):
        name = os.path.basename(path).removesuffix(".csv")
        assert answer.startswith("InputValidationError: "), (name, mode_, max_bytes_, answer)
        assert f"{name}.csv row {CASES[name][1]}" in answer, (name, mode_, max_bytes_, answer)
    assert "string_100mb.json: 104,857,6" in too_big and "a JSON source may be at most 16,777,216" in too_big
    assert "string_15mb.json row 1, column id: an element longer than 262,144 characters" in long_string
    assert "deep.json row 1: nested more than 16 levels deep" in deep
