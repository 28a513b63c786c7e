from __future__ import annotations

import json
import subprocess
import sys

import pytest

from airflow_provider_metrika.__main__ import main
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
