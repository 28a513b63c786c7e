"""The Fleetio emulator over loopback: keyset pagination, statuses on the clock, errors, rate limit."""

from __future__ import annotations

import pytest
import requests

from tests.conftest import FLEETIO_ACCOUNT, FLEETIO_API_KEY

pytestmark = pytest.mark.integration
HEADERS = {"Authorization": f"Token {FLEETIO_API_KEY}", "Account-Token": FLEETIO_ACCOUNT, "X-Api-Version": "2024-01-01"}


class Api:
    def __init__(self, url: str, control):
        self.url, self.control = url, control
        self.session = requests.Session()

    def get(self, path: str = "/api/v1/imports", headers=None, **params) -> requests.Response:
        sent = HEADERS if headers is None else headers
        return self.session.get(self.url + path, params=params, headers=sent, timeout=30)

    def person_imports(self, file_name: str = "vehicles.csv", rows=None, **extra) -> dict:
        body = {"type": "VehicleImport", "file_name": file_name, "rows": rows or [{"status": "created"}], **extra}
        return self.control.call("POST", "fleetio/imports", json=body)


@pytest.fixture
def api(fleetio, fleetio_process):
    client = Api(fleetio_process.url, fleetio)
    yield client
    client.session.close()


def test_statuses_follow_the_clock(api, fleetio):
    fleetio.configure(stage_seconds=5)
    ok = api.person_imports(rows=[{"status": "created"}, {"status": "updated"}])["id"]
    partial = api.person_imports(rows=[{"status": "created"}, {"status": "error", "message": "VIN taken"}])["id"]
    failed = api.person_imports(rows=[{"status": "error"}])["id"]
    odd = api.person_imports(outcome="unsupported")["id"]

    def statuses() -> dict:
        return {r["id"]: r["status"] for r in api.get().json()["records"]}

    assert set(statuses().values()) == {"new"}
    fleetio.advance(5)
    assert set(statuses().values()) == {"queued"}
    fleetio.advance(5)
    assert set(statuses().values()) == {"processing"}
    fleetio.advance(5)
    assert statuses() == {ok: "complete", partial: "partially_complete", failed: "failed", odd: "unsupported"}
    record = api.get().json()["records"][-1]
    assert record["completed_at"] and record["file_size"].isdigit() and record["type"] == "VehicleImport"
    fleetio.call("POST", f"fleetio/imports/{ok}/rollback")
    assert statuses()[ok] == "rolling_back"
    fleetio.advance(5)
    assert statuses()[ok] == "rolled_back"


def test_keyset_pages_neither_repeat_nor_skip_when_imports_arrive_meanwhile(api):
    ids = [api.person_imports(f"f{i}.csv")["id"] for i in range(7)]
    first = api.get(per_page=3).json()
    assert [r["id"] for r in first["records"]] == ids[6:3:-1]
    assert first["sorted_by"] == [{"id": "desc"}] and first["estimated_remaining_count"] == 7
    api.person_imports("late.csv")  # a higher id, before the cursor
    second = api.get(per_page=3, start_cursor=first["next_cursor"]).json()
    assert [r["id"] for r in second["records"]] == ids[3:0:-1] and second["start_cursor"] == first["next_cursor"]
    third = api.get(per_page=3, start_cursor=second["next_cursor"]).json()
    assert [r["id"] for r in third["records"]] == ids[:1] and third["next_cursor"] is None
    assert third["estimated_remaining_count"] == 1


def test_a_cursor_is_valid_only_with_its_query(api):
    ids = [api.person_imports(f"f{i}.csv")["id"] for i in range(3)]
    cursor = api.get(per_page=2).json()["next_cursor"]
    other = api.get(per_page=2, start_cursor=cursor, **{"sort[created_at]": "asc"})
    assert other.status_code == 422 and list(other.json()["errors"]) == ["start_cursor"]
    assert api.get(per_page=2, start_cursor="garbage!").status_code == 422
    assert api.get(per_page=50, start_cursor=cursor).status_code == 200  # per_page may change
    results = api.get(f"/api/v1/imports/{ids[0]}/results", per_page=2, start_cursor=cursor)
    assert results.status_code == 422  # a cursor of another list


def test_estimated_remaining_count_is_capped_at_500(api):
    api.person_imports(count=501)
    page = api.get(per_page=100).json()
    assert page["estimated_remaining_count"] == 500 and len(page["records"]) == 100


def test_filters_and_sorts(api, fleetio):
    api.person_imports("a.csv", rows=[{"status": "error"}])
    moment = fleetio.now()
    fleetio.advance(100)
    api.person_imports("b.csv")
    fleetio.advance(15)
    failed = api.get(**{"filter[status][include]": "failed,incomplete"}).json()
    assert [r["file_name"] for r in failed["records"]] == ["a.csv"]
    assert failed["filtered_by"] == [{"status": {"include": "failed,incomplete"}}]
    import datetime as dt

    later = dt.datetime.fromtimestamp(moment + 50, dt.UTC).isoformat().replace("+00:00", "Z")
    newer = api.get(**{"filter[created_at][gte]": later}).json()["records"]
    assert [r["file_name"] for r in newer] == ["b.csv"]
    ascending = api.get(**{"sort[created_at]": "asc"}).json()
    assert [r["file_name"] for r in ascending["records"]] == ["a.csv", "b.csv"]
    assert ascending["sorted_by"] == [{"created_at": "asc"}]
    for bad in (
        {"per_page": 1},
        {"per_page": 101},
        {"filter[status][include]": "done"},
        {"filter[created_at][gte]": later, "filter[created_at][lt]": later},
        {"filter[created_at][gte]": "yesterday"},
        {"sort[file_name]": "asc"},
        {"q[status_eq]": "failed"},
    ):
        answer = api.get(**bad)
        assert answer.status_code == 422 and isinstance(answer.json()["errors"], dict), bad


def test_row_results_are_pending_until_the_import_ends(api, fleetio):
    item = api.person_imports(rows=[{"status": "created"}, {"status": "error", "message": "bad VIN"}])["id"]
    rows = api.get(f"/api/v1/imports/{item}/results").json()["records"]
    assert [r["status"] for r in rows] == ["pending", "pending"]
    fleetio.advance(15)
    errors = api.get(f"/api/v1/imports/{item}/results", **{"filter[status][include]": "error"}).json()["records"]
    assert [(r["row_number"], r["message"], r["imported_type"], r["record_id"]) for r in errors] == [
        (2, "bad VIN", "Vehicle", None)
    ]


def test_both_error_shapes(api):
    unauthorized = api.get(headers={**HEADERS, "Authorization": "Bearer x"})
    assert unauthorized.status_code == 401
    problem = unauthorized.json()
    assert set(problem) == {"status", "title", "detail", "instance"} and problem["instance"] == "/api/v1/imports"
    legacy = api.get(headers={"Authorization": "Token k"})  # no Account-Token, key's pinned 2023 version
    assert legacy.status_code == 401 and legacy.text.startswith("HTTP Token: Access denied")
    missing = api.get("/api/v1/imports/999/results")
    assert missing.status_code == 404 and missing.json()["title"] == "Not Found"
    unversioned = api.get(headers={k: v for k, v in HEADERS.items() if k != "X-Api-Version"})
    assert unversioned.status_code == 422 and "X-Api-Version" in unversioned.json()["errors"]


def test_sliding_window_rate_limit_with_retry_after(api, fleetio):
    fleetio.configure(rate_limit=3, rate_window=60)
    for _ in range(3):
        assert api.get().status_code == 200
        fleetio.advance(10)
    refused = api.get()
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "30"
    assert refused.json()["error"].startswith("Too many requests")
    fleetio.advance(30)
    assert api.get().status_code == 200


def test_registered_keys_only(api, fleetio):
    fleetio.configure(api_keys={FLEETIO_API_KEY: FLEETIO_ACCOUNT})
    assert api.get().status_code == 200
    assert api.get(headers={**HEADERS, "Account-Token": "someone-else"}).status_code == 401
