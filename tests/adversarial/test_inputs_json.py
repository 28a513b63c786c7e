"""Hostile CDP JSON sources: bounded memory and time, and an error naming file, row and field.

A 100 MB string, a 1 MB-deep nesting, 10 MB of valid orders: the validator (and so
``validate --format json``) holds one element at a time. What an upload operator reads from such
sources is measured with the CSV cases in ``test_inputs_bounded.py`` (one Airflow import for both).
"""

from __future__ import annotations

import json
import os

import pytest

from tests.adversarial.resources import measure_callable
from tests.adversarial.workloads import hostile_json_files, validate_json_file, write_stream

MAX_GROWTH_MIB = 16
COMMENT = "c" * 1000  # fewer, bigger rows: a quicker test
ORDER = {
    "id": "o1",
    "client_uniq_id": "c1",
    "client_type": "CONTACT",
    "create_date_time": "2024-01-01 10:00:00",
    "order_status": "PAID",
    "revenue": 10,
}
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
