"""Chats (offline conversions of type CHATS) end to end against the emulator."""

from __future__ import annotations

import time

import pytest

from airflow_provider_metrika.hooks.metrika import MetrikaHook
from airflow_provider_metrika.operators.upload import MetrikaUploadChatsOperator
from airflow_provider_metrika.sensors.uploading import MetrikaUploadingSensor
from tests.xcom import one_upload, only_job

pytestmark = pytest.mark.integration


def chats_file(path, rows=3):
    now = int(time.time()) - 600
    path.write_text("ClientId,DateTime,Messenger\n" + "".join(f"{100 + i},{now - i},telegram\n" for i in range(rows)))
    return path


def test_chats_are_uploaded_with_their_type_and_waited_for(metrika_conn, emulator, emulated_waits, context, tmp_path):
    result = MetrikaUploadChatsOperator(
        task_id="chats", src=str(chats_file(tmp_path / "chats.csv")), comment="crm1", wait_for_completion=True
    ).execute(context)
    result = only_job(result)
    assert result["kind"] == "chats" and result["status"] == "PROCESSED" and result["line_quantity"] == 3
    (stored,) = emulator.uploadings()
    assert stored["uploading"]["type"] == "CHATS"


def test_a_retry_finds_its_chats_uploading_in_the_chats_list(metrika_api, metrika_conn, emulator, context, tmp_path):
    conversion = f"ClientId,Target,DateTime\n1,paid,{int(time.time()) - 60}\n"
    upload_path = "/management/v1/counter/{counter_id}/offline_conversions/upload"
    assert metrika_api.upload(upload_path, conversion).status_code == 200
    src = str(chats_file(tmp_path / "chats.csv"))
    first = MetrikaUploadChatsOperator(task_id="chats", src=src).execute(context)
    again = MetrikaUploadChatsOperator(task_id="chats", src=src).execute(context)
    assert one_upload(again)["uploading_id"] == one_upload(first)["uploading_id"]
    assert len(emulator.uploadings()) == 2
    listed = MetrikaHook(metrika_conn).list_uploadings("chats", None)
    assert [u.uploading_id for u in listed] == [one_upload(first)["uploading_id"]]


def test_the_sensor_waits_on_chats_from_the_operator_xcom(metrika_conn, emulator, context, tmp_path):
    upload = MetrikaUploadChatsOperator(task_id="chats", src=str(chats_file(tmp_path / "chats.csv")))
    xcom = upload.execute(context)
    sensor = MetrikaUploadingSensor(task_id="wait", uploading_id=xcom, deferrable=False)
    assert not sensor.poke(context).is_done
    emulator.finish_all()
    done = sensor.poke(context)
    assert done.is_done and only_job(done.xcom_value)["kind"] == "chats"
    assert only_job(done.xcom_value)["status"] == "PROCESSED"
