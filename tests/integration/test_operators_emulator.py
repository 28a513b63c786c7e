"""Upload operators end to end against the emulator: every kind, waits, retries and bad input."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from airflow_provider_metrika.exceptions import MetrikaClientError, MetrikaConfigError, MetrikaValidationError
from airflow_provider_metrika.operators.cdp import (
    MetrikaUploadContactsOperator,
    MetrikaUploadOrdersOperator,
    MetrikaUploadSimpleOrdersOperator,
)
from airflow_provider_metrika.operators.upload import (
    MetrikaUploadCallsOperator,
    MetrikaUploadOfflineConversionsOperator,
)
from airflow_provider_metrika.operators.user_params import MetrikaUploadUserParamsOperator
from airflow_provider_metrika.version_compat import AirflowFailException
from tests.rows import cdp_order
from tests.xcom import one_upload, only_job

pytestmark = pytest.mark.integration
COUNTER = 12345


def conversions(path, rows=5, prefix=""):
    now = int(time.time()) - 3600
    id_column = "UserId" if prefix else "ClientId"
    body = f"{id_column},Target,DateTime,Price,Currency\n" + "".join(
        f"{prefix}{100 + i},paid,{now - i * 60},{i}.50,RUB\n" for i in range(rows)
    )
    path.write_text(body)
    return path


def test_offline_conversions_upload_and_wait(metrika_conn, emulator, emulated_waits, context, tmp_path):
    op = MetrikaUploadOfflineConversionsOperator(
        task_id="up",
        src=str(conversions(tmp_path / "c.csv")),
        comment="crm20260101",
        wait_for_completion=True,
        poll_interval=60,
    )
    result = only_job(op.execute(context))
    assert result["status"] == "PROCESSED" and result["line_quantity"] == 5
    assert emulated_waits and all(s == 60 for s in emulated_waits)
    (stored,) = emulator.uploadings(kind="offline_conversions")
    assert stored["comment"].startswith("crm20260101afm")
    assert context["ti"].xcom["uploading_id"] == [str(stored["id"])]  # always a list
    assert context["ti"].xcom["metrika_counter_id"] == COUNTER  # what the "Metrika: uploads" link reads


def test_rows_from_xcom_are_written_in_metrika_format(metrika_conn, emulator, context):
    paid = datetime.now(UTC) - timedelta(hours=2)
    rows = [
        {"client_id": "7", "target": "paid", "date_time": paid, "price": 12.5, "currency": "RUB"},
        {"client_id": "8", "target": "paid", "date_time": int(paid.timestamp()), "price": 3, "currency": "USD"},
    ]
    result = MetrikaUploadOfflineConversionsOperator(task_id="up", rows=rows).execute(context)
    assert one_upload(result)["source_quantity"] == 2 and result["source"].endswith(".csv")


def test_task_retry_reuses_the_uploading(metrika_conn, emulator, context, tmp_path):
    src = str(conversions(tmp_path / "c.csv"))
    first = MetrikaUploadOfflineConversionsOperator(task_id="up", src=src).execute(context)
    again = MetrikaUploadOfflineConversionsOperator(task_id="up", src=src).execute(context)
    assert one_upload(again)["uploading_id"] == one_upload(first)["uploading_id"]
    assert len(emulator.uploadings(kind="offline_conversions")) == 1


def test_linkage_failure_fails_the_task_with_counters(metrika_conn, emulator, emulated_waits, context, tmp_path):
    op = MetrikaUploadOfflineConversionsOperator(
        task_id="up", src=str(conversions(tmp_path / "c.csv", 3, "unknown")), wait_for_completion=True
    )
    with pytest.raises(AirflowFailException, match=r"LINKAGE_FAILURE.*line_quantity=3"):
        op.execute(context)


@pytest.mark.parametrize(
    ("content", "kwargs", "error", "match"),
    [
        (None, {}, MetrikaConfigError, "file not found"),
        (b"", {}, MetrikaValidationError, "empty"),
        (b"ClientId,DateTime\n1,1700000000\n", {}, MetrikaValidationError, "Target"),
        (b"Target,DateTime\npaid,1700000000\n", {}, MetrikaValidationError, "ClientId"),
        (None, {"comment": "x" * 256}, MetrikaConfigError, "255"),
        (None, {"comment": "bad;comment", "strict_comment": True}, MetrikaConfigError, "letters"),
        (None, {"counter_id": "abc"}, MetrikaConfigError, "counter_id"),
    ],
)
def test_bad_input_fails_before_any_request(metrika_conn, emulator, context, tmp_path, content, kwargs, error, match):
    path = tmp_path / "in.csv"
    if content is not None:
        path.write_bytes(content)
    elif kwargs:
        conversions(path)
    before = emulator.request_stats()
    with pytest.raises(error, match=match) as err:
        MetrikaUploadOfflineConversionsOperator(task_id="up", src=str(path), **kwargs).execute(context)
    assert "in.csv" in str(err.value) or error is MetrikaConfigError
    assert emulator.request_stats() == before
    assert emulator.uploadings() == []


def test_inflight_validation_aborts_before_metrika_has_the_file(metrika_conn, emulator, context, tmp_path):
    path = conversions(tmp_path / "c.csv", rows=50_000)
    with path.open("a") as out:
        out.write("999,paid,not-a-time,1.00,RUB\n")
    op = MetrikaUploadOfflineConversionsOperator(task_id="up", src=str(path), validation="inflight")
    with pytest.raises(MetrikaValidationError, match="DateTime"):
        op.execute(context)
    assert emulator.uploadings() == []


def test_calls_operator(metrika_conn, emulator, emulated_waits, context, tmp_path):
    now = int(time.time()) - 600
    path = tmp_path / "calls.csv"
    path.write_text(f"ClientId,DateTime,StaticCall,PhoneNumber,TalkDuration\n1,{now},0,+70123456789,30\n")
    result = MetrikaUploadCallsOperator(
        task_id="calls", src=str(path), new_goal_name="Calls", wait_for_completion=True
    ).execute(context)
    assert (only_job(result)["status"], only_job(result)["kind"]) == ("PROCESSED", "calls")


def test_user_params_operator_confirms_then_waits(metrika_conn, emulator, emulated_waits, context, tmp_path):
    path = tmp_path / "params.csv"
    path.write_text("ClientId,age,segment\n1,30,vip\n2,41,regular\n")
    result = MetrikaUploadUserParamsOperator(
        task_id="params", src=str(path), action="update", wait_for_completion=True
    ).execute(context)
    assert only_job(result)["status"] == "processed"


def test_user_params_rejects_unknown_action(metrika_conn, emulator, context, tmp_path):
    path = tmp_path / "params.csv"
    path.write_text("ClientId,age\n1,30\n")
    with pytest.raises(MetrikaConfigError, match="action"):
        MetrikaUploadUserParamsOperator(task_id="p", src=str(path), action="replace").execute(context)
    assert emulator.uploadings() == []


def test_contacts_csv_with_columns_mapping(metrika_conn, emulator, context, tmp_path):
    path = tmp_path / "contacts.csv"
    path.write_text("ID,Email,Phone\nc1,a@example.com,79995551111\nc2,b@example.com,79995551112\n")
    result = MetrikaUploadContactsOperator(
        task_id="contacts",
        src=str(path),
        merge_mode="UPDATE",
        columns_mapping={"uniq_id": "ID", "emails": "Email", "phones": "Phone"},
    ).execute(context)
    assert one_upload(result)["status"] == "PASSED" and one_upload(result)["elements_count"] == 2


def test_orders_json_rows(metrika_conn, emulator, context):
    rows = [cdp_order(create_date_time="2026-11-20 10:00:00", revenue="100.5")]
    result = MetrikaUploadOrdersOperator(task_id="orders", rows=rows, merge_mode="SAVE").execute(context)
    assert one_upload(result)["status"] == "PASSED" and one_upload(result)["elements_count"] == 1


def test_simple_orders_csv(metrika_conn, emulator, context, tmp_path):
    path = tmp_path / "simple.csv"
    path.write_text("id;create_date_time;emails;revenue\n1;2026-11-20 10:00:00;a@example.com;10\n")
    result = MetrikaUploadSimpleOrdersOperator(
        task_id="simple", src=str(path), merge_mode="APPEND", delimiter_type="SEMICOLON"
    ).execute(context)
    assert one_upload(result)["status"] == "PASSED"


def test_cdp_failed_validation_fails_the_task(metrika_conn, emulator, context, tmp_path):
    path = tmp_path / "contacts.csv"
    path.write_text("uniq_id,emails\nc1,not-an-email\n")
    op = MetrikaUploadContactsOperator(task_id="contacts", src=str(path), merge_mode="SAVE", validation="none")
    with pytest.raises(AirflowFailException, match=r"FAILED.*email"):
        op.execute(context)


def test_cdp_400_body_surfaces_metrikas_reason(metrika_conn, emulator, context, tmp_path):
    path = tmp_path / "contacts.csv"
    path.write_text("uniq_id,emails\nc1,a@example.com\n")
    emulator.inject_fault(
        method="POST",
        path="data/contacts",
        action="status",
        status=400,
        error_type="invalid_parameter",
        message="validation failed: row 2",
    )
    op = MetrikaUploadContactsOperator(task_id="contacts", src=str(path), merge_mode="SAVE")
    with pytest.raises(MetrikaClientError) as err:
        op.execute(context)
    assert err.value.status == 400 and err.value.error_type == "invalid_parameter"


@pytest.mark.parametrize("merge_mode", ["MERGE", "", None])
def test_cdp_merge_mode_is_required_and_checked(metrika_conn, emulator, context, tmp_path, merge_mode):
    path = tmp_path / "contacts.csv"
    path.write_text("uniq_id\nc1\n")
    with pytest.raises(MetrikaConfigError, match="merge_mode"):
        MetrikaUploadContactsOperator(task_id="c", src=str(path), merge_mode=merge_mode).execute(context)
    assert emulator.uploadings() == []


def test_columns_mapping_naming_a_missing_column_is_caught_before_upload(metrika_conn, emulator, context, tmp_path):
    path = tmp_path / "contacts.csv"
    path.write_text("ID,Email\nc1,a@example.com\n")
    op = MetrikaUploadContactsOperator(
        task_id="c", src=str(path), merge_mode="SAVE", columns_mapping={"uniq_id": "ID", "emails": "E-mail"}
    )
    with pytest.raises(MetrikaValidationError, match="E-mail"):
        op.execute(context)
    assert emulator.uploadings() == []


def test_file_over_the_limit_is_split_and_every_part_awaited(metrika_conn, emulator, emulated_waits, context, tmp_path):
    path = conversions(tmp_path / "big.csv", rows=1000)
    result = MetrikaUploadOfflineConversionsOperator(
        task_id="up", src=str(path), max_file_bytes=8000, wait_for_completion=True
    ).execute(context)
    stored = emulator.uploadings(kind="offline_conversions")
    assert len(stored) == len(result["jobs"]) == len(result["ids"]) > 1
    assert sum(u["rows"] for u in stored) == 1000
    assert all(job["status"] == "PROCESSED" for job in result["jobs"])
    assert context["ti"].xcom["uploading_id"] == result["ids"]


def test_split_file_with_a_bad_row_uploads_no_part(metrika_conn, emulator, context, tmp_path):
    path = conversions(tmp_path / "big.csv", rows=1000)
    with path.open("a") as out:
        out.write("5,paid,soon,1.00,RUB\n")
    with pytest.raises(MetrikaValidationError, match=r"big\.csv row 1002, column DateTime"):
        MetrikaUploadOfflineConversionsOperator(
            task_id="up", src=str(path), max_file_bytes=8000, validation="inflight"
        ).execute(context)
    assert emulator.uploadings() == []


def test_stale_rows_dropped_before_upload(metrika_conn, emulator, context, tmp_path):
    now = int(time.time())
    path = tmp_path / "c.csv"
    path.write_text(f"ClientId,Target,DateTime\n1,paid,{now - 3600}\n2,paid,{now - 30 * 86400}\n")
    result = MetrikaUploadOfflineConversionsOperator(task_id="up", src=str(path), stale_rows="drop").execute(context)
    assert one_upload(result)["source_quantity"] == 1


def test_stale_rows_fail_policy(metrika_conn, emulator, context, tmp_path):
    now = int(time.time())
    path = tmp_path / "c.csv"
    path.write_text(f"ClientId,Target,DateTime\n1,paid,{now - 3600}\n2,paid,{now - 30 * 86400}\n")
    with pytest.raises(MetrikaValidationError, match="row 3, column DateTime"):
        MetrikaUploadOfflineConversionsOperator(task_id="up", src=str(path), stale_rows="fail").execute(context)
    assert emulator.uploadings() == []


@pytest.mark.parametrize("as_url", ["file-url", "object-storage-path"])
def test_object_storage_sources(metrika_conn, emulator, context, tmp_path, as_url):
    from airflow_provider_metrika.version_compat import ObjectStoragePath

    url = f"file://{conversions(tmp_path / 'c.csv', rows=4)}"
    src = url if as_url == "file-url" else ObjectStoragePath(url)
    result = MetrikaUploadOfflineConversionsOperator(task_id="up", src=src).execute(context)
    assert one_upload(result)["source_quantity"] == 4
    (stored,) = emulator.uploadings(kind="offline_conversions")
    assert stored["rows"] == 4


def test_dataframe_rows(metrika_conn, emulator, context):
    import pandas as pd

    paid = pd.Timestamp.now(tz="UTC") - pd.Timedelta(hours=3)
    frame = pd.DataFrame(
        {
            "ClientId": ["11", "12"],
            "Target": ["paid", "paid"],
            "DateTime": [paid, paid],
            "Price": [1.5, 2.0],
            "Currency": ["RUB", "RUB"],
        }
    )
    result = MetrikaUploadOfflineConversionsOperator(task_id="up", rows=frame).execute(context)
    assert one_upload(result)["source_quantity"] == one_upload(result)["line_quantity"] == 2


def test_orders_csv_and_contacts_rows(metrika_conn, emulator, context, tmp_path):
    contacts = [{"uniq_id": "c1", "emails": ["A@Example.com"], "phones": ["79995551111"]}]
    done = MetrikaUploadContactsOperator(task_id="contacts", rows=contacts, merge_mode="SAVE").execute(context)
    assert one_upload(done)["status"] == "PASSED" and one_upload(done)["elements_count"] == 1
    path = tmp_path / "orders.csv"
    path.write_text("OrderId,Customer,Type,Created,Status,Sum\no1,c1,CONTACT,2026-11-20 10:00:00,PAID,99.90\n")
    mapping = {
        "id": "OrderId",
        "client_uniq_id": "Customer",
        "client_type": "Type",
        "create_date_time": "Created",
        "order_status": "Status",
        "revenue": "Sum",
    }
    done = MetrikaUploadOrdersOperator(
        task_id="orders", src=str(path), merge_mode="SAVE", columns_mapping=mapping
    ).execute(context)
    assert one_upload(done)["status"] == "PASSED" and one_upload(done)["elements_count"] == 1
    assert sorted(u["kind"] for u in emulator.uploadings()) == ["contacts", "orders"]


@pytest.mark.parametrize(
    "make_input",
    [
        lambda tmp_path: {"src": str(_write(tmp_path / "h.csv", "ClientId,Target,DateTime\n\n"))},
        lambda tmp_path: {"rows": []},
    ],
)
def test_nothing_to_upload_skips_the_task(metrika_conn, emulator, context, tmp_path, make_input):
    from airflow_provider_metrika.version_compat import AirflowSkipException

    with pytest.raises(AirflowSkipException, match=r"no (data )?rows"):
        MetrikaUploadOfflineConversionsOperator(task_id="up", **make_input(tmp_path)).execute(context)
    with pytest.raises(MetrikaValidationError, match=r"no (data )?rows"):
        MetrikaUploadOfflineConversionsOperator(task_id="up", if_empty="fail", **make_input(tmp_path)).execute(context)
    assert emulator.uploadings() == []


def _write(path, text):
    path.write_text(text)
    return path


def test_object_storage_source_over_the_limit_is_split(metrika_conn, emulator, context, tmp_path):
    from airflow_provider_metrika.version_compat import ObjectStoragePath

    src = ObjectStoragePath(f"file://{conversions(tmp_path / 'c.csv', rows=300)}")
    result = MetrikaUploadOfflineConversionsOperator(task_id="up", src=src, max_file_bytes=4000).execute(context)
    assert len(result["jobs"]) == len(result["ids"]) > 1
    assert sum(u["rows"] for u in emulator.uploadings()) == 300


def test_cdp_rows_with_aware_datetimes_need_and_use_the_counter_timezone(metrika_conn, emulator, context):
    created = datetime(2026, 11, 20, 7, 0, tzinfo=UTC)
    rows = [cdp_order(create_date_time=created, revenue=10.5)]
    with pytest.raises(MetrikaValidationError, match=r"row 1, column create_date_time: .*counter_timezone"):
        MetrikaUploadOrdersOperator(task_id="o", rows=rows, merge_mode="SAVE").execute(context)
    done = MetrikaUploadOrdersOperator(
        task_id="o", rows=rows, merge_mode="SAVE", counter_timezone="Europe/Moscow"
    ).execute(context)
    assert one_upload(done)["status"] == "PASSED"
