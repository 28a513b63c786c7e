"""Where the emulator follows production practice: legacy endpoints, the counters list, the
user-params confirm body and PUT, header-less user parameters, and the switches that pick a reading."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import requests

from airflow_provider_metrika.emulator.linkage import is_known_visitor
from airflow_provider_metrika.emulator.testing import TEST_TOKEN
from airflow_provider_metrika.hooks.metrika import MetrikaHook

pytestmark = pytest.mark.integration

BASE = "/management/v1/counter/{counter_id}"
OFFLINE = BASE + "/offline_conversions"
PARAMS_UPLOAD = BASE + "/user_params/uploadings/upload"
PARAMS_UPLOADING = BASE + "/user_params/uploading/{id}"
PARAMS_CONFIRM = PARAMS_UPLOADING + "/confirm"
TRIPLES = '"P12345","age",42\r\n"unknown-1","name","abc"\r\n"P777","city","Msk"'


def at(path: str, uploading_id) -> str:
    return path.replace("{id}", str(uploading_id))


def error_of(response) -> tuple[int, str]:
    return response.status_code, response.json()["errors"][0]["error_type"]


def upload_params(metrika_api, content: str, **params) -> dict:
    response = metrika_api.upload(PARAMS_UPLOAD, content, params={"action": "update", **params})
    assert response.status_code == 200, response.text
    return response.json()["uploading"]


@pytest.mark.parametrize("prefix", ["", "calls_"])
def test_legacy_window_endpoints(metrika_api, emulator, prefix):
    for method in ("POST", "DELETE"):
        response = metrika_api.request(method, f"{OFFLINE}/{prefix}extended_threshold")
        assert response.json() == {"success": True}
    emulator.advance(86400)
    date = metrika_api.get(f"{OFFLINE}/{prefix}visit_join_threshold").json()["date"]
    expected = dt.datetime.fromtimestamp(emulator.now() - 21 * 86400, tz=dt.UTC).date().isoformat()
    assert date == expected


def test_legacy_json_suffix_serves_every_management_route(metrika_api, emulator):
    content = f"ClientId,Target,DateTime\nabc,goal,{int(emulator.now()) - 60}\n"
    uploaded = metrika_api.upload(OFFLINE + "/upload.json", content).json()["uploading"]
    listed = metrika_api.get(OFFLINE + "/uploadings.json").json()["uploadings"]
    assert [item["id"] for item in listed] == [uploaded["id"]]
    assert metrika_api.get(f"{OFFLINE}/uploading/{uploaded['id']}.json").json()["uploading"] == uploaded
    assert metrika_api.get(BASE + ".json").json()["counter"]["id"] == 12345
    assert error_of(metrika_api.get("/cdp/api/v1/counter/{counter_id}/last_uploadings.json"))[0] == 404


def test_counters_list_without_a_token_map_names_counters_with_data(metrika_api, emulator):
    assert metrika_api.get("/management/v1/counters").json() == {"rows": 0, "counters": []}
    content = f"ClientId,Target,DateTime\nabc,goal,{int(emulator.now()) - 60}\n"
    for counter in (12345, 7):
        metrika_api.upload(OFFLINE.replace("{counter_id}", str(counter)) + "/upload", content)
    body = metrika_api.get("/management/v1/counters", params={"per_page": 1, "offset": 2}).json()
    assert body["rows"] == 2 and [counter["id"] for counter in body["counters"]] == [12345]
    assert error_of(metrika_api.get("/management/v1/counters", params={"per_page": 0})) == (400, "invalid_parameter")


def test_counters_list_with_a_token_map_names_the_tokens_counters(metrika_api, emulator):
    emulator.configure(tokens={TEST_TOKEN: [30, 10], "other": [1]})
    body = metrika_api.get("/management/v1/counters").json()
    assert body["rows"] == 2 and [counter["id"] for counter in body["counters"]] == [10, 30]
    assert error_of(metrika_api.get("/management/v1/counters", token="stranger")) == (403, "invalid_token")


def test_test_connection_without_a_counter_id(emulator_process, emulator, monkeypatch):
    conn = {"conn_type": "yandex_metrika", "host": emulator_process.url, "password": TEST_TOKEN}
    monkeypatch.setenv("AIRFLOW_CONN_METRIKA_NOCOUNTER", json.dumps(conn))
    ok, message = MetrikaHook("metrika_nocounter").test_connection()
    assert ok, message
    assert "token is accepted" in message and TEST_TOKEN not in message


def test_confirm_applies_comment_content_id_type_and_action(metrika_api, emulator):
    uploading = upload_params(metrika_api, "ClientId,tier\n1,gold\n", comment="fromupload")
    body = {"uploading": {"id": uploading["id"], "comment": "Файл file.csv", "action": "DELETE_KEYS"}}
    confirmed = metrika_api.post(at(PARAMS_CONFIRM, uploading["id"]), json=body).json()["uploading"]
    assert (confirmed["comment"], confirmed["action"], confirmed["status"]) == (
        "Файл file.csv",
        "delete_keys",
        "is_processed",
    )
    again = metrika_api.get(at(PARAMS_UPLOADING, uploading["id"])).json()["uploading"]
    assert again["comment"] == "Файл file.csv" and again["content_id_type"] == "client_id"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"{not json", (400, "invalid_json")),
        (b"[1, 2]", (400, "invalid_parameter")),
        (b'{"uploading": "x"}', (400, "invalid_parameter")),
        (b'{"uploading": {"content_id_type": "email"}}', (400, "invalid_parameter")),
        (b'{"uploading": {"action": "replace"}}', (400, "invalid_parameter")),
        (b'{"uploading": {"comment": 5}}', (400, "invalid_parameter")),
        (b'{"uploading": {"comment": "' + b"x" * 256 + b'"}}', (400, "invalid_parameter")),
    ],
    ids=["malformed", "not-object", "uploading-not-object", "id-type", "action", "comment-type", "comment-long"],
)
def test_bad_confirm_bodies_are_refused_and_leave_the_uploading_unconfirmed(metrika_api, emulator, body, expected):
    uploading = upload_params(metrika_api, "ClientId,tier\n1,gold\n")
    response = metrika_api.post(
        at(PARAMS_CONFIRM, uploading["id"]), data=body, headers={"Content-Type": "application/json"}
    )
    assert error_of(response) == expected
    assert metrika_api.get(at(PARAMS_UPLOADING, uploading["id"])).json()["uploading"]["status"] == "uploaded"


def test_upload_comment_can_be_ignored_so_only_the_confirm_sets_it(metrika_api, emulator):
    emulator.configure(upload_comment="ignore")
    uploading = upload_params(metrika_api, "ClientId,tier\n1,gold\n", comment="crmafm123")
    assert uploading["comment"] == ""
    body = {"uploading": {"id": uploading["id"], "comment": "crmafm123"}}
    assert metrika_api.post(at(PARAMS_CONFIRM, uploading["id"]), json=body).json()["uploading"]["comment"] == (
        "crmafm123"
    )


def test_put_edits_the_comment(metrika_api, emulator):
    uploading = upload_params(metrika_api, "ClientId,tier\n1,gold\n", comment="old")
    response = metrika_api.request("PUT", at(PARAMS_UPLOADING, uploading["id"]), json={"uploading": {"comment": "new"}})
    assert response.json()["uploading"]["comment"] == "new"
    assert metrika_api.get(at(PARAMS_UPLOADING, uploading["id"])).json()["uploading"]["comment"] == "new"
    assert error_of(metrika_api.request("PUT", at(PARAMS_UPLOADING, 99999), json={"uploading": {}})) == (
        404,
        "not_found",
    )


def test_header_less_triples_need_the_id_type_at_confirm(metrika_api, emulator):
    uploading = upload_params(metrika_api, TRIPLES)
    assert (uploading["line_quantity"], uploading["content_id_type"]) == (3, "")
    bare = metrika_api.post(at(PARAMS_CONFIRM, uploading["id"]), json={"uploading": {"id": uploading["id"]}})
    assert error_of(bare) == (400, "missing_parameter")
    body = {"uploading": {"id": uploading["id"], "content_id_type": "user_id"}}
    assert metrika_api.post(at(PARAMS_CONFIRM, uploading["id"]), json=body).json()["uploading"]["content_id_type"] == (
        "user_id"
    )
    emulator.finish_all()
    done = metrika_api.get(at(PARAMS_UPLOADING, uploading["id"])).json()["uploading"]
    # Every line is data (no header skipped): P12345 and P777 link under the sha1 rule, unknown-1 never does.
    assert done["status"] == "processed" and done["line_quantity"] == 3
    assert done["linked_quantity"] == sum(1 for visitor in ("P12345", "P777") if _known(visitor))


def _known(visitor: str) -> bool:
    return is_known_visitor(visitor)


@pytest.mark.parametrize(
    ("key", "value"),
    [("first_status", "DONE"), ("comment_chars", "ascii"), ("upload_comment", True)],
)
def test_switches_accept_only_their_choices(emulator, key, value):
    response = requests.post(f"{emulator.base_url}/_emulator/config", json={key: value}, timeout=10)
    assert response.status_code == 400 and key in response.text
