"""MetrikaHook and MetrikaAsyncHook against the emulator over loopback: the real wire, no mocks."""

from __future__ import annotations

import json
import time

import pytest

from airflow_provider_metrika.emulator.testing import TEST_TOKEN
from airflow_provider_metrika.exceptions import MetrikaClientError, MetrikaConfigError
from airflow_provider_metrika.hooks.metrika import MetrikaHook
from airflow_provider_metrika.hooks.metrika_async import MetrikaAsyncHook
from airflow_provider_metrika.uploads import UploadState

pytestmark = pytest.mark.integration
COUNTER = 12345


def conversions_csv(rows: int = 3, client_prefix: str = "") -> bytes:
    now = int(time.time()) - 3600
    lines = ["ClientId,Target,DateTime,Price,Currency"]
    lines += [f"{client_prefix}{1000 + i},paid,{now - i},10.50,RUB" for i in range(rows)]
    return ("\n".join(lines) + "\n").encode()


@pytest.fixture
def csv_file(tmp_path):
    def write(content: bytes, name: str = "conv.csv"):
        path = tmp_path / name
        path.write_bytes(content)
        return path

    return write


@pytest.fixture
def hook(metrika_conn, emulator):
    with_hook = MetrikaHook(metrika_conn)
    yield with_hook
    with_hook.close()


def test_upload_get_list_and_lifecycle(hook, emulator, csv_file):
    uploading = hook.upload_file("offline_conversions", None, csv_file(conversions_csv(3)), params={"comment": "t1"})
    assert uploading.counter_id == COUNTER and uploading.state is UploadState.RUNNING
    assert uploading.raw["source_quantity"] == 3
    emulator.finish_all()
    done = hook.get_uploading("offline_conversions", COUNTER, uploading.uploading_id)
    assert done.status == "PROCESSED" and done.raw["line_quantity"] == 3
    listed = hook.list_uploadings("offline_conversions", COUNTER)
    assert [u.uploading_id for u in listed] == [uploading.uploading_id]
    assert [u.uploading_id for u in hook.iter_uploadings("offline_conversions", COUNTER, page_size=1)] == [
        uploading.uploading_id
    ]


def test_unknown_visitors_end_in_linkage_failure(hook, emulator, csv_file):
    uploading = hook.upload_file("offline_conversions", COUNTER, csv_file(conversions_csv(2, "unknown")))
    emulator.finish_all()
    assert hook.get_uploading("offline_conversions", COUNTER, uploading.uploading_id).status == "LINKAGE_FAILURE"


def test_bad_file_is_a_typed_400(hook, csv_file):
    with pytest.raises(MetrikaClientError) as err:
        hook.upload_file("offline_conversions", COUNTER, csv_file(b"ClientId,DateTime\n1,2\n"))
    assert err.value.status == 400 and err.value.error_type == "invalid_uploading"
    assert "Target" in str(err.value)


def test_unknown_uploading_is_a_typed_404(hook):
    with pytest.raises(MetrikaClientError) as err:
        hook.get_uploading("offline_conversions", COUNTER, 999999)
    assert err.value.status == 404 and err.value.error_type == "not_found"


def test_counter_not_granted_is_403_access_denied(hook, emulator):
    emulator.configure(tokens={TEST_TOKEN: [1]})
    with pytest.raises(MetrikaClientError) as err:
        hook.list_uploadings("offline_conversions", COUNTER)
    assert err.value.status == 403 and err.value.error_type == "access_denied"
    assert TEST_TOKEN not in str(err.value)


def test_missing_token_is_a_config_error_before_any_request(emulator, emulator_process, monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_NO_TOKEN", json.dumps({"conn_type": "yandex_metrika", "host": emulator_process.url})
    )
    before = emulator.request_stats()
    with pytest.raises(MetrikaConfigError, match="token"):
        MetrikaHook("no_token").list_uploadings("offline_conversions", COUNTER)
    assert emulator.request_stats() == before


def test_test_connection(hook):
    ok, message = hook.test_connection()
    assert ok, message
    assert TEST_TOKEN not in message


def test_calls_upload(hook, emulator, csv_file):
    now = int(time.time()) - 60
    body = f"ClientId,DateTime,StaticCall,PhoneNumber\n11,{now},0,+70123456789\n12,{now},1,+70123456780\n".encode()
    uploading = hook.upload_file("calls", COUNTER, csv_file(body), params={"new_goal_name": "Calls"})
    emulator.finish_all()
    done = hook.get_uploading("calls", COUNTER, uploading.uploading_id)
    assert done.status == "PROCESSED"
    assert done.counters()["static_calls_quantity"] == 1


def test_user_params_upload_and_confirm(hook, emulator, csv_file):
    uploading = hook.upload_file(
        "user_params", COUNTER, csv_file(b"ClientId,age\n1,30\n2,41\n"), params={"action": "update"}
    )
    assert uploading.status == "uploaded"
    confirmed = hook.confirm_user_params(COUNTER, uploading.uploading_id, {"action": "update"})
    assert confirmed.status == "is_processed"
    emulator.finish_all()
    assert hook.get_uploading("user_params", COUNTER, uploading.uploading_id).status == "processed"


def test_cdp_json_upload_and_last_uploadings_cursor(hook):
    contacts = {"contacts": [{"uniq_id": "c1", "emails": ["a@example.com"]}]}
    ids = [
        hook.upload_json("contacts", COUNTER, contacts, params={"merge_mode": "SAVE"}).uploading_id for _ in range(5)
    ]
    pages = list(hook.iter_last_uploadings(COUNTER, limit=2))
    # Each next page re-reads the oldest millisecond of the last one; the repeat is dropped.
    assert [len(page) for page in pages] == [2, 1, 1, 1]
    assert [u["uploading_id"] for page in pages for u in page] == list(reversed(ids))
    assert [u.uploading_id for u in hook.iter_uploadings("contacts", COUNTER, page_size=3)] == list(reversed(ids))


async def test_async_hook_reads_what_the_sync_hook_uploaded(hook, emulator, csv_file):
    uploading = hook.upload_file("offline_conversions", COUNTER, csv_file(conversions_csv(2)))
    emulator.finish_all()
    async with MetrikaAsyncHook(hook.metrika_conn_id) as async_hook:
        got = await async_hook.get_uploading("offline_conversions", COUNTER, uploading.uploading_id)
        listed = await async_hook.list_uploadings("offline_conversions", COUNTER)
    assert got.status == "PROCESSED"
    assert [u.uploading_id for u in listed] == [uploading.uploading_id]


def test_daily_quota_is_not_retried(hook, emulator):
    from airflow_provider_metrika.exceptions import MetrikaRetryableError

    emulator.configure(daily_quota=2)
    hook.list_uploadings("offline_conversions", COUNTER)
    hook.list_uploadings("offline_conversions", COUNTER)
    with pytest.raises(MetrikaRetryableError) as err:
        hook.list_uploadings("offline_conversions", COUNTER)
    assert (err.value.status, err.value.error_type) == (429, "quota_requests_by_uid")
    assert emulator.request_stats()["throttled_total"] == 1  # one refusal: no retry spent on a spent quota
