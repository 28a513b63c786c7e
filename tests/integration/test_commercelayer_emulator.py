"""The Commerce Layer emulator over loopback: tokens, JSON:API rules, the import lifecycle on its clock."""

from __future__ import annotations

import pytest
import requests

from tests.conftest import CL_CLIENT_ID, CL_CLIENT_SECRET

pytestmark = pytest.mark.integration
MEDIA = "application/vnd.api+json"


class Api:
    def __init__(self, url: str):
        self.url = url
        self.session = requests.Session()
        self.token = self.fetch_token().json()["access_token"]

    def fetch_token(self, **extra) -> requests.Response:
        body = {"grant_type": "client_credentials", "client_id": CL_CLIENT_ID, "client_secret": CL_CLIENT_SECRET}
        return self.session.post(self.url + "/oauth/token", json={**body, **extra}, timeout=30)

    def call(self, method: str, path: str, *, token: str | None = None, headers=None, **kwargs) -> requests.Response:
        sent = {"Authorization": f"Bearer {token or self.token}", "Accept": MEDIA, "Content-Type": MEDIA}
        sent.update(headers or {})
        return self.session.request(method, self.url + path, headers=sent, timeout=30, **kwargs)

    def create(self, inputs, **attributes) -> requests.Response:
        attributes = {"resource_type": "skus", "inputs": inputs, **attributes}
        document = {"data": {"type": "imports", "attributes": attributes}}
        return self.call("POST", "/api/imports", json=document)

    def status(self, import_id: str) -> dict:
        answer = self.call("GET", f"/api/imports/{import_id}", params={"fields[imports]": "status,errors_count"})
        return answer.json()["data"]["attributes"]


@pytest.fixture
def api(commercelayer, commercelayer_process):
    client = Api(commercelayer_process.url)
    yield client
    client.session.close()


def skus(count: int, start: int = 0) -> list[dict]:
    return [{"code": f"SKU{i:05d}", "name": f"Item {i}"} for i in range(start, start + count)]


def test_an_import_goes_pending_in_progress_completed_on_the_clock(api, commercelayer):
    commercelayer.configure(stage_seconds=5)
    created = api.create(skus(3), reference="erp-1", metadata={"batch": 7})
    assert created.status_code == 201 and created.headers["Content-Type"].startswith(MEDIA)
    attributes = created.json()["data"]["attributes"]
    assert (attributes["status"], attributes["inputs_size"], attributes["reference"]) == ("pending", 3, "erp-1")
    assert attributes["metadata"] == {"batch": 7}
    import_id = created.json()["data"]["id"]
    commercelayer.advance(5)
    assert api.status(import_id)["status"] == "in_progress"
    commercelayer.advance(5)
    done = api.call("GET", f"/api/imports/{import_id}").json()["data"]["attributes"]
    assert done["status"] == "completed" and done["processed_count"] == 3 and done["errors_count"] == 0
    assert done["completed_at"] and done["started_at"] and done["interrupted_at"] is None


def test_more_than_ten_percent_errors_interrupt_unless_skip_errors(api, commercelayer):
    bad = [*skus(8), {"code": "NONAME"}, {"name": "no code"}]
    interrupted = api.create(bad).json()["data"]["id"]
    skipped = api.create(bad, skip_errors=True).json()["data"]["id"]
    commercelayer.advance(10)
    fields = {"fields[imports]": "status,errors_count,errors_log,processed_count"}
    first = api.call("GET", f"/api/imports/{interrupted}", params=fields).json()["data"]["attributes"]
    assert first["status"] == "interrupted" and first["errors_count"] == 2
    assert first["errors_log"] == {"NONAME": {"name": ["can't be blank"]}, "9": {"code": ["can't be blank"]}}
    second = api.call("GET", f"/api/imports/{skipped}", params=fields).json()["data"]["attributes"]
    assert (second["status"], second["errors_count"], second["processed_count"]) == ("completed", 2, 8)


def test_ten_percent_errors_exactly_still_complete(api, commercelayer):
    item = api.create([*skus(9), {"code": "X"}]).json()["data"]["id"]
    commercelayer.advance(10)
    assert api.status(item) == {"status": "completed", "errors_count": 1}


def test_more_than_10000_inputs_are_refused_with_a_json_api_error(api):
    answer = api.create([{"code": str(i), "name": "n"} for i in range(10_001)])
    assert answer.status_code == 422
    (error,) = answer.json()["errors"]
    assert error["code"] == "VALIDATION_ERROR" and error["status"] == "422"
    assert error["source"] == {"pointer": "/data/attributes/inputs"}
    assert api.create([{"code": str(i), "name": "n"} for i in range(10_000)]).status_code == 201


def test_an_eleventh_open_import_stays_pending_until_a_slot_frees(api, commercelayer):
    ids = [api.create(skus(1, start=i)).json()["data"]["id"] for i in range(11)]
    commercelayer.advance(5)
    statuses = [api.status(i)["status"] for i in ids]
    assert statuses == ["in_progress"] * 10 + ["pending"]
    commercelayer.advance(5)
    assert [api.status(i)["status"] for i in ids] == ["completed"] * 10 + ["in_progress"]
    commercelayer.advance(5)
    assert api.status(ids[-1])["status"] == "completed"


def test_a_re_import_upserts_by_natural_key(api, commercelayer):
    """Same SKU codes in two imports: still one record per code, each written twice (idempotent)."""
    for _ in range(2):
        api.create(skus(3))
        commercelayer.advance(10)
    records = commercelayer.call("GET", "commercelayer/records/skus")["records"]
    assert [(r["key"], r["writes"]) for r in records] == [("SKU00000", 2), ("SKU00001", 2), ("SKU00002", 2)]
    customers = [{"email": "a@example.com", "first_name": "A"}, {"email": "a@example.com", "first_name": "B"}]
    created = api.create(customers, resource_type="customers").json()["data"]["id"]
    commercelayer.advance(10)
    (record,) = commercelayer.call("GET", "commercelayer/records/customers")["records"]
    # the same email twice in one import: the second is skipped with a warning (the emulator's lenient default)
    assert record["attributes"]["first_name"] == "A" and record["writes"] == 1
    assert api.call("GET", f"/api/imports/{created}").json()["data"]["attributes"]["warnings_count"] == 1


def test_csv_inputs_and_parent_resource_id(api, commercelayer):
    text = "sku_code,amount_cents\nSKU1,1000\nSKU2,2000\n"
    item = api.create(text, resource_type="prices", format="csv", parent_resource_id="PL1").json()["data"]
    assert item["attributes"]["inputs_size"] == 2
    commercelayer.advance(10)
    records = commercelayer.call("GET", "commercelayer/records/prices")["records"]
    assert [r["key"] for r in records] == ["SKU1|PL1", "SKU2|PL1"]
    refused = api.create(text, resource_type="prices")
    assert refused.status_code == 422 and "format" in refused.text


def test_interrupt_a_pending_import_applies_nothing(api, commercelayer):
    item = api.create(skus(2)).json()["data"]["id"]
    patch = {"data": {"type": "imports", "id": item, "attributes": {"_interrupt": True, "reference": "r2"}}}
    answer = api.call("PATCH", f"/api/imports/{item}", json=patch).json()["data"]["attributes"]
    assert answer["status"] == "interrupted" and answer["interrupted_at"] and answer["reference"] == "r2"
    commercelayer.advance(60)
    assert api.status(item)["status"] == "interrupted"
    assert commercelayer.call("GET", "commercelayer/records/skus")["records"] == []
    done = api.create(skus(1)).json()["data"]["id"]
    commercelayer.advance(10)
    again = {"data": {"type": "imports", "id": done, "attributes": {"_interrupt": True}}}
    assert api.call("PATCH", f"/api/imports/{done}", json=again).status_code == 422


def test_sparse_fieldsets_filters_sort_and_pages(api, commercelayer):
    for i in range(3):
        api.create(skus(1, start=i), reference=f"group-{i}")
    only = api.call("GET", "/api/imports", params={"filter[q][reference_eq]": "group-1", "fields[imports]": "status"})
    (item,) = only.json()["data"]
    assert item["attributes"] == {"status": "pending"} and only.json()["meta"]["record_count"] == 1
    page = api.call("GET", "/api/imports", params={"page[size]": 2, "sort": "-reference"}).json()
    assert [i["attributes"]["reference"] for i in page["data"]] == ["group-2", "group-1"]
    assert page["meta"] == {"record_count": 3, "page_count": 2} and "next" in page["links"]
    starts = api.call("GET", "/api/imports", params={"filter[q][reference_start]": "group-"}).json()
    assert starts["meta"]["record_count"] == 3
    for bad in ({"page[size]": 26}, {"filter[q][nope_eq]": 1}, {"fields[imports]": "status,bogus"}, {"sort": "x"}):
        answer = api.call("GET", "/api/imports", params=bad)
        assert answer.status_code == 400 and answer.json()["errors"][0]["status"] == "400", bad


def test_json_api_content_negotiation(api):
    assert api.call("GET", "/api/imports", headers={"Accept": "text/html"}).status_code == 406
    document = {"data": {"type": "imports", "attributes": {"resource_type": "skus", "inputs": skus(1)}}}
    wrong = api.call("POST", "/api/imports", json=document, headers={"Content-Type": "application/json"})
    assert wrong.status_code == 415 and wrong.json()["errors"][0]["code"] == "UNSUPPORTED_MEDIA_TYPE"
    typed = api.call("POST", "/api/imports", json={"data": {"type": "skus", "attributes": {}}})
    assert typed.status_code == 409


def test_tokens_expire_on_the_clock_and_unknown_ones_get_401(api, commercelayer):
    commercelayer.configure(token_ttl_seconds=60)
    fresh = api.fetch_token().json()
    assert fresh["token_type"] == "bearer" and fresh["expires_in"] == 60 and fresh["scope"] == "market:all"
    assert api.call("GET", "/api/imports", token=fresh["access_token"]).status_code == 200
    commercelayer.advance(60)
    expired = api.call("GET", "/api/imports", token=fresh["access_token"])
    assert expired.status_code == 401 and expired.json()["errors"][0]["code"] == "INVALID_TOKEN"
    assert api.call("GET", "/api/imports", token="made-up").status_code == 401
    scoped = api.fetch_token(scope="market:code:europe").json()
    assert scoped["scope"] == "market:code:europe"
    assert api.fetch_token(scope="everything please").status_code == 400
    assert api.fetch_token(grant_type="password").status_code == 400


def test_the_token_endpoint_has_its_own_rate_limit(api, commercelayer):
    commercelayer.configure(oauth_limit=2, oauth_interval=60)
    api.fetch_token()  # the fixture fetched one already: this is the second in the window
    refused = api.fetch_token()
    assert refused.status_code == 429 and refused.json()["errors"][0]["code"] == "TOO_MANY_REQUESTS"
    headers = refused.headers
    assert (headers["X-Ratelimit-Limit"], headers["X-Ratelimit-Interval"], headers["X-Ratelimit-Remaining"]) == (
        "2",
        "60",
        "0",
    )
    assert api.call("GET", "/api/imports").status_code == 200  # the API window is separate
    commercelayer.advance(60)
    assert api.fetch_token().status_code == 200


def test_the_api_rate_limit_answers_429_with_headers(api, commercelayer):
    commercelayer.configure(api_limit=2, api_interval=10)
    first = api.call("GET", "/api/imports")
    assert first.headers["X-Ratelimit-Remaining"] == "1"
    api.call("GET", "/api/imports")
    refused = api.call("GET", "/api/imports")
    assert refused.status_code == 429 and refused.headers["X-Ratelimit-Interval"] == "10"
    assert commercelayer.request_stats()["throttled_total"] == 1
    commercelayer.advance(10)
    assert api.call("GET", "/api/imports").status_code == 200


def test_clients_are_checked_when_registered(api, commercelayer):
    commercelayer.configure(clients={CL_CLIENT_ID: CL_CLIENT_SECRET})
    assert api.fetch_token().status_code == 200
    wrong = api.fetch_token(client_secret="nope")
    assert wrong.status_code == 401 and "nope" not in wrong.text
    assert "secret" not in str(commercelayer.config()["clients"])  # kept as a hash


def test_injected_faults_answer_in_the_json_api_shape(api, commercelayer):
    commercelayer.inject_fault(method="GET", path="^/api/imports$", action="status", status=503, times=1)
    failed = api.call("GET", "/api/imports")
    assert failed.status_code == 503 and failed.json()["errors"][0]["status"] == "503"
    assert api.call("GET", "/api/imports").status_code == 200


def test_delete_and_unknown_ids(api, commercelayer):
    item = api.create(skus(1)).json()["data"]["id"]
    assert api.call("DELETE", f"/api/imports/{item}").status_code == 204
    missing = api.call("GET", f"/api/imports/{item}")
    assert missing.status_code == 404 and missing.json()["errors"][0]["code"] == "RECORD_NOT_FOUND"
    assert commercelayer.call("GET", "commercelayer/imports")["imports"] == []
