"""The CDP schema step against the emulator: routes with per-counter state, the strict upload checks,
MetrikaCdpEnsureSchemaOperator (idempotent), the orders status warning and the default columns_mapping."""

from __future__ import annotations

import pytest

from airflow_provider_metrika.exceptions import MetrikaClientError
from airflow_provider_metrika.hooks.metrika import MetrikaHook
from airflow_provider_metrika.operators.cdp import MetrikaUploadContactsOperator, MetrikaUploadOrdersOperator
from airflow_provider_metrika.operators.cdp_schema import MetrikaCdpEnsureSchemaOperator
from airflow_provider_metrika.version_compat import AirflowFailException
from tests.rows import cdp_order
from tests.xcom import one_upload

pytestmark = pytest.mark.integration

CDP = "/cdp/api/v1/counter/{counter_id}"
STATUSES = CDP + "/schema/order_statuses"
ATTRIBUTES = CDP + "/schema/attributes"
ORDERS_JSON = CDP + "/data/orders/json"
CONTACTS_CSV = CDP + "/data/contacts/csv"


def order(status: str, **extra) -> dict:
    return cdp_order(create_date_time="2024-05-01 10:00:00", order_status=status, **extra)


def error_of(response) -> tuple[int, str]:
    return response.status_code, response.json()["errors"][0]["error_type"]


def upload_orders(metrika_api, *orders) -> dict:
    response = metrika_api.post(ORDERS_JSON, params={"merge_mode": "SAVE"}, json={"orders": list(orders)})
    assert response.status_code == 200, response.text
    return response.json()["uploading"]


def test_unmapped_status_fails_until_it_is_mapped(metrika_api, emulator):
    failed = upload_orders(metrika_api, order("new"))
    assert failed["api_validation_status"] == "FAILED"
    assert "order_status 'new' is neither a default status nor mapped" in failed["api_validation_errors"][0]
    assert upload_orders(metrika_api, order("CANCELLED"))["api_validation_status"] == "PASSED"
    body = {"order_statuses": [{"id": "new", "type": "in_progress", "humanized": "New deal"}]}
    assert metrika_api.post(STATUSES, json=body).json() == {"success": True}
    assert metrika_api.get(STATUSES).json()["order_statuses"] == [
        {"id": "new", "type": "IN_PROGRESS", "humanized": "New deal", "goal_action_ids": [], "source": "USER"}
    ]
    assert upload_orders(metrika_api, order("new"))["api_validation_status"] == "PASSED"
    other = "/cdp/api/v1/counter/777/schema/order_statuses"
    assert metrika_api.get(other).json() == {"order_statuses": []}  # per counter


def test_lenient_schema_accepts_unmapped_statuses_and_attributes(metrika_api, emulator):
    emulator.configure(cdp_schema="lenient")
    assert upload_orders(metrika_api, order("new", attribute_values={"age": 3}))["api_validation_status"] == "PASSED"


def test_custom_attributes_must_exist_before_a_mapping_uses_them(metrika_api, emulator):
    content = "ID,Age\nc1,42\n"
    params = {"merge_mode": "SAVE", "columns_mapping": '"uniq_id":"ID","age":"Age"'}
    failed = metrika_api.upload(CONTACTS_CSV, content, params=params).json()["uploading"]
    assert failed["api_validation_errors"] == [
        "columns_mapping: attribute 'age' is neither a system attribute nor created (schema/attributes)"
    ]
    created = metrika_api.post(
        ATTRIBUTES,
        params={"entity_type": "contact"},
        json={"attributes": [{"name": "age", "type_name": "numeric", "multivalued": False}]},
    )
    assert created.json() == {"success": True}
    listed = metrika_api.get(ATTRIBUTES, params={"entity_type": "CONTACT"}).json()
    assert [a["name"] for a in listed["custom_attributes"]] == ["age"]
    assert "uniq_id" in {a["name"] for a in listed["system_attributes"]}
    passed = metrika_api.upload(CONTACTS_CSV, content, params=params).json()["uploading"]
    assert passed["api_validation_status"] == "PASSED"


def test_json_attribute_values_must_name_known_attributes(metrika_api, emulator):
    failed = upload_orders(metrika_api, order("PAID", attribute_values={"manager": "Ann"}))
    assert "attribute 'manager' is neither a system attribute nor created" in failed["api_validation_errors"][0]


@pytest.mark.parametrize(
    ("path", "params", "body", "expected"),
    [
        (STATUSES, {}, {"order_statuses": [{"id": "a b", "type": "PAID"}]}, (400, "invalid_parameter")),
        (STATUSES, {}, {"order_statuses": [{"id": "x", "type": "DONE"}]}, (400, "invalid_parameter")),
        (STATUSES, {}, {"statuses": []}, (400, "invalid_parameter")),
        (ATTRIBUTES, {}, {"attributes": []}, (400, "missing_parameter")),
        (ATTRIBUTES, {"entity_type": "USER"}, {"attributes": []}, (400, "invalid_parameter")),
        (
            ATTRIBUTES,
            {"entity_type": "CONTACT"},
            {"attributes": [{"name": "emails", "multivalued": True}]},
            (400, "invalid_parameter"),
        ),
        (ATTRIBUTES, {"entity_type": "CONTACT"}, {"attributes": [{"name": "age"}]}, (400, "invalid_parameter")),
        (CDP + "/schema/products", {}, {"items": []}, (400, "invalid_parameter")),
    ],
    ids=["status-id", "status-type", "no-root", "no-entity", "bad-entity", "system-name", "no-multivalued", "products"],
)
def test_bad_schema_requests_are_refused(metrika_api, emulator, path, params, body, expected):
    assert error_of(metrika_api.post(path, params=params, json=body)) == expected


def test_products_and_types(metrika_api, emulator):
    body = {"attributes": [{"name": "sku", "type_name": "text", "multivalued": False}], "items": [{"name": "Widget"}]}
    assert metrika_api.post(CDP + "/schema/products", json=body).json() == {"success": True}
    assert {"humanized": "numeric"} in metrika_api.get(CDP + "/schema/types").json()["types"]


def test_ensure_schema_operator_applies_only_what_is_missing(metrika_conn, emulator, context, metrika_api):
    metrika_api.post(STATUSES, json={"order_statuses": [{"id": "paid", "type": "PAID"}]})
    op = MetrikaCdpEnsureSchemaOperator(
        task_id="schema",
        order_statuses={"paid": "PAID", "new": "IN_PROGRESS", "lost": "CANCELLED"},
        attributes={"CONTACT": ["manager", {"name": "age", "type_name": "numeric"}]},
        products={"attributes": [{"name": "sku", "type_name": "text", "multivalued": False}], "items": []},
    )
    first = op.execute(context)
    assert first == {
        "order_statuses": ["new", "lost"],
        "attributes": {"CONTACT": ["manager", "age"]},
        "products": True,
    }
    stats_before = emulator.request_stats()["total"]
    again = MetrikaCdpEnsureSchemaOperator(
        task_id="schema", order_statuses={"paid": "PAID", "new": "IN_PROGRESS"}, attributes={"contact": ["age"]}
    ).execute(context)
    assert again == {"order_statuses": [], "attributes": {"CONTACT": []}, "products": False}
    assert emulator.request_stats()["total"] - stats_before == 2  # two reads, no writes
    remapped = MetrikaCdpEnsureSchemaOperator(task_id="schema", order_statuses={"new": "PAID"}).execute(context)
    assert remapped["order_statuses"] == ["new"]
    assert {s["id"]: s["type"] for s in MetrikaHook(metrika_conn).get_order_statuses(None)}["new"] == "PAID"


def test_orders_after_the_schema_step_pass_and_without_it_fail(metrika_conn, emulator, context):
    rows = [order("new")]
    with pytest.raises(AirflowFailException, match="neither a default status nor mapped"):
        MetrikaUploadOrdersOperator(task_id="o", rows=rows, merge_mode="SAVE").execute(context)
    MetrikaCdpEnsureSchemaOperator(task_id="schema", order_statuses={"new": "IN_PROGRESS"}).execute(context)
    result = MetrikaUploadOrdersOperator(task_id="o2", rows=rows, merge_mode="SAVE", order_statuses=["new"]).execute(
        context
    )
    assert one_upload(result)["status"] == "PASSED"


def test_default_columns_mapping_leaves_out_unknown_columns(metrika_conn, emulator, context, tmp_path):
    path = tmp_path / "contacts.csv"
    path.write_text("uniq_id,emails,note,age\nc1,a@b.ru,vip,42\n")
    result = MetrikaUploadContactsOperator(task_id="c", src=str(path), merge_mode="SAVE").execute(context)
    assert one_upload(result)["status"] == "PASSED"
    MetrikaCdpEnsureSchemaOperator(task_id="schema", attributes={"CONTACT": ["age"]}).execute(context)
    declared = MetrikaUploadContactsOperator(
        task_id="c2", src=str(path), merge_mode="SAVE", custom_attributes=["age"]
    ).execute(context)
    assert one_upload(declared)["status"] == "PASSED"
    undeclared_but_mapped = MetrikaUploadContactsOperator(
        task_id="c3", src=str(path), merge_mode="SAVE", columns_mapping={"uniq_id": "uniq_id", "note": "note"}
    )
    with pytest.raises((AirflowFailException, MetrikaClientError), match="'note' is neither a system"):
        undeclared_but_mapped.execute(context)
