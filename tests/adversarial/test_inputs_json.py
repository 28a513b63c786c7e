"""Hostile CDP JSON sources: bounded memory and time, and an error naming file, row and field.

A 100 MB string, a 1 MB-deep nesting, 10 MB of valid orders: the validator (and so
``validate --format json``) holds one element at a time. What an upload operator reads from such
sources is measured with the CSV cases in ``test_inputs_bounded.py`` (one Airflow import for both).
"""

from __future__ import annotations

import io
import json
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_metrika.formats import json_source
from tests.adversarial.resources import measure_callable
from tests.adversarial.workloads import hostile_json_files, validate_json_file, write_stream
from tests.rows import cdp_order

MAX_GROWTH_MIB = 16
COMMENT = "c" * 1000  # fewer, bigger rows: a quicker test
ORDER = cdp_order(revenue=10)
ROW = json.dumps({**ORDER, "user_comment": COMMENT})
MANY = 10 * ((1 << 20) // len(ROW + ",")) + 1


@pytest.fixture(scope="module")
def json_files(tmp_path_factory):
    directory = tmp_path_factory.mktemp("hostile-json")
    files = hostile_json_files(directory)
    files["many_orders"] = write_stream(directory / "many_orders.json", '{"orders": [', ROW + ",", 10, ROW + "]}")
    yield files
    for path in files.values():
        os.unlink(path)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("string_100mb", "string_100mb.json row 1, column id: an element longer than 262,144 characters"),
        ("deep", "deep.json row 1: nested more than 16 levels deep"),
        ("many_orders", f"many_orders.json: {MANY} rows, {MANY} valid, 0 dropped\nOK: no problems"),
    ],
)
def test_json_validation_is_bounded(json_files, name, expected):
    usage = measure_callable(validate_json_file, json_files[name], preload=["airflow_provider_metrika.formats"])
    assert usage.error is None, usage.error
    usage.assert_bounded(MAX_GROWTH_MIB, max_seconds=60)
    assert expected in usage.result, usage.result


JSON_PIECES = st.sampled_from(
    [
        '{"orders": [',
        "{",
        "}",
        "[",
        "]",
        '"',
        '\\"',
        "\\",
        ",",
        ":",
        " ",
        "\n",
        '"id"',
        '"x"',
        "1",
        "-2.5e3",
        "null",
        "tru",
    ]
)


@settings(max_examples=300, deadline=None)
@given(
    parts=st.lists(st.one_of(JSON_PIECES, st.binary(max_size=4)), max_size=40),
    read_chars=st.sampled_from([1, 3, 64]),
)
def test_any_bytes_give_rows_or_one_clear_error(parts, read_chars):
    """Garbage JSON (bad encodings, NULs, unbalanced brackets, lone quotes) yields rows or a JsonSourceError that
    names the file: never another exception."""
    data = b"".join(part if isinstance(part, bytes) else part.encode() for part in parts)
    original = json_source.READ_CHARS
    json_source.READ_CHARS = read_chars  # pieces of any size read the same
    try:
        list(json_source.iter_json_rows(io.BytesIO(data), "g.json", "orders"))
    except json_source.JsonSourceError as error:
        assert str(error).startswith("g.json")
    finally:
        json_source.READ_CHARS = original


@settings(max_examples=100, deadline=None)
@given(rows=st.lists(st.dictionaries(st.text(max_size=5), st.one_of(st.integers(), st.text(max_size=8))), max_size=5))
def test_valid_bodies_read_back_exactly(rows):
    body = json.dumps({"orders": rows}, indent=1).encode()
    assert list(json_source.iter_json_rows(io.BytesIO(body), "g.json", "orders")) == rows
    assert list(json_source.iter_json_rows(io.BytesIO(json.dumps(rows).encode()), "g.json", "orders")) == rows
