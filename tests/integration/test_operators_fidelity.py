"""Operators against the emulator where production practice differs from the docs: comments with any
characters, help-page header spellings, simple orders with an empty id, the user-params confirm body and
header-less user parameters."""

from __future__ import annotations

import time

import pytest

from airflow_provider_metrika.exceptions import MetrikaConfigError
from airflow_provider_metrika.operators.cdp import MetrikaUploadSimpleOrdersOperator
from airflow_provider_metrika.operators.upload import (
    MetrikaUploadCallsOperator,
    MetrikaUploadOfflineConversionsOperator,
)
from airflow_provider_metrika.operators.user_params import MetrikaUploadUserParamsOperator
from tests.xcom import one_upload, only_job

pytestmark = pytest.mark.integration


def write(path, text: str) -> str:
    path.write_text(text)
    return str(path)


def recent() -> int:
    return int(time.time()) - 3600


def test_comment_with_spaces_is_sent_and_still_found_by_fingerprint(metrika_conn, emulator, context, tmp_path):
    src = write(tmp_path / "c.csv", f"ClientId,Target,DateTime\n101,paid,{recent()}\n")
    first = MetrikaUploadOfflineConversionsOperator(task_id="up", src=src, comment="crm 2024-01-01").execute(context)
    assert one_upload(first)["comment"].startswith("crm 2024-01-01afm")
    again = MetrikaUploadOfflineConversionsOperator(task_id="up", src=src, comment="crm 2024-01-01").execute(context)
    assert one_upload(again)["uploading_id"] == one_upload(first)["uploading_id"]
    assert len(emulator.uploadings(kind="offline_conversions")) == 1


def test_strict_comment_refuses_before_sending(metrika_conn, emulator, context, tmp_path):
    src = write(tmp_path / "c.csv", f"ClientId,Target,DateTime\n101,paid,{recent()}\n")
    op = MetrikaUploadOfflineConversionsOperator(task_id="up", src=src, comment="crm 1", strict_comment=True)
    with pytest.raises(MetrikaConfigError, match="documented rule"):
        op.execute(context)
    assert emulator.uploadings() == []


def test_seed_emulator_and_letters_only_comment_agree(metrika_conn, emulator, context, tmp_path):
    emulator.configure(comment_chars="seed")
    src = write(tmp_path / "c.csv", f"ClientId,Target,DateTime\n101,paid,{recent()}\n")
    result = MetrikaUploadOfflineConversionsOperator(task_id="up", src=src, comment="crm20240101").execute(context)
    assert one_upload(result)["comment"].startswith("crm20240101afm")


def test_calls_with_a_punctuated_comment_pass_even_a_seed_emulator(metrika_conn, emulator, context, tmp_path):
    emulator.configure(comment_chars="seed")
    src = write(tmp_path / "calls.csv", f"UserId, DateTime, StaticCall\nu1,{recent()},0\n")
    result = MetrikaUploadCallsOperator(task_id="calls", src=src, comment="calls.csv").execute(context)
    assert one_upload(result)["comment"].startswith("calls.csvafm") and one_upload(result)["line_quantity"] == 1


@pytest.mark.parametrize("header", ["ClientID,Target,DateTime", "yclid,target,datetime", "ClientId, Target, DateTime"])
def test_help_page_header_spellings_upload_as_written(metrika_conn, emulator, context, tmp_path, header):
    content = f"{header}\n123,paid,{recent()}\n"
    src = write(tmp_path / "c.csv", content)
    result = MetrikaUploadOfflineConversionsOperator(task_id="up", src=src).execute(context)
    assert one_upload(result)["line_quantity"] == 1
    (stored,) = emulator.uploadings(kind="offline_conversions")
    assert stored["size"] == len(content.encode())


def test_simple_orders_with_an_empty_id_pass(metrika_conn, emulator, context, tmp_path):
    content = "id,create_date_time,emails\no1,2024-05-01 10:00:00,a@b.ru\n,2024-05-02 10:00:00,c@d.ru\n"
    src = write(tmp_path / "simple.csv", content)
    result = MetrikaUploadSimpleOrdersOperator(task_id="s", src=src, merge_mode="SAVE").execute(context)
    assert one_upload(result)["status"] == "PASSED" and one_upload(result)["elements_count"] == 2


def test_user_params_fingerprint_survives_an_emulator_that_ignores_the_upload_comment(
    metrika_conn, emulator, context, tmp_path
):
    """The pessimistic reading: only the confirm body sets the comment; a retry still finds the uploading."""
    emulator.configure(upload_comment="ignore")
    src = write(tmp_path / "p.csv", "ClientId,tier\n101,gold\n")
    first = MetrikaUploadUserParamsOperator(task_id="p", src=src, comment="crm").execute(context)
    assert one_upload(first)["status"] == "is_processed" and one_upload(first)["comment"].startswith("crmafm")
    (stored,) = emulator.uploadings(kind="user_params")
    assert stored["comment"] == one_upload(first)["comment"]
    again = MetrikaUploadUserParamsOperator(task_id="p", src=src, comment="crm").execute(context)
    assert one_upload(again)["uploading_id"] == one_upload(first)["uploading_id"]
    assert len(emulator.uploadings(kind="user_params")) == 1


def test_user_params_header_less_triples_upload_and_confirm(metrika_conn, emulator, emulated_waits, context, tmp_path):
    src = write(tmp_path / "p.csv", '"P12345","age",42\n"P777","city","Msk"\n')
    op = MetrikaUploadUserParamsOperator(
        task_id="p", src=src, content_id_type="user_id", wait_for_completion=True, deferrable=False
    )
    result = only_job(op.execute(context))
    assert (result["status"], result["line_quantity"]) == ("processed", 2)
    (stored,) = emulator.uploadings(kind="user_params")
    assert stored["rows"] == 2
