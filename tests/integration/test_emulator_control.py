"""Auth, quotas, fault injection, the control API and persistence across restarts."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest
import requests

from airflow_provider_metrika.emulator.config import token_hash
from airflow_provider_metrika.emulator.testing import TEST_TOKEN, EmulatorProcess, MetrikaTestApi

pytestmark = pytest.mark.integration

COUNTER = "/management/v1/counter/{counter_id}"
UPLOAD = COUNTER + "/offline_conversions/upload"
UPLOADINGS = COUNTER + "/offline_conversions/uploadings"


def error_of(response) -> tuple[int, str]:
    body = response.json()
    assert body["code"] == response.status_code
    assert body["message"] == body["errors"][0]["message"]
    return response.status_code, body["errors"][0]["error_type"]


def conversions(now: float) -> str:
    return f"ClientId,Target,DateTime\nvisitor1,goal,{int(now) - 60}\n"


# -- auth ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("header", [None, "", "Bearer abc", "OAuth", "OAuth a b"])
def test_missing_or_malformed_auth_is_401(metrika_api, header):
    headers = {} if header is None else {"Authorization": header}
    response = metrika_api.get(COUNTER, token="", headers=headers)
    assert error_of(response) == (401, "unauthorized")


def test_any_token_works_without_a_token_map(metrika_api):
    assert metrika_api.get(COUNTER, token="whatever").status_code == 200


def test_token_map_from_control_api(metrika_api, emulator):
    emulator.configure(tokens={TEST_TOKEN: [12345], "other-token": [1]})
    assert metrika_api.get(COUNTER).status_code == 200
    assert error_of(metrika_api.get("/management/v1/counter/1")) == (403, "access_denied")
    assert error_of(metrika_api.get(COUNTER, token="stranger")) == (403, "invalid_token")
    shown = json.dumps(emulator.config())
    assert TEST_TOKEN not in shown and token_hash(TEST_TOKEN) in shown
    emulator.configure(tokens=None)
    assert metrika_api.get(COUNTER, token="stranger").status_code == 200


def test_token_never_appears_in_errors(metrika_api, emulator):
    emulator.configure(tokens={"good-token": [1]})
    for response in (metrika_api.get(COUNTER), metrika_api.get("/nope"), metrika_api.upload(UPLOAD, b"")):
        assert TEST_TOKEN not in response.text


# -- routing ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "path",
    ["/", "/foo", "/management/v1/counter/1/nope", "/cdp/api/v1/counter/1/data/x", "/stat/v1/data", "/_emulator/x"],
)
def test_unknown_paths_are_404_with_error_body(metrika_api, path):
    assert error_of(metrika_api.get(path)) == (404, "not_found")


def test_wrong_method_is_405_with_error_body(metrika_api):
    assert error_of(metrika_api.request("DELETE", COUNTER)) == (405, "method_not_allowed")
    assert error_of(metrika_api.get(UPLOAD)) == (405, "method_not_allowed")


# -- quotas ----------------------------------------------------------------------------------------
def test_daily_quota(metrika_api, emulator):
    emulator.configure(daily_quota=3)
    assert [metrika_api.get(COUNTER).status_code for _ in range(3)] == [200, 200, 200]
    assert error_of(metrika_api.get(COUNTER)) == (429, "quota_requests_by_uid")
    assert metrika_api.get(COUNTER, token="another-token").status_code == 200
    emulator.configure(quota_status=420)
    assert error_of(metrika_api.get(COUNTER)) == (420, "quota_requests_by_uid")
    emulator.advance(86400)
    assert metrika_api.get(COUNTER).status_code == 200
    stats = emulator.request_stats()
    assert stats["throttled_total"] == 2
    assert stats["by_token"][token_hash(TEST_TOKEN)] == 6
    assert len(stats["by_day"]) == 2
    assert stats["requests"][0]["route"] == "/management/v1/counter/{counter_id}"
    assert TEST_TOKEN not in json.dumps(stats)


def _wait_in_flight(emulator, count: int) -> None:
    deadline = time.monotonic() + 10
    while emulator.request_stats()["in_flight"] < count:
        assert time.monotonic() < deadline, "request never reached the emulator"
        time.sleep(0.01)


def test_parallel_limit(metrika_api, emulator):
    emulator.configure(parallel_limit=1)
    emulator.inject_fault(method="GET", path="/uploadings$", action="delay", seconds=1.0)
    slow: list[int] = []
    worker = threading.Thread(target=lambda: slow.append(metrika_api.get(UPLOADINGS).status_code))
    worker.start()
    _wait_in_flight(emulator, 1)
    assert error_of(MetrikaTestApi(metrika_api.base_url).get(COUNTER)) == (429, "quota_parallel_requests")
    assert MetrikaTestApi(metrika_api.base_url, token="someone-else").get(COUNTER).status_code == 200
    worker.join()
    assert slow == [200]
    assert metrika_api.get(COUNTER).status_code == 200


def test_default_parallel_limit_is_three(metrika_api, emulator):
    emulator.inject_fault(method="GET", path="/uploadings$", action="delay", seconds=1.0, times=3)
    results: list[int] = []
    workers = [
        threading.Thread(
            target=lambda: results.append(MetrikaTestApi(metrika_api.base_url).get(UPLOADINGS).status_code)
        )
        for _ in range(3)
    ]
    for worker in workers:
        worker.start()
    _wait_in_flight(emulator, 3)
    assert error_of(metrika_api.get(COUNTER))[1] == "quota_parallel_requests"
    for worker in workers:
        worker.join()
    assert results == [200, 200, 200]


# -- faults ----------------------------------------------------------------------------------------
def test_status_fault_fires_given_times(metrika_api, emulator):
    fault_id = emulator.inject_fault(method="GET", path=r"/counter/\d+$", action="status", status=503, times=2)
    assert error_of(metrika_api.get(COUNTER)) == (503, "backend_error")
    assert error_of(metrika_api.get(COUNTER)) == (503, "backend_error")
    assert metrika_api.get(COUNTER).status_code == 200
    assert emulator.faults() == [
        {
            "id": fault_id,
            "method": "GET",
            "path": r"/counter/\d+$",
            "action": "status",
            "times": 2,
            "status": 503,
            "remaining": 0,
            "hits": 2,
        }
    ]


def test_fault_matches_method_and_path(metrika_api, emulator):
    emulator.inject_fault(method="POST", path="/upload$", action="status", status=500, error_type="backend_error")
    assert metrika_api.get(COUNTER).status_code == 200
    assert metrika_api.get(UPLOADINGS).status_code == 200
    assert error_of(metrika_api.upload(UPLOAD, conversions(emulator.now()))) == (500, "backend_error")


def test_fault_without_limit_fires_until_cleared(metrika_api, emulator):
    emulator.inject_fault(path="counter", action="status", status=502, times=None)
    assert [metrika_api.get(COUNTER).status_code for _ in range(3)] == [502, 502, 502]
    emulator.clear_faults()
    assert emulator.faults() == []
    assert metrika_api.get(COUNTER).status_code == 200


def test_quota_fault_with_retry_after(metrika_api, emulator):
    emulator.inject_fault(action="quota", error_type="quota_requests_by_ip", retry_after=2)
    response = metrika_api.get(COUNTER)
    assert error_of(response) == (429, "quota_requests_by_ip")
    assert response.headers["Retry-After"] == "2"
    emulator.inject_fault(action="quota", status=420, error_type="quota_parallel_requests")
    assert error_of(metrika_api.get(COUNTER)) == (420, "quota_parallel_requests")
    assert emulator.request_stats()["throttled_total"] == 2


def test_delay_fault(metrika_api, emulator):
    emulator.inject_fault(action="delay", seconds=0.3)
    started = time.monotonic()
    assert metrika_api.get(COUNTER).status_code == 200
    assert time.monotonic() - started >= 0.3


def test_reset_before_stores_nothing(metrika_api, emulator):
    emulator.inject_fault(method="POST", path="/upload$", action="reset_before")
    with pytest.raises(requests.ConnectionError):
        metrika_api.upload(UPLOAD, conversions(emulator.now()))
    assert emulator.uploadings() == []
    assert metrika_api.upload(UPLOAD, conversions(emulator.now())).status_code == 200


def test_reset_after_stores_the_uploading(metrika_api, emulator):
    emulator.inject_fault(method="POST", path="/upload$", action="reset_after")
    content = conversions(emulator.now())
    with pytest.raises(requests.ConnectionError):
        metrika_api.upload(UPLOAD, content, params={"comment": "fp1"})
    stored = emulator.uploadings(kind="offline_conversions")
    assert [(u["comment"], u["rows"], u["size"]) for u in stored] == [("fp1", 1, len(content))]


def test_drop_response_hangs_then_aborts(metrika_api, emulator):
    emulator.inject_fault(method="POST", path="/upload$", action="drop_response", seconds=1.5)
    api = MetrikaTestApi(metrika_api.base_url, timeout=0.5)
    with pytest.raises(requests.exceptions.ReadTimeout):
        api.upload(UPLOAD, conversions(emulator.now()))
    assert len(emulator.uploadings()) == 1


@pytest.mark.parametrize(
    "spec",
    [
        {"action": "explode"},
        {"action": "status", "path": "("},
        {"action": "delay", "times": 0},
        {"action": "delay", "x": 1},
    ],
)
def test_bad_fault_specs_are_rejected(emulator, spec):
    with pytest.raises(requests.HTTPError) as raised:
        emulator.inject_fault(**spec)
    assert raised.value.response.status_code == 400


# -- control API -----------------------------------------------------------------------------------
def test_clock_is_frozen_and_advances(emulator):
    start = emulator.now()
    assert emulator.now() == start
    assert emulator.advance(90) == pytest.approx(start + 90)
    clock = requests.get(emulator.base_url + "/_emulator/clock").json()
    assert clock["iso"].endswith("Z")
    response = requests.post(emulator.base_url + "/_emulator/clock/advance", json={"seconds": -1})
    assert error_of(response) == (400, "invalid_parameter")


def test_config_updates_are_partial_and_validated(emulator):
    emulator.configure(stage_seconds=5)
    config = emulator.configure(daily_quota=10)
    assert (config["stage_seconds"], config["daily_quota"], config["parallel_limit"]) == (5, 10, 3)
    for bad in ({"stage_seconds": "fast"}, {"parallel_limit": 0}, {"quota_status": 500}, {"colour": 1}):
        with pytest.raises(requests.HTTPError):
            emulator.configure(**bad)
    response = requests.post(emulator.base_url + "/_emulator/config", data=b"not json")
    assert error_of(response) == (400, "invalid_json")


def test_visitors_need_a_list(emulator):
    response = requests.post(emulator.base_url + "/_emulator/visitors", json={"ids": "abc"})
    assert error_of(response) == (400, "invalid_parameter")


def test_reset_wipes_everything(metrika_api, emulator):
    metrika_api.upload(UPLOAD, conversions(emulator.now()))
    emulator.inject_fault(action="delay", seconds=0)
    emulator.configure(stage_seconds=1, daily_quota=100)
    emulator.advance(1000)
    emulator.reset()
    assert emulator.uploadings() == [] and emulator.faults() == []
    assert emulator.request_stats()["total"] == 0
    assert emulator.config()["stage_seconds"] == 60 and emulator.config()["daily_quota"] is None
    assert abs(emulator.now() - time.time()) < 60


def test_inspection_of_uploadings(metrika_api, emulator):
    content = conversions(emulator.now())
    uploading = metrika_api.upload(UPLOAD, content, params={"comment": "abc"}).json()["uploading"]
    (stored,) = emulator.uploadings()
    assert stored["kind"] == "offline_conversions" and stored["counter_id"] == 12345
    assert (stored["id"], stored["status"], stored["comment"], stored["rows"]) == (
        uploading["id"],
        "UPLOADED",
        "abc",
        1,
    )
    assert stored["size"] == len(content) and len(stored["sha256"]) == 64
    assert emulator.uploadings(kind="calls") == [] and emulator.uploadings(counter_id=1) == []
    emulator.finish_all()
    assert emulator.uploadings()[0]["status"] == "PROCESSED"


def test_metrika_conn_points_at_the_emulator(metrika_conn, emulator_process, monkeypatch):
    import os

    conn = json.loads(os.environ["AIRFLOW_CONN_METRIKA_DEFAULT"])
    assert metrika_conn == "metrika_default"
    assert conn["host"] == emulator_process.url and conn["password"] == TEST_TOKEN
    assert conn["extra"]["counter_id"] == 12345


# -- process ---------------------------------------------------------------------------------------
def test_state_survives_restart(tmp_path):
    with EmulatorProcess(str(tmp_path / "state.db")) as process:
        api = MetrikaTestApi(process.url)
        client = process.client
        client.configure(stage_seconds=100)
        client.add_visitors(["unknown-registered"])
        content = f"ClientId,Target,DateTime\nunknown-registered,goal,{int(client.now()) - 10}\n"
        first = api.upload(UPLOAD, content).json()["uploading"]
        client.advance(150)
        api.post(
            "/cdp/api/v1/counter/{counter_id}/data/contacts/json?merge_mode=SAVE", json={"contacts": [{"uniq_id": "a"}]}
        )
        clock_before, port = client.now(), process.port
        process.restart()
        assert process.port == port
        client = process.client
        assert client.now() == pytest.approx(clock_before)
        assert client.config()["stage_seconds"] == 100
        body = api.get(UPLOADINGS).json()["uploadings"]
        assert [(u["id"], u["status"]) for u in body] == [(first["id"], "UPLOADED")]
        assert client.request_stats()["total"] == 3
        second = api.upload(UPLOAD, content).json()["uploading"]
        assert second["id"] > first["id"]
        client.finish_all()
        assert api.get(UPLOADINGS).json()["uploadings"][1]["status"] == "PROCESSED"
        assert len(api.get("/cdp/api/v1/counter/{counter_id}/last_uploadings").json()["uploadings"]) == 1
        assert process.stop() == 0


def test_real_clock_and_tokens_file(tmp_path):
    tokens = tmp_path / "tokens.json"
    tokens.write_text(json.dumps({"file-token": [5]}))
    with EmulatorProcess(None, "--clock", "real", "--speed", "1000", "--tokens", str(tokens)) as process:
        first = process.client.now()
        assert process.client.now() > first
        api = MetrikaTestApi(process.url, token="file-token", counter_id=5)
        assert api.get(COUNTER).status_code == 200
        assert error_of(api.get(COUNTER, token="other")) == (403, "invalid_token")


def test_bad_cli_arguments_fail_to_start(tmp_path):
    (tmp_path / "tokens.json").write_text('{"t": "not-a-list"}')
    process = EmulatorProcess(None, "--tokens", str(tmp_path / "tokens.json"))
    with pytest.raises(RuntimeError, match="did not start"):
        process.start()
    assert not process.running
    process.close()


def test_emulator_process_removes_the_state_it_made():
    with EmulatorProcess() as process:
        state = Path(process.db_path).parent
        assert process.client.health() and state.is_dir()
        process.restart()  # a restart keeps the state
        assert Path(process.db_path).exists()
    assert not state.exists()


def test_a_sigkilled_emulator_comes_back_on_its_port_with_its_state(tmp_path):
    """What the deployment test does to the emulator: SIGKILL its process group, start it again on the same port."""
    process = EmulatorProcess(str(tmp_path / "state.db"))
    assert process.pid is None
    with process:
        pid, port = process.pid, process.port
        assert os.getpgid(pid) == pid  # it leads its own process group, which a shell trap can kill whole
        first = MetrikaTestApi(process.url).upload(
            UPLOAD, f"ClientId,Target,DateTime\n1,goal,{int(process.client.now()) - 10}\n"
        )
        os.killpg(pid, signal.SIGKILL)
        process.stop()
        process.port = port
        process.start()
        assert process.pid != pid and process.port == port
        body = MetrikaTestApi(process.url).get(UPLOADINGS).json()["uploadings"]
        assert [u["id"] for u in body] == [first.json()["uploading"]["id"]]
