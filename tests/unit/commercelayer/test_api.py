"""Commerce Layer answers and request documents, without I/O."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_provider_metrika.commercelayer import api
from airflow_provider_metrika.exceptions import MetrikaApiError, MetrikaConfigError


def test_error_details_join_title_detail_and_pointer():
    body = {
        "errors": [
            {
                "title": "is invalid",
                "detail": "inputs - too long",
                "code": "VALIDATION_ERROR",
                "status": "422",
                "source": {"pointer": "/data/attributes/inputs"},
            },
            {"title": "second", "code": "OTHER"},
        ]
    }
    code, reason = api.error_details(json.dumps(body))
    assert code == "VALIDATION_ERROR"
    assert reason == "is invalid: inputs - too long (at /data/attributes/inputs); second"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("<html><b>Bad gateway</b></html>", ("unknown", "Bad gateway")),
        ("", ("unknown", "empty response body")),
        ('{"errors": []}', ("unknown", '{"errors": []}')),
        ('{"errors": [{"detail": "x"}]}', ("unknown", "x")),
        ('{"errors": [{}]}', ("unknown", "no reason given")),
        ("[1, 2]", ("unknown", "[1, 2]")),
    ],
)
def test_error_details_of_odd_bodies(body, expected):
    assert api.error_details(body) == expected


@given(st.text(max_size=300))
def test_error_details_never_fail_on_any_body(body):
    code, reason = api.error_details(body)
    assert isinstance(code, str) and isinstance(reason, str)


def test_retry_after_is_the_rate_limit_interval_on_429_only():
    headers = {"X-Ratelimit-Interval": "10", "X-Ratelimit-Limit": "50"}
    assert api.retry_after(429, headers) == "10"
    assert api.retry_after(503, headers) is None
    assert api.retry_after(429, {"Retry-After": "3", **headers}) == "3"
    assert api.retry_after(429, {}) is None


@pytest.mark.parametrize("bad", ["", "a/b", "x?y=1", "../x", 5, None, "a" * 65])
def test_import_ids_are_checked_before_they_enter_a_path(bad):
    with pytest.raises(MetrikaConfigError, match="import_id"):
        api.path_id(bad)


def test_fields_never_include_inputs():
    assert api.fields_param(("status", "errors_count")) == "status,errors_count"
    assert "inputs" not in api.STATUS_FIELDS
    with pytest.raises(MetrikaConfigError, match="inputs"):
        api.fields_param(("status", "inputs"))


def create(**overrides):
    arguments = dict(
        resource_type="skus",
        inputs=[{"code": "A"}],
        format="json",
        parent_resource_id=None,
        skip_errors=False,
        reference=None,
        reference_origin=None,
        metadata=None,
    )
    arguments.update(overrides)
    return api.create_document(arguments.pop("resource_type"), arguments.pop("inputs"), **arguments)


def test_create_document_carries_what_was_given():
    document = create(reference="fp", reference_origin="airflow", metadata={"k": 1}, parent_resource_id="PL")
    attributes = document["data"]["attributes"]
    assert document["data"]["type"] == "imports"
    assert attributes == {
        "resource_type": "skus",
        "format": "json",
        "inputs": [{"code": "A"}],
        "skip_errors": False,
        "parent_resource_id": "PL",
        "reference": "fp",
        "reference_origin": "airflow",
        "metadata": {"k": 1},
    }
    assert create(format="csv", inputs="code\nA\n")["data"]["attributes"]["inputs"] == "code\nA\n"


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"resource_type": " "}, "resource_type"),
        ({"format": "xml"}, "format"),
        ({"format": "csv"}, "CSV text"),
        ({"inputs": "code\nA\n"}, "list of objects"),
        ({"inputs": []}, "empty"),
        ({"format": "csv", "inputs": "code\n"}, "empty"),
        ({"inputs": [{"code": str(i)} for i in range(10_001)]}, "at most 10000"),
        ({"inputs": [{"code": "A"}, "B"]}, r"inputs\[1\]"),
        ({"reference": 5}, "reference"),
        ({"metadata": [1]}, "metadata"),
        ({"skip_error": True}, "no parameter skip_error"),
    ],
)
def test_create_document_names_the_bad_parameter(overrides, match):
    with pytest.raises(MetrikaConfigError, match=match):
        create(**overrides)


def test_import_objects_are_checked():
    item = api.CommerceLayerImport.from_resource(
        {"id": "abc", "type": "imports", "attributes": {"status": "pending", "inputs_size": 3, "errors_count": True}}
    )
    assert item.is_open and item.count("inputs_size") == 3 and item.count("errors_count") == 0
    for bad in (None, {"id": "x", "type": "skus"}, {"type": "imports"}, []):
        with pytest.raises(MetrikaApiError, match="imports resource"):
            api.CommerceLayerImport.from_resource(bad)
    with pytest.raises(MetrikaApiError, match="list of imports"):
        api.imports_from_document({"data": {"id": "x"}})
    assert api.import_from_document({"data": {"id": "x", "type": "imports", "attributes": None}}).status == ""
