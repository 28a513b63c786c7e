"""Rejected-rows artifact branches: Metrika's CRM messages (JSON rows, unreadable sources), targets, failures."""

from __future__ import annotations

import csv
import io
import logging

import pytest

from airflow_provider_metrika.exceptions import ApiClientError, MetrikaValidationError
from airflow_provider_metrika.jobs import sending as sending_module
from airflow_provider_metrika.jobs.inputs import PreparedInput
from airflow_provider_metrika.jobs.rejects import (
    open_target,
    record_cells,
    server_rejections,
    write_server_rejections,
)
from airflow_provider_metrika.operators.cdp import MetrikaUploadOrdersOperator
from airflow_provider_metrika.operators.upload import MetrikaUploadOfflineConversionsOperator
from airflow_provider_metrika.uploads import Uploading
from airflow_provider_metrika.version_compat import AirflowFailException
from tests.integration.conftest import FakeTaskInstance
from tests.rows import cdp_order

LOG = logging.getLogger("test")
ORDER = cdp_order()


def test_server_messages_are_split_by_the_row_they_name():
    general, by_row = server_rejections(["row 3: bad", "no rows here", "row 3: worse", "arrow 9 is no row", 7])
    assert general == ["no rows here", "arrow 9 is no row", "7"] and by_row == {3: ["row 3: bad", "row 3: worse"]}


def test_json_rows_rejected_by_metrika_are_listed_with_the_cells_sent(hook, tmp_path):
    failed = {"uploading_id": "u1", "api_validation_status": "FAILED", "api_validation_errors": ["row 1: x", "bad"]}
    hook.upload_json.return_value = Uploading.from_api("orders", 5, failed)
    target = tmp_path / "out" / "rejected.csv"
    context = {"ti": FakeTaskInstance()}
    op = MetrikaUploadOrdersOperator(task_id="o", rows=[ORDER], merge_mode="SAVE", rejected_rows_path=str(target))
    with pytest.raises(AirflowFailException, match="row 1: x"):
        op.execute(context)
    assert list(csv.reader(io.StringIO(target.read_text()))) == [
        ["row", "column", "problem", "id", "client_uniq_id", "client_type", "create_date_time", "order_status"],
        ["", "", "bad"],
        ["2", "", "row 1: x", "o1", "c1", "CONTACT", "2024-01-01 10:00:00", "PAID"],
    ]
    assert context["ti"].xcom["rejected_rows"] == {"path": str(target), "rows": 2}


def test_json_rows_refused_with_http_400_keep_the_cells_of_the_row_named(hook, tmp_path):
    hook.upload_json.side_effect = ApiClientError(400, "invalid_parameter", "row 2: order_status unknown", "POST", "/x")
    target = tmp_path / "rejected.csv"
    second = ORDER | {"id": "o2", "order_status": "LOST"}
    op = MetrikaUploadOrdersOperator(
        task_id="o", rows=[ORDER, second], merge_mode="SAVE", rejected_rows_path=str(target)
    )
    with pytest.raises(ApiClientError):
        op.execute({"ti": FakeTaskInstance()})
    (header, line) = list(csv.reader(io.StringIO(target.read_text())))
    assert dict(zip(header, line, strict=True)) == {
        "row": "3",
        "column": "",
        "problem": "row 2: order_status unknown",
        "id": "o2",
        "client_uniq_id": "c1",
        "client_type": "CONTACT",
        "create_date_time": "2024-01-01 10:00:00",
        "order_status": "LOST",
    }


def test_record_cells_write_text_as_is_and_other_values_as_json():
    header: list[str] = []
    records = [{"a": "x", "b": [1, 2]}, {"b": {"k": None}, "c": None}, "not an object"]
    assert list(record_cells(records, header)) == [["x", "[1, 2]", ""], ["", '{"k": null}', ""], ["", "", ""]]
    assert header == ["a", "b", "c"]


def test_rows_named_beyond_the_file_or_an_unreadable_file_keep_their_messages(tmp_path):
    source = tmp_path / "c.csv"
    source.write_text("a,b\n1,2\n")
    readable = PreparedInput(name="c.csv", size=8, opener=lambda: source.open("rb"))
    out = io.StringIO()
    assert write_server_rejections(out, ["row 1: one", "row 5: five"], readable, ",", LOG) == 2
    assert out.getvalue().splitlines() == ["row,column,problem,a,b", "2,,row 1: one,1,2", "6,,row 5: five"]

    def broken():
        raise OSError("gone")

    out = io.StringIO()
    gone = PreparedInput(name="c.csv", size=8, opener=broken)
    assert write_server_rejections(out, ["row 1: one"], gone, ",", LOG) == 1
    assert out.getvalue().splitlines()[1] == "2,,row 1: one"


def test_general_messages_come_first_under_the_files_header(tmp_path):
    source = tmp_path / "c.csv"
    source.write_text("a;b\n1;2\n3;4\n")
    readable = PreparedInput(name="c.csv", size=12, opener=lambda: source.open("rb"))
    out = io.StringIO()
    assert write_server_rejections(out, ["first", "second", "row 2: two"], readable, ";", LOG) == 3
    assert out.getvalue().splitlines() == ["row,column,problem,a,b", ",,first", ",,second", "3,,row 2: two,3,4"]


def test_refused_rows_given_as_rows_are_written(hook, tmp_path):
    target = tmp_path / "r.csv"
    context = {"ti": FakeTaskInstance()}
    rows = [{"client_id": 1, "target": "paid", "date_time": 1700000000}, {"client_id": "x", "target": "paid"}]
    op = MetrikaUploadOfflineConversionsOperator(task_id="u", rows=rows, rejected_rows_path=str(target))
    with pytest.raises(MetrikaValidationError):
        op.execute(context)
    lines = list(csv.reader(io.StringIO(target.read_text())))
    assert lines[0][:3] == ["row", "column", "problem"] and [line[0] for line in lines[1:]] == ["3"]
    assert context["ti"].xcom["rejected_rows"]["rows"] == 1
    hook.upload_file.assert_not_called()


def test_open_target_creates_local_folders(tmp_path):
    with open_target(f"file://{tmp_path}/a/b/r.csv", None) as (location, out):
        out.write("x")
    assert location == f"{tmp_path}/a/b/r.csv" and (tmp_path / "a" / "b" / "r.csv").read_text() == "x"


def test_a_failing_artifact_never_hides_the_validation_error(hook, tmp_path, mocker):
    src = tmp_path / "c.csv"
    src.write_text("ClientId,Target,DateTime\nx,paid,1\n")
    mocker.patch.object(sending_module, "open_target", side_effect=PermissionError("read-only bucket"))
    op = MetrikaUploadOfflineConversionsOperator(task_id="u", src=str(src), rejected_rows_path="s3://b/r.csv")
    with pytest.raises(MetrikaValidationError, match="ClientId"):
        op.execute({"ti": FakeTaskInstance()})


def test_without_a_path_nothing_is_written(hook, tmp_path, mocker):
    src = tmp_path / "c.csv"
    src.write_text("ClientId,Target,DateTime\nx,paid,1\n")
    opened = mocker.patch.object(sending_module, "open_target")
    context = {"ti": FakeTaskInstance()}
    with pytest.raises(MetrikaValidationError):
        MetrikaUploadOfflineConversionsOperator(task_id="u", src=str(src)).execute(context)
    opened.assert_not_called()
    assert "rejected_rows" not in context["ti"].xcom
