"""Upload paths under injected faults against the emulator: lost answers, resets, quotas, the parallel limit."""

from __future__ import annotations

import socket
import threading
import time

import pytest
import requests

from airflow_provider_metrika.exceptions import MetrikaAmbiguousResponseError
from airflow_provider_metrika.hooks.concurrency import MAX_REQUESTS_IN_FLIGHT
from airflow_provider_metrika.hooks.metrika import MetrikaHook
from airflow_provider_metrika.jobs import waiting
from airflow_provider_metrika.operators.upload import MetrikaUploadOfflineConversionsOperator
from tests.integration.conftest import FakeTaskInstance
from tests.reliability.support import (
    COUNTER,
    GET_PATH,
    UPLOAD_PATH,
    conversions_csv,
    point_connection,
    quick_retries,
)
from tests.unit.operators.fakes import FakeStore
from tests.xcom import one_upload, only_job

pytestmark = pytest.mark.integration


@pytest.fixture
def conn(emulator, emulator_process, monkeypatch):
    """The emulator with a 1 s read timeout, so a dropped answer costs a second, not five minutes."""
    return point_connection(monkeypatch, emulator_process.url, timeout=1)


def upload(path, context):
    return MetrikaUploadOfflineConversionsOperator(task_id="up", src=str(path)).execute(context)


def stored(emulator):
    return emulator.uploadings(kind="offline_conversions")


@pytest.mark.parametrize("action", ["reset_after", "drop_response"])
def test_lost_answer_reuses_the_stored_uploading(conn, emulator, tmp_path, action):
    emulator.inject_fault(method="POST", path=UPLOAD_PATH, action=action, seconds=3)
    result = upload(conversions_csv(tmp_path / "c.csv"), {"ti": FakeTaskInstance()})
    (only,) = stored(emulator)
    assert str(only["id"]) == one_upload(result)["uploading_id"] and result["fingerprint"] in only["comment"]


@pytest.mark.parametrize("action", ["reset_before", "status"])
def test_refused_upload_is_not_guessed_and_the_retry_uploads_once(conn, emulator, tmp_path, action):
    emulator.inject_fault(method="POST", path=UPLOAD_PATH, action=action, status=502)
    path = conversions_csv(tmp_path / "c.csv")
    with pytest.raises(MetrikaAmbiguousResponseError):
        upload(path, {"ti": FakeTaskInstance()})
    assert stored(emulator) == []
    result = upload(path, {"ti": FakeTaskInstance()})  # the task retry
    assert [str(u["id"]) for u in stored(emulator)] == [one_upload(result)["uploading_id"]]


def test_read_timeout_on_post_is_ambiguous_at_the_hook(conn, emulator, tmp_path):
    emulator.inject_fault(method="POST", path=UPLOAD_PATH, action="drop_response", seconds=3)
    path = conversions_csv(tmp_path / "c.csv")
    with pytest.raises(MetrikaAmbiguousResponseError, match="ReadTimeout"):
        MetrikaHook(conn).upload_file("offline_conversions", COUNTER, path, params={"comment": "x"})
    assert len(stored(emulator)) == 1  # Metrika has it: resending would have made two


def test_connect_failure_is_retried_even_for_an_upload(monkeypatch, mocker, tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    point_connection(monkeypatch, f"http://127.0.0.1:{port}")
    quick_retries(monkeypatch, max_retries=2)
    sent = mocker.spy(requests.Session, "request")
    with pytest.raises(requests.ConnectionError):
        MetrikaHook().upload_file("offline_conversions", COUNTER, conversions_csv(tmp_path / "c.csv"))
    assert sent.call_count == 3  # resent: nothing can have reached a server that was never connected


def test_upload_survives_an_emulator_restart_with_state_kept(conn, emulator, emulator_process, monkeypatch, tmp_path):
    path = conversions_csv(tmp_path / "c.csv")
    first = upload(path, {"ti": FakeTaskInstance()})
    emulator_process.restart()
    point_connection(monkeypatch, emulator_process.url, timeout=1)
    again = upload(path, {"ti": FakeTaskInstance()})
    assert (
        one_upload(again)["uploading_id"] == one_upload(first)["uploading_id"]
        and len(stored(emulator_process.client)) == 1
    )


@pytest.mark.parametrize(("status", "error_type"), [(429, "quota_requests_by_ip"), (420, "quota_parallel_requests")])
def test_quota_answers_back_off_and_honour_retry_after(conn, emulator, monkeypatch, tmp_path, status, error_type):
    delays = quick_retries(monkeypatch)
    emulator.inject_fault(
        method="POST", path=UPLOAD_PATH, action="quota", status=status, error_type=error_type, retry_after=0.2, times=2
    )
    emulator.inject_fault(
        method="GET",
        path=r"/offline_conversions/uploadings",
        action="quota",
        status=status,
        error_type=error_type,
        times=1,
    )
    result = upload(conversions_csv(tmp_path / "c.csv"), {"ti": FakeTaskInstance()})
    assert len(stored(emulator)) == 1 and one_upload(result)["uploading_id"]
    assert len(delays) == 3 and delays.count(0.2) == 2  # the list backed off by policy, the upload by Retry-After
    assert emulator.request_stats()["throttled_total"] == 3


def test_never_more_than_three_requests_in_flight_per_token(conn, emulator, emulator_process, monkeypatch, tmp_path):
    """Nine threads (as tasks sharing a worker) each poll a slow endpoint: the emulator never refuses one."""
    quick_retries(monkeypatch, max_retries=0)  # a refusal would fail the call outright
    (uid,) = upload(conversions_csv(tmp_path / "c.csv"), {"ti": FakeTaskInstance()})["ids"]
    emulator.inject_fault(method="GET", path=GET_PATH, action="delay", seconds=0.3, times=None)
    errors: list[BaseException] = []

    def poll():
        try:
            MetrikaHook(conn).get_uploading("offline_conversions", COUNTER, uid)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=poll) for _ in range(3 * MAX_REQUESTS_IN_FLIGHT)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and emulator.request_stats()["throttled_total"] == 0
    assert time.monotonic() - started >= 3 * 0.3  # three waves of three
    raw = [
        threading.Thread(
            target=lambda: requests.get(  # the same burst without the hook's limit is refused
                f"{emulator_process.url}/management/v1/counter/{COUNTER}/offline_conversions/uploading/{uid}",
                headers={"Authorization": "OAuth emulator-test-token-0123456789"},
                timeout=10,
            )
        )
        for _ in range(6)
    ]
    for thread in raw:
        thread.start()
    for thread in raw:
        thread.join()
    assert emulator.request_stats()["throttled_total"] > 0


def test_journal_reattaches_across_an_emulator_restart(conn, emulator, emulator_process, monkeypatch, tmp_path):
    store = FakeStore()
    path = conversions_csv(tmp_path / "c.csv")
    first = upload(path, {"ti": FakeTaskInstance(), "task_state_store": store})
    emulator_process.restart()
    point_connection(monkeypatch, emulator_process.url, timeout=1)
    emulator = emulator_process.client
    monkeypatch.setattr(waiting, "pause", emulator.advance)
    emulator.inject_fault(
        method="GET", path=r"/offline_conversions/uploadings$", action="status", status=400, times=None
    )  # the fingerprint search would fail: the journal must not need it
    result = MetrikaUploadOfflineConversionsOperator(
        task_id="up", src=str(path), wait_for_completion=True, deferrable=False
    ).execute({"ti": FakeTaskInstance(), "task_state_store": store})
    assert only_job(result)["uploading_id"] == one_upload(first)["uploading_id"]
