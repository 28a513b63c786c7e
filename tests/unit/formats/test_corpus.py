"""The malformed-file corpus: each file breaks one rule; EXPECTED.json says where and how."""

from __future__ import annotations

import json

import pytest

from airflow_provider_metrika.formats import ValidationOptions, get_file_format
from tests.unit.formats.conftest import DATA, NOW

BAD = DATA / "bad"
EXPECTED = json.loads((BAD / "EXPECTED.json").read_text())
GOOD = sorted((DATA / "good").glob("*.csv"))


def test_every_bad_file_has_an_expectation():
    files = {path.name for path in BAD.iterdir() if path.name != "EXPECTED.json"}
    assert files == set(EXPECTED)
    assert len(files) >= 30


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_bad_file_reports_expected_problem(name):
    case = EXPECTED[name]
    options = ValidationOptions(now=NOW, **case.get("options", {}))
    report = get_file_format(case["kind"]).validate(BAD / name, options=options)
    assert not report.ok
    matches = [
        p
        for p in report.problems
        if p.row == case["row"] and p.column == case["column"] and case["fragment"] in p.message
    ]
    got = "; ".join(map(str, report.problems))
    assert matches, f"{name}: expected row {case['row']} column {case['column']} {case['fragment']!r}, got {got}"
    assert str(matches[0]).startswith(name)


@pytest.mark.parametrize("path", GOOD, ids=lambda p: p.name)
def test_good_file_is_valid(path):
    report = get_file_format(path.name.split("__")[0]).validate(path, options=ValidationOptions(now=NOW))
    assert report.ok, report.summary()
    assert report.valid_rows == report.rows > 0
