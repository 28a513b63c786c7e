"""The emulator's CDP (CRM data) API: synchronous validation and the last_uploadings cursor."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration

CDP = "/cdp/api/v1/counter/{counter_id}"
CONTACTS_CSV = CDP + "/data/contacts/csv"
CONTACTS_JSON = CDP + "/data/contacts/json"
ORDERS_CSV = CDP + "/data/orders/csv"
ORDERS_JSON = CDP + "/data/orders/json"
SIMPLE_ORDERS = CDP + "/data/simple_orders"
LAST = CDP + "/last_uploadings"
CONTACT_MAPPING = '"uniq_id":"ID","name":"Name","emails":"Email","create_date_time":"Created"'
ORDER_MAPPING = (
    '"id":"OrderId","client_uniq_id":"Client","client_type":"Type",'
    '"create_date_time":"Created","order_status":"Status","revenue":"Revenue"'
)


def error_of(response) -> tuple[int, str]:
    body = response.json()
    assert body["code"] == response.status_code
    return response.status_code, body["errors"][0]["error_type"]


def upload_contacts(metrika_api, content: str, **params):
    query = {"merge_mode": "SAVE", "columns_mapping": CONTACT_MAPPING, **params}
    return metrika_api.upload(CONTACTS_CSV, content, params=query)


def test_contacts_csv_passed_shape(metrika_api):
    content = "ID,Name,Email,Created\nc1,Иванов Иван,ivan@example.com,2024-05-31 12:00:00\nc2,Petr,,31.05.24 10:30\n"
    response = upload_contacts(metrika_api, content, comment="crmsync")
    assert response.status_code == 200, response.text
    uploading = response.json()["uploading"]
    assert uploading == {
        "uploading_id": uploading["uploading_id"],
        "datetime": uploading["datetime"],
        "api_validation_status": "PASSED",
        "api_validation_errors": [],
        "elements_count": 2,
        "entity_type": "SYSTEM",
        "entity_subtype": "CONTACT",
        "uploading_format": "CSV",
        "uploading_source": "API",
        "uploading_title": "crmsync",
    }
    assert isinstance(uploading["uploading_id"], str)
    assert len(uploading["datetime"]) == len("2022-12-29T18:02:01.123Z")


def test_contacts_csv_row_problems_fail_validation(metrika_api):
    content = (
        "ID,Name,Email,Created\n"
        ",NoId,a@b.ru,2024-01-01\n"
        "c2,Bad Email,not-an-email,2024-01-01\n"
        "c3,Old,c@d.ru,31.12.1969\n"
        "c4,Bad Date,e@f.ru,2024/01/01\n"
        "c5,Month,g@h.ru,2024-13-01\n"
    )
    uploading = upload_contacts(metrika_api, content).json()["uploading"]
    assert uploading["api_validation_status"] == "FAILED"
    assert uploading["elements_count"] == 5
    errors = uploading["api_validation_errors"]
    assert errors[0] == "row 1: uniq_id is required"
    assert errors[1].startswith("row 2: emails: 'not-an-email'")
    assert "before 1970" in errors[2] and errors[2].startswith("row 3:")
    assert errors[3].startswith("row 4: create_date_time:")
    assert errors[4].startswith("row 5:") and "not a valid date" in errors[4]


def test_columns_mapping_naming_a_missing_column_fails(metrika_api):
    mapping = '"uniq_id":"ID","phones":"Phone"'
    uploading = upload_contacts(metrika_api, "ID\nc1\n", columns_mapping=mapping).json()["uploading"]
    assert uploading["api_validation_status"] == "FAILED"
    assert "'Phone'" in uploading["api_validation_errors"][0]


def test_required_attribute_must_be_mapped(metrika_api):
    uploading = upload_contacts(metrika_api, "Name\nx\n", columns_mapping='"name":"Name"').json()["uploading"]
    assert uploading["api_validation_errors"] == [
        "columns_mapping: required attribute uniq_id is not mapped to a column"
    ]


def test_semicolon_delimiter_and_braced_mapping(metrika_api):
    content = 'ID;Email\nc1;"a@b.ru,c@d.ru"\n'
    response = upload_contacts(
        metrika_api, content, delimiter_type="SEMICOLON", columns_mapping='{"uniq_id":"ID","emails":"Email"}'
    )
    assert response.json()["uploading"]["api_validation_status"] == "PASSED"


def test_header_only_file_fails(metrika_api):
    assert upload_contacts(metrika_api, "ID,Name,Email,Created\n").json()["uploading"]["api_validation_errors"] == [
        "file has no data rows"
    ]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"columns_mapping": CONTACT_MAPPING}, (400, "missing_parameter")),
        ({"merge_mode": "MERGE", "columns_mapping": CONTACT_MAPPING}, (400, "invalid_parameter")),
        ({"merge_mode": "SAVE"}, (400, "missing_parameter")),
        ({"merge_mode": "SAVE", "columns_mapping": "uniq_id=ID"}, (400, "invalid_parameter")),
        (
            {"merge_mode": "SAVE", "columns_mapping": CONTACT_MAPPING, "delimiter_type": "TAB"},
            (400, "invalid_parameter"),
        ),
    ],
    ids=["no-merge-mode", "bad-merge-mode", "no-mapping", "bad-mapping", "bad-delimiter"],
)
def test_contacts_request_level_errors(metrika_api, params, expected):
    assert error_of(metrika_api.upload(CONTACTS_CSV, "ID\nc1\n", params=params)) == expected


def test_empty_cdp_file_is_rejected(metrika_api):
    response = upload_contacts(metrika_api, "")
    assert error_of(response) == (400, "invalid_uploading")


def test_contacts_json(metrika_api):
    contacts = [
        {"uniq_id": "c1", "emails": ["a@b.ru"], "client_ids": [123], "create_date_time": "2024-01-02 03:04:05"},
        {"uniq_id": "c2", "birth_date": "1990-05-01"},
    ]
    response = metrika_api.post(CONTACTS_JSON, params={"merge_mode": "UPDATE"}, json={"contacts": contacts})
    uploading = response.json()["uploading"]
    assert (uploading["api_validation_status"], uploading["uploading_format"], uploading["elements_count"]) == (
        "PASSED",
        "JSON",
        2,
    )
    bad = [{"uniq_id": ""}, "nope", {"uniq_id": "x", "emails": ["bad"], "create_date_time": "01.02.2024"}]
    failed = metrika_api.post(CONTACTS_JSON, params={"merge_mode": "APPEND"}, json={"contacts": bad}).json()
    errors = failed["uploading"]["api_validation_errors"]
    assert failed["uploading"]["api_validation_status"] == "FAILED"
    assert errors[0] == "row 1: uniq_id is required"
    assert errors[1] == "row 2: must be a JSON object"
    assert any(e.startswith("row 3: emails") for e in errors)
    assert any(e.startswith("row 3: create_date_time") for e in errors)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"{not json", (400, "invalid_json")),
        (b'{"orders": []}', (400, "invalid_parameter")),
        (b'{"contacts": []}', (400, "invalid_parameter")),
        (b"[]", (400, "invalid_parameter")),
    ],
    ids=["malformed", "wrong-root", "empty-list", "not-object"],
)
def test_contacts_json_request_errors(metrika_api, body, expected):
    response = metrika_api.post(
        CONTACTS_JSON, params={"merge_mode": "SAVE"}, data=body, headers={"Content-Type": "application/json"}
    )
    assert error_of(response) == expected


def test_orders_csv_and_json(metrika_api):
    content = "OrderId,Client,Type,Created,Status,Revenue\no1,c1,CONTACT,2024-05-01 10:00,PAID,100.5\n"
    query = {"merge_mode": "SAVE", "columns_mapping": ORDER_MAPPING}
    passed = metrika_api.upload(ORDERS_CSV, content, params=query).json()["uploading"]
    assert (passed["api_validation_status"], passed["entity_subtype"]) == ("PASSED", "ORDER")
    bad = "OrderId,Client,Type,Created,Status,Revenue\no2,c1,COMPANY,2024-05-01,,1\n"
    failed = metrika_api.upload(ORDERS_CSV, bad, params=query).json()["uploading"]
    assert failed["api_validation_errors"] == [
        "row 1: order_status is required",
        "row 1: client_type must be CONTACT, not 'COMPANY'",
    ]
    order = {
        "id": "o3",
        "client_uniq_id": "c1",
        "client_type": "CONTACT",
        "create_date_time": "2024-05-01 10:00:00",
        "order_status": "IN_PROGRESS",
    }
    response = metrika_api.post(ORDERS_JSON, params={"merge_mode": "SAVE"}, json={"orders": [order]})
    assert response.json()["uploading"]["api_validation_status"] == "PASSED"


def test_simple_orders(metrika_api):
    header = "id,create_date_time,client_uniq_id,client_ids,emails,phones,order_status,revenue\n"
    good = header + 'o1,2024-05-01,c1,"123,456",,,PAID,10\no2,01.05.2024 10:00:00,c2,,a@b.ru,,,\n'
    passed = metrika_api.upload(SIMPLE_ORDERS, good, params={"merge_mode": "SAVE"}).json()["uploading"]
    assert (passed["api_validation_status"], passed["entity_subtype"], passed["elements_count"]) == (
        "PASSED",
        "SIMPLE_ORDER",
        2,
    )
    bad = header + "o3,2024-05-01,c3,,,,PAID,1\n,1969-12-31,c4,1,,,,\n"
    failed = metrika_api.upload(SIMPLE_ORDERS, bad, params={"merge_mode": "SAVE"}).json()["uploading"]
    assert failed["api_validation_errors"] == [
        "row 1: at least one of client_ids, emails, phones, emails_md5, phones_md5 is required",
        "row 2: create_date_time: '1969-12-31' is before 1970",
    ]
    missing = metrika_api.upload(SIMPLE_ORDERS, "id,client_ids\n1,2\n", params={"merge_mode": "SAVE"}).json()
    assert "header: required column create_date_time is missing" in missing["uploading"]["api_validation_errors"]
    no_id = metrika_api.upload(
        SIMPLE_ORDERS, "create_date_time,client_ids\n2024-05-01,2\n", params={"merge_mode": "SAVE"}
    )
    assert no_id.json()["uploading"]["api_validation_errors"] == ["header: required column id is missing"]
    assert error_of(metrika_api.upload(SIMPLE_ORDERS, good)) == (400, "missing_parameter")


def test_simple_orders_docs_example_with_an_empty_id_passes(metrika_api):
    """The upload page's sample leaves the third row's id empty: Metrika attributes it to the closest visit."""
    content = (
        "id,create_date_time,client_ids,emails,revenue\n"
        "o1,2024-05-01 10:00:00,123,a@b.ru,100\n"
        "o2,2024-05-02 11:00:00,456,,200\n"
        ",2024-05-03 12:00:00,,c@d.ru,300\n"
    )
    passed = metrika_api.upload(SIMPLE_ORDERS, content, params={"merge_mode": "SAVE"}).json()["uploading"]
    assert (passed["api_validation_status"], passed["elements_count"]) == ("PASSED", 3)


def test_validation_errors_are_capped(metrika_api):
    content = "ID,Name,Email,Created\n" + ",x,,\n" * 150
    errors = upload_contacts(metrika_api, content).json()["uploading"]["api_validation_errors"]
    assert len(errors) == 101 and errors[-1] == "... and 50 more problems"


def test_last_uploadings_pages_with_the_cursor(metrika_api, emulator):
    uploaded = []
    for n in range(7):
        body = {"contacts": [{"uniq_id": f"c{n}"}]}
        uploaded.append(metrika_api.post(CONTACTS_JSON, params={"merge_mode": "SAVE"}, json=body).json()["uploading"])
        if n == 3:
            emulator.advance(1)
    assert len({u["datetime"] for u in uploaded}) == 7
    pages, cursor = [], None
    while True:
        params = {"limit": 3, **({"datetime_offset": cursor} if cursor else {})}
        page = metrika_api.get(LAST, params=params).json()["uploadings"]
        if not page:
            break
        pages.append([u["uploading_id"] for u in page])
        cursor = page[-1]["datetime"]
    assert [i for page in pages for i in page] == [u["uploading_id"] for u in reversed(uploaded)]
    assert [len(page) for page in pages] == [3, 3, 1]


def test_last_uploadings_cursor_formats_and_filters(metrika_api, emulator):
    first = metrika_api.post(CONTACTS_JSON, params={"merge_mode": "SAVE"}, json={"contacts": [{"uniq_id": "a"}]})
    emulator.advance(3600)
    metrika_api.post(CONTACTS_JSON, params={"merge_mode": "SAVE"}, json={"contacts": [{"uniq_id": "b"}]})
    first_time = first.json()["uploading"]["datetime"]
    next_second = first_time[:10] + " " + first_time[11:19]
    older = metrika_api.get(LAST, params={"datetime_offset": next_second}).json()["uploadings"]
    assert older == []
    later = metrika_api.get(LAST, params={"datetime_offset": first_time[:19] + ".999Z"}).json()["uploadings"]
    assert [u["uploading_id"] for u in later] == [first.json()["uploading"]["uploading_id"]]
    assert len(metrika_api.get(LAST).json()["uploadings"]) == 2
    assert metrika_api.get(LAST, params={"source": "UI"}).json()["uploadings"] == []
    assert metrika_api.get("/cdp/api/v1/counter/999/last_uploadings").json()["uploadings"] == []


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 1001}, {"limit": "x"}, {"datetime_offset": "yesterday"}])
def test_last_uploadings_rejects_bad_parameters(metrika_api, params):
    assert error_of(metrika_api.get(LAST, params=params)) == (400, "invalid_parameter")


def test_every_cdp_uploading_is_stored(metrika_api, emulator):
    metrika_api.post(CONTACTS_JSON, params={"merge_mode": "SAVE"}, json={"contacts": [{"uniq_id": "a"}]})
    upload_contacts(metrika_api, "ID,Name,Email,Created\n,,,\n")
    stored = emulator.uploadings(kind="contacts", counter_id=12345)
    assert [u["status"] for u in stored] == ["PASSED", "FAILED"]
    assert all(len(u["sha256"]) == 64 and u["size"] > 0 for u in stored)
