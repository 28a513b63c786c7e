from __future__ import annotations

import json
import subprocess
import sys

import pytest

from airflow_provider_metrika.__main__ import main
from tests.rows import cdp_order
from tests.unit.formats.conftest import DATA

GOOD = DATA / "good"
BAD = DATA / "bad"


def test_valid_file_exits_zero(capsys):
    assert main(["validate", str(GOOD / "calls__ok.csv"), "--kind", "calls"]) == 0
    out = capsys.readouterr().out
    assert "calls__ok.csv: 1 rows, 1 valid" in out and "OK: no problems" in out


def test_invalid_file_exits_one_and_lists_problems(capsys):
    path = BAD / "offline_conversions__wrong_field_count.csv"
    assert main(["validate", str(path), "--kind", "offline_conversions", "--max-problems", "1"]) == 1
    out = capsys.readouterr().out
    assert "offline_conversions__wrong_field_count.csv row 3: has 6 fields" in out
    assert "1 problem(s) in total" in out


def test_cdp_options_are_passed(capsys):
    args = ["validate", str(BAD / "contacts__semicolon_bad_md5.csv"), "--kind", "contacts", "--delimiter", "semicolon"]
    assert main(args) == 1
    assert "column emails_md5" in capsys.readouterr().out
    mapping = json.dumps({"uniq_id": "ID", "emails": "Email"})
    path = str(BAD / "contacts__columns_mapping_names_missing_column.csv")
    assert main(["validate", path, "--kind", "contacts", "--columns-mapping", mapping]) == 1


def test_stale_rows_option(tmp_path, capsys):
    path = tmp_path / "old.csv"
    path.write_text("ClientId,Target,DateTime\n1,t,1000\n")
    assert main(["validate", str(path), "--kind", "offline_conversions"]) == 0
    assert main(["validate", str(path), "--kind", "offline_conversions", "--stale-rows", "fail"]) == 1


@pytest.mark.parametrize(
    "argv",
    [
        ["validate", "x.csv", "--kind", "nope"],
        ["validate", "/no/such/file.csv", "--kind", "calls"],
        ["validate", str(GOOD / "calls__ok.csv"), "--kind", "calls", "--max-problems", "0"],
        ["validate", str(GOOD / "contacts__ok.csv"), "--kind", "contacts", "--columns-mapping", "{bad"],
    ],
)
def test_usage_errors_exit_two(argv, capsys):
    assert main(argv) == 2
    assert capsys.readouterr().err.startswith("error: ")


@pytest.mark.parametrize(
    "argv", [[], ["validate"], ["validate", "x.csv"], ["validate", "x", "--kind", "calls", "--stale-rows", "x"]]
)
def test_argparse_errors_exit_two(argv):
    with pytest.raises(SystemExit) as caught:
        main(argv)
    assert caught.value.code == 2


def test_module_entry_point():
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "airflow_provider_metrika",
            "validate",
            str(BAD / "calls__bad_phone.csv"),
            "--kind",
            "calls",
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=DATA.parents[1],
    )
    assert result.returncode == 1
    assert "calls__bad_phone.csv row 2, column PhoneNumber" in result.stdout


ORDER = cdp_order()


@pytest.mark.parametrize(
    ("name", "extra"),
    [("orders.json", []), ("orders.txt", []), ("orders.csv", ["--format", "json"])],
    ids=["by-extension", "by-content", "by-flag"],
)
def test_json_files_are_read_as_json(tmp_path, capsys, name, extra):
    path = tmp_path / name
    path.write_text(json.dumps({"orders": [ORDER, {**ORDER, "revenue": "abc"}, 42]}))
    assert main(["validate", str(path), "--kind", "orders", *extra]) == 1
    out = capsys.readouterr().out
    assert f"{name}: 3 rows, 1 valid" in out
    assert f"{name} row 2, column revenue: 'abc' is not a decimal number" in out
    assert f"{name} row 3: must be an object, not a number" in out


def test_a_valid_json_file_exits_zero_and_format_csv_forces_csv(tmp_path, capsys):
    path = tmp_path / "orders.json"
    path.write_text(json.dumps({"orders": [ORDER]}))
    assert main(["validate", str(path), "--kind", "orders"]) == 0
    assert "orders.json: 1 rows, 1 valid" in capsys.readouterr().out
    assert main(["validate", str(path), "--kind", "orders", "--format", "csv"]) == 1  # read as CSV: a bad header


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ('{"orders": 42}', 'orders.json: "orders" must be a list of objects, not a number'),
        ("[" * 100_000, "orders.json row 1: nested more than 16 levels deep"),
        ("{}", 'orders.json: no "orders" key'),
    ],
)
def test_a_json_file_of_the_wrong_shape_is_one_clear_problem(tmp_path, capsys, content, fragment):
    path = tmp_path / "orders.json"
    path.write_text(content)
    assert main(["validate", str(path), "--kind", "orders"]) == 1
    out = capsys.readouterr().out
    assert fragment in out and "1 problem(s) in total" in out


def test_json_for_a_csv_only_kind_is_a_usage_error(tmp_path, capsys):
    path = tmp_path / "calls.json"
    path.write_text("[]")
    assert main(["validate", str(path), "--kind", "calls"]) == 2
    assert "calls files are CSV" in capsys.readouterr().err
