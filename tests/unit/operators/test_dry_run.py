"""The dry-run operator: the report in XCom, the rejected rows on request, nothing sent."""

from __future__ import annotations

import csv
import time

import pytest

from airflow_provider_metrika.exceptions import MetrikaConfigError, MetrikaValidationError
from airflow_provider_metrika.operators.dry_run import MetrikaValidateUploadOperator
from airflow_provider_metrika.version_compat import AirflowFailException
from tests.integration.conftest import FakeTaskInstance

NOW = int(time.time()) - 3600


def conversions(tmp_path, *bad_rows: str):
    lines = ["ClientId,Target,DateTime", f"101,paid,{NOW}", f"102,paid,{NOW - 60}", *bad_rows, f"103,paid,{NOW - 120}"]
    path = tmp_path / "conv.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(autouse=True)
def no_connection(mocker):
    """A dry run reads no connection and sends nothing: any attempt fails the test."""
    from airflow_provider_metrika.version_compat import BaseHook

    return mocker.patch.object(BaseHook, "get_connection", side_effect=AssertionError("connection read"))


def run(**kwargs):
    """The dry run's report, with the result's own keys beside it (a JobsResult that lists no job)."""
    result = MetrikaValidateUploadOperator(task_id="dry", kind="offline_conversions", **kwargs).execute(
        {"ti": FakeTaskInstance()}
    )
    assert result["vendor"] == "metrika" and result["ids"] == [] and result["jobs"] == []
    assert result["warnings"] == result["report"]["warnings"]
    return {**result["report"], **{key: value for key, value in result.items() if key != "report"}}


def test_a_clean_file_reports_ok(tmp_path):
    report = run(src=str(conversions(tmp_path)))
    assert report["ok"] is True and report["rows"] == 3 and report["valid_rows"] == 3
    assert report["total_problems"] == 0 and report["problems"] == []


def test_problems_are_reported_with_row_and_column_and_the_task_succeeds(tmp_path):
    report = run(src=str(conversions(tmp_path, "104,paid,yesterday", f"105,,{NOW}")))
    assert report["ok"] is False and report["total_problems"] >= 2
    assert any("row 4" in p and "DateTime" in p for p in report["problems"])
    assert any("row 5" in p and "Target" in p for p in report["problems"])


def test_rejected_rows_are_written_in_the_upload_operators_format(tmp_path):
    out = tmp_path / "out" / "rejected.csv"
    report = run(src=str(conversions(tmp_path, "104,paid,yesterday")), rejected_rows_path=str(out))
    with out.open() as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["row", "column", "problem", "ClientId", "Target", "DateTime"]
    assert [(row[0], row[1], row[3:]) for row in rows[1:]] == [("4", "DateTime", ["104", "paid", "yesterday"])]
    assert report["rejected_rows"] == {"path": str(out), "rows": 1}


def test_a_quoted_multiline_cell_keeps_row_numbers_aligned(tmp_path):
    path = tmp_path / "conv.csv"
    path.write_text(f'ClientId,Target,DateTime\n"10\n1",paid,{NOW}\n104,paid,yesterday\n')
    out = tmp_path / "rejected.csv"
    report = run(src=str(path), rejected_rows_path=str(out))
    rejected = list(csv.reader(out.open()))
    assert ["104", "paid", "yesterday"] in [row[3:] for row in rejected], (report, rejected)


def test_no_rejected_file_for_a_clean_file(tmp_path):
    out = tmp_path / "rejected.csv"
    assert "rejected_rows" not in run(src=str(conversions(tmp_path)), rejected_rows_path=str(out))
    assert not out.exists()


def test_fail_on_problems_fails_without_retries(tmp_path):
    with pytest.raises(AirflowFailException, match="dry run: 1 problem"):
        run(src=str(conversions(tmp_path, "104,paid,yesterday")), fail_on_problems=True)


def test_an_unknown_kind_and_a_missing_file_are_named(tmp_path):
    with pytest.raises(MetrikaConfigError, match="nonsense"):
        MetrikaValidateUploadOperator(task_id="d", kind="nonsense", src="x.csv").execute({})
    with pytest.raises((MetrikaConfigError, MetrikaValidationError), match=r"missing\.csv"):
        run(src=str(tmp_path / "missing.csv"))


def test_valid_rows_are_written_for_an_approved_upload_of_what_is_good(tmp_path):
    out = tmp_path / "valid.csv"
    report = run(src=str(conversions(tmp_path, "104,paid,yesterday")), valid_rows_path=str(out))
    rows = list(csv.reader(out.open()))
    assert rows[0] == ["ClientId", "Target", "DateTime"]
    assert [row[0] for row in rows[1:]] == ["101", "102", "103"]
    assert report["valid_rows_path"] == str(out) and report["ok"] is False
    assert run(src=str(out))["ok"] is True  # the written file passes the same check
