"""The rejected-rows artifact end to end: refused rows, dropped stale rows, Metrika's CRM messages."""

from __future__ import annotations

import csv
import io
import time

import pytest

from airflow_provider_metrika.emulator.testing import TEST_TOKEN
from airflow_provider_metrika.exceptions import MetrikaValidationError
from airflow_provider_metrika.operators.cdp import MetrikaUploadContactsOperator
from airflow_provider_metrika.operators.upload import MetrikaUploadOfflineConversionsOperator
from airflow_provider_metrika.version_compat import AirflowFailException, ObjectStoragePath
from tests.xcom import one_upload

pytestmark = pytest.mark.integration
NOW = int(time.time())


def read_csv(path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def test_refused_rows_are_written_and_nothing_is_sent(metrika_conn, emulator, context, tmp_path):
    src = tmp_path / "deals.csv"
    src.write_text(f"ClientId,Target,DateTime\n1,paid,{NOW - 60}\nx1,paid,{NOW - 60}\n2,paid,{NOW + 86400}\n")
    target = tmp_path / "rejects" / "deals_rejected.csv"
    op = MetrikaUploadOfflineConversionsOperator(task_id="up", src=str(src), rejected_rows_path=str(target))
    with pytest.raises(MetrikaValidationError):
        op.execute(context)
    assert emulator.uploadings() == []
    lines = read_csv(target)
    assert lines[0] == ["row", "column", "problem", "ClientId", "Target", "DateTime"]
    assert [line[:2] + line[3:4] for line in lines[1:]] == [["3", "ClientId", "x1"], ["4", "DateTime", "2"]]
    assert context["ti"].xcom["rejected_rows"] == {"path": str(target), "rows": 2}
    assert TEST_TOKEN not in target.read_text()


@pytest.mark.parametrize("validation", ["preflight", "inflight"])
def test_dropped_stale_rows_are_written_after_the_upload(metrika_conn, emulator, context, tmp_path, validation):
    src = tmp_path / "deals.csv"
    src.write_text(f"ClientId,Target,DateTime\n1,paid,{NOW - 60}\n2,paid,{NOW - 40 * 86400}\n")
    target = tmp_path / "dropped.csv"
    result = MetrikaUploadOfflineConversionsOperator(
        task_id="up", src=str(src), stale_rows="drop", validation=validation, rejected_rows_path=str(target)
    ).execute(context)
    assert one_upload(result)["line_quantity"] == 1 and result["rejected_rows"] == {"path": str(target), "rows": 1}
    (dropped,) = read_csv(target)[1:]
    assert dropped[0] == "3"
    assert "linkage window; dropped" in dropped[2] and dropped[3] == "2"


def test_an_inflight_failure_writes_every_refused_row(metrika_conn, emulator, context, tmp_path):
    src = tmp_path / "deals.csv"
    good = "".join(f"{i},paid,{NOW - 60}\n" for i in range(20_000))
    src.write_text("ClientId,Target,DateTime\n" + good + "bad,paid,1\n" + good + "bad2,paid,1\n")
    target = tmp_path / "refused.csv"
    op = MetrikaUploadOfflineConversionsOperator(
        task_id="up", src=str(src), validation="inflight", rejected_rows_path=str(target)
    )
    with pytest.raises(MetrikaValidationError):
        op.execute(context)
    assert [line[3] for line in read_csv(target)[1:]] == ["bad", "bad2"]
    assert emulator.uploadings() == []


def test_metrika_crm_messages_come_with_the_rows_they_name(metrika_conn, emulator, context, tmp_path):
    src = tmp_path / "contacts.csv"
    src.write_text("uniq_id,emails\nc1,a@b.ru\nc2,not-an-email\nc3,c@d.ru\n")
    target = tmp_path / "crm_rejected.csv"
    op = MetrikaUploadContactsOperator(
        task_id="contacts", src=str(src), merge_mode="SAVE", validation="none", rejected_rows_path=str(target)
    )
    with pytest.raises(AirflowFailException, match="not-an-email"):
        op.execute(context)
    lines = read_csv(target)
    assert lines[0] == ["row", "column", "problem", "uniq_id", "emails"]
    (line,) = lines[1:]
    assert line[0] == "3" and line[2].startswith("row 2: emails") and line[3:] == ["c2", "not-an-email"]
    assert context["ti"].xcom["rejected_rows"]["rows"] == 1


def test_the_artifact_goes_to_any_fsspec_location(metrika_conn, emulator, context, tmp_path):
    src = tmp_path / "deals.csv"
    src.write_text(f"ClientId,Target,DateTime\nx,paid,{NOW - 60}\n")
    target = ObjectStoragePath(f"file://{tmp_path}/bucket/rejected.csv")
    op = MetrikaUploadOfflineConversionsOperator(task_id="up", src=str(src), rejected_rows_path=target)
    with pytest.raises(MetrikaValidationError):
        op.execute(context)
    lines = list(csv.reader(io.StringIO(target.read_text())))
    assert lines[1][:2] == ["2", "ClientId"]
    assert context["ti"].xcom["rejected_rows"]["path"].endswith("bucket/rejected.csv")


def test_rejected_rows_path_is_templated():
    assert "rejected_rows_path" in MetrikaUploadOfflineConversionsOperator.template_fields
