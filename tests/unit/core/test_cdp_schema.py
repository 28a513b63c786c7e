"""The CDP schema vocabulary: declarations checked, diffs, the orders status warning, the schema operator."""

from __future__ import annotations

import io

import pytest

from airflow_provider_metrika.cdp_schema import (
    SYSTEM_ATTRIBUTES,
    attribute_lists,
    attribute_names,
    declared_status_ids,
    missing_attributes,
    missing_order_statuses,
    order_status_list,
)
from airflow_provider_metrika.exceptions import MetrikaConfigError
from airflow_provider_metrika.formats import ValidationOptions, get_file_format
from airflow_provider_metrika.operators import cdp_schema as schema_module
from airflow_provider_metrika.operators.cdp_schema import MetrikaCdpEnsureSchemaOperator
from tests.integration.conftest import FakeTaskInstance

ORDERS_HEADER = "id,client_uniq_id,client_type,create_date_time,order_status"


def test_order_statuses_from_a_mapping_or_a_list():
    assert order_status_list({"new": "in_progress"}) == [{"id": "new", "type": "IN_PROGRESS"}]
    listed = order_status_list([{"id": "lost", "type": "CANCELLED", "humanized": "Lost"}])
    assert listed == [{"id": "lost", "type": "CANCELLED", "humanized": "Lost"}]


@pytest.mark.parametrize(
    ("value", "match"),
    [
        ("new", "must map CRM status ids"),
        (["new"], "item 1 must be an object"),
        ({"a b": "PAID"}, "id 'a b' must be 1-255"),
        ({"new": "DONE"}, r"\(new\): type 'DONE' must be one of"),
    ],
)
def test_bad_order_statuses(value, match):
    with pytest.raises(MetrikaConfigError, match=match):
        order_status_list(value)


def test_attributes_from_names_and_objects():
    lists = attribute_lists({"contact": ["manager", {"name": "age", "type_name": "NUMERIC", "multivalued": False}]})
    assert lists == {
        "CONTACT": [
            {"name": "manager", "type_name": "text", "multivalued": False},
            {"name": "age", "type_name": "numeric", "multivalued": False},
        ]
    }


@pytest.mark.parametrize(
    ("value", "match"),
    [
        (["age"], "must map entity types"),
        ({"USER": ["age"]}, "entity type 'USER'"),
        ({"CONTACT": "age"}, "must be a list"),
        ({"CONTACT": [5]}, "must be a name or an object"),
        ({"CONTACT": ["a b"]}, "name 'a b' must be"),
        ({"CONTACT": ["emails"]}, "is a system attribute of CONTACT"),
        ({"CONTACT": [{"name": "age", "type_name": "blob"}]}, "type_name 'blob'"),
        ({"CONTACT": [{"name": "age", "multivalued": "yes"}]}, "multivalued must be true or false"),
    ],
)
def test_bad_attributes(value, match):
    with pytest.raises(MetrikaConfigError, match=match):
        attribute_lists(value)


def test_diffs():
    wanted = order_status_list({"paid": "PAID", "new": "IN_PROGRESS", "lost": "CANCELLED"})
    existing = [{"id": "paid", "type": "PAID"}, {"id": "new", "type": "OTHER"}]
    assert [s["id"] for s in missing_order_statuses(wanted, existing)] == ["new", "lost"]
    answer = {"system_attributes": [{"name": "uniq_id"}], "custom_attributes": [{"name": "age"}, "junk"]}
    assert attribute_names(answer) == {"uniq_id", "age"}
    wanted_attributes = attribute_lists({"CONTACT": ["age", "manager"]})["CONTACT"]
    assert [a["name"] for a in missing_attributes(wanted_attributes, {"age"})] == ["manager"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [(["new"], {"new"}), ({"new": "PAID"}, {"new"}), ([{"id": "new", "type": "PAID"}], {"new"})],
)
def test_declared_status_ids(value, expected):
    assert declared_status_ids(value) == expected


@pytest.mark.parametrize("value", ["new", 5, [""], [None]])
def test_bad_declared_status_ids(value):
    with pytest.raises(MetrikaConfigError, match="order_statuses"):
        declared_status_ids(value)


def test_system_attributes_are_the_documented_fields():
    assert {"uniq_id", "emails", "phones"} <= SYSTEM_ATTRIBUTES["CONTACT"]
    assert {"order_status", "client_uniq_id"} <= SYSTEM_ATTRIBUTES["ORDER"]


# -- the orders validator warning --------------------------------------------------------------


def orders_report(rows: str, **options):
    content = f"{ORDERS_HEADER}\n{rows}".encode()
    return get_file_format("orders").validate(io.BytesIO(content), "o.csv", ValidationOptions(**options))


def test_unmapped_status_is_a_counted_warning_not_a_problem():
    report = orders_report(
        "o1,c1,CONTACT,2024-05-01,new\no2,c1,CONTACT,2024-05-01,new\no3,c1,CONTACT,2024-05-01,PAID\n"
    )
    assert report.ok and report.valid_rows == 3
    assert any(w.startswith("2 row(s): order_status is neither a default status") for w in report.warnings)


def test_declared_statuses_warn_nothing():
    report = orders_report("o1,c1,CONTACT,2024-05-01,new\n", order_statuses=["new"])
    assert report.ok and not any("order_status" in w for w in report.warnings)


def test_json_rows_count_unmapped_statuses_too():
    fmt = get_file_format("orders")
    rows = [
        {
            "id": "o1",
            "client_uniq_id": "c",
            "client_type": "CONTACT",
            "create_date_time": "2024-05-01 10:00:00",
            "order_status": status,
        }
        for status in ("new", "SPAM", "won")
    ]
    report = fmt.validate_rows(rows, ValidationOptions(order_statuses={"won"}))
    assert any(w.startswith("1 row(s): order_status is neither") for w in report.warnings)


def test_order_statuses_option_must_be_ids():
    with pytest.raises(MetrikaConfigError, match="collection of status ids"):
        ValidationOptions(order_statuses="new")


# -- the schema operator ------------------------------------------------------------------------


@pytest.fixture
def hook(mocker):
    instance = mocker.Mock()
    instance.resolve_counter_id.return_value = 5
    instance.get_order_statuses.return_value = []
    instance.get_attributes.return_value = {"system_attributes": [], "custom_attributes": []}
    mocker.patch.object(schema_module, "MetrikaHook", return_value=instance)
    return instance


def test_operator_needs_something_to_ensure():
    with pytest.raises(MetrikaConfigError, match="give order_statuses, attributes or products"):
        MetrikaCdpEnsureSchemaOperator(task_id="s")


@pytest.mark.parametrize(
    "products",
    [["x"], {"items": "x"}, {"attributes": "x", "items": []}, {"attributes": [], "items": ["Widget"]}],
)
def test_operator_refuses_bad_products_before_any_request(hook, products):
    with pytest.raises(MetrikaConfigError, match="products"):
        MetrikaCdpEnsureSchemaOperator(task_id="s", products=products).execute({"ti": FakeTaskInstance()})
    hook.create_products.assert_not_called()


def test_operator_refuses_bad_declarations_before_any_request(hook):
    with pytest.raises(MetrikaConfigError, match="type 'WON'"):
        MetrikaCdpEnsureSchemaOperator(task_id="s", order_statuses={"won": "WON"}).execute({"ti": FakeTaskInstance()})
    hook.get_order_statuses.assert_not_called()


def test_operator_sends_only_what_is_missing(hook):
    hook.get_order_statuses.return_value = [{"id": "paid", "type": "PAID"}]
    hook.get_attributes.return_value = {"custom_attributes": [{"name": "age"}]}
    result = MetrikaCdpEnsureSchemaOperator(
        task_id="s", order_statuses={"paid": "PAID", "new": "IN_PROGRESS"}, attributes={"ORDER": ["age", "shop"]}
    ).execute({"ti": FakeTaskInstance()})
    assert result == {"order_statuses": ["new"], "attributes": {"ORDER": ["shop"]}, "products": False}
    hook.map_order_statuses.assert_called_once_with(5, [{"id": "new", "type": "IN_PROGRESS"}])
    hook.create_attributes.assert_called_once_with(
        5, "ORDER", [{"name": "shop", "type_name": "text", "multivalued": False}]
    )


def test_operator_with_nothing_missing_sends_nothing(hook):
    hook.get_order_statuses.return_value = [{"id": "new", "type": "IN_PROGRESS"}]
    result = MetrikaCdpEnsureSchemaOperator(task_id="s", order_statuses={"new": "IN_PROGRESS"}).execute(
        {"ti": FakeTaskInstance()}
    )
    assert result["order_statuses"] == []
    hook.map_order_statuses.assert_not_called()
