"""The "Metrika: uploads" extra link: counter recorded by the task, URL built from it, registered with Airflow."""

from __future__ import annotations

import pytest

from airflow_provider_metrika import get_provider_info, links
from airflow_provider_metrika.links import COUNTER_XCOM_KEY, MetrikaUploadsLink, counter_settings_url, remember_counter
from airflow_provider_metrika.operators.cdp import MetrikaUploadContactsOperator
from airflow_provider_metrika.operators.upload import MetrikaUploadCallsOperator
from airflow_provider_metrika.sensors.uploading import MetrikaUploadingSensor
from tests.integration.conftest import FakeTaskInstance


def test_the_url_is_the_counters_settings_page():
    assert counter_settings_url(12345) == "https://metrika.yandex.ru/settings?id=12345"
    assert counter_settings_url("12345") == "https://metrika.yandex.ru/settings?id=12345"


@pytest.mark.parametrize(("stored", "url"), [(12345, "https://metrika.yandex.ru/settings?id=12345"), (None, "")])
def test_the_link_reads_the_counter_the_task_recorded(mocker, stored, url):
    get_value = mocker.patch.object(links.XCom, "get_value", return_value=stored)
    assert MetrikaUploadsLink().get_link(None, ti_key="key") == url
    get_value.assert_called_once_with(ti_key="key", key=COUNTER_XCOM_KEY)


def test_a_tampered_xcom_gives_no_link_rather_than_a_crafted_url(mocker):
    mocker.patch.object(links.XCom, "get_value", return_value="1&next=https://evil.example")
    assert MetrikaUploadsLink().get_link(None, ti_key="key") == ""


def test_remember_counter_pushes_it_and_tolerates_no_task_instance():
    ti = FakeTaskInstance()
    remember_counter({"ti": ti}, 42)
    assert ti.xcom == {COUNTER_XCOM_KEY: 42}
    remember_counter({}, 42)  # outside a task run: nothing to push to, no error


def test_every_upload_operator_and_the_sensor_carry_the_link_and_airflow_knows_it():
    for task in (
        MetrikaUploadCallsOperator(task_id="u", src="a.csv"),
        MetrikaUploadContactsOperator(task_id="c", src="a.csv", merge_mode="SAVE"),
        MetrikaUploadingSensor(task_id="w", uploading_id="1"),
    ):
        assert [type(link) for link in task.operator_extra_links] == [MetrikaUploadsLink]
    assert "airflow_provider_metrika.links.MetrikaUploadsLink" in get_provider_info()["extra-links"]
