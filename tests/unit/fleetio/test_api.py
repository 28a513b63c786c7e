"""Fleetio answers, queries and connection parsing, without I/O."""

from __future__ import annotations

import datetime as dt
import json
import types

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_provider_metrika.exceptions import MetrikaApiError, MetrikaConfigError
from airflow_provider_metrika.fleetio import api
from airflow_provider_metrika.fleetio.connection import settings_from_connection
from airflow_provider_metrika.fleetio.hooks import FleetioHook


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            '{"status": 401, "title": "Unauthorized", "detail": "bad key", "instance": "/x"}',
            ("unauthorized", "bad key"),
        ),
        ('{"title": "Not Found"}', ("not_found", "Not Found")),
        (
            '{"errors": {"per_page": ["must be between 2 and 100"], "x": "y"}}',
            ("validation_error", "per_page must be between 2 and 100; x y"),
        ),
        ('{"error": "Too many requests detected"}', ("error", "Too many requests detected")),
        ("HTTP Token: Access denied.\n", ("unknown", "HTTP Token: Access denied.")),
        ("", ("unknown", "empty response body")),
        ('{"errors": {}}', ("validation_error", "no reason given")),
        ("[]", ("unknown", "[]")),
    ],
)
def test_both_error_shapes_and_the_legacy_ones(body, expected):
    assert api.error_details(body) == expected


@given(st.text(max_size=300))
def test_error_details_never_fail_on_any_body(body):
    kind, reason = api.error_details(body)
    assert isinstance(kind, str) and isinstance(reason, str)


def test_query_parameters():
    moment = dt.datetime(2026, 11, 1, 3, 0, tzinfo=dt.timezone(dt.timedelta(hours=3)))
    query = api.import_query(statuses=["failed", "complete"], created_at={"gte": moment}, sort="created_at")
    assert query.params() == {
        "filter[status][include]": "failed,complete",
        "filter[created_at][gte]": "2026-11-01T00:00:00Z",
        "sort[created_at]": "desc",
    }
    assert api.import_query(updated_at={"lt": "2026-01-01"}).params()["filter[updated_at][lt]"] == "2026-01-01"


@pytest.mark.parametrize(
    ("arguments", "match"),
    [
        ({"statuses": ["done"]}, "statuses"),
        ({"sort": "file_name"}, "sort"),
        ({"direction": "up"}, "direction"),
        ({"created_at": {"gte": "a", "lt": "b"}}, "one bound"),
        ({"created_at": {"after": "a"}}, "bound must be one of"),
        ({"updated_at": {"lt": dt.datetime(2026, 1, 1)}}, "timezone-aware"),
        ({"updated_at": {"lt": 5}}, "ISO 8601"),
    ],
)
def test_bad_queries_name_the_parameter(arguments, match):
    with pytest.raises(MetrikaConfigError, match=match):
        api.import_query(**arguments)


@pytest.mark.parametrize("bad", [1, 101, True, "50", None])
def test_per_page_bounds(bad):
    with pytest.raises(MetrikaConfigError, match="per_page"):
        api.per_page_of(bad)


def test_pages_and_records_are_checked():
    page = api.keyset_page({"records": [{"id": 1}], "next_cursor": "", "estimated_remaining_count": True})
    assert page.next_cursor is None and page.estimated_remaining_count is None and page.start_cursor is None
    for bad in ({}, {"records": [1]}, {"records": "x"}):
        with pytest.raises(MetrikaApiError, match="records"):
            api.keyset_page(bad)
    with pytest.raises(MetrikaApiError, match="integer id"):
        api.FleetioImport.from_record({"id": "7"})
    item = api.FleetioImport.from_record({"id": 7, "status": "rolled_back", "note": 5})
    assert item.is_terminal and item.note is None and item.type == ""
    for bad in (0, -1, "x", True, "1/2"):
        with pytest.raises(MetrikaConfigError, match="import_id"):
            api.import_id_of(bad)
    assert api.import_id_of("12") == 12


def conn(**fields):
    values = {"host": None, "login": "account-token-value", "password": "api-key-value", "port": None, "extra": None}
    values.update(fields)
    return types.SimpleNamespace(**values)


def test_connection_defaults():
    settings = settings_from_connection(conn(), "fl")
    assert (settings.base_url, settings.api_version) == ("https://secure.fleetio.com", "2024-01-01")
    assert "api-key-value" not in repr(settings) and "account-token-value" not in repr(settings)
    assert settings.account == "fl"  # the account's name defaults to the connection id
    newer = settings_from_connection(conn(extra=json.dumps({"api_version": "2024-03-15", "account": "Acme-EU"})), "fl")
    assert newer.api_version == "2024-03-15" and newer.account == "acme-eu"
    assert settings.requests_per_minute == 20  # Fleetio's documented conservative limit
    assert settings_from_connection(conn(extra='{"requests_per_minute": "120"}'), "fl").requests_per_minute == 120


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"password": ""}, "API key"),
        ({"login": None}, "account token"),
        ({"extra": '{"api_version": "2023-06-01"}'}, "2024-01-01 or later"),
        ({"extra": '{"api_version": "latest"}'}, "date version"),
        ({"host": "ftp://x"}, "http"),
        ({"extra": '{"account": "acme/eu"}'}, "account of connection 'fl' must be a short name"),
        ({"extra": '{"account": 7}'}, "account of connection 'fl' must be a short name"),
        ({"extra": '{"requests_per_minute": 0}'}, "requests_per_minute of connection 'fl' must be an integer"),
    ],
)
def test_bad_connections(fields, match):
    with pytest.raises(MetrikaConfigError, match=match) as caught:
        settings_from_connection(conn(**fields), "fl")
    assert "api-key-value" not in str(caught.value)


def test_a_repeating_cursor_ends_the_iteration_with_an_error():
    pages = iter([api.KeysetPage([{"id": 2}], None, "c1", 3), api.KeysetPage([{"id": 1}], "c1", "c1", 2)])
    found = FleetioHook._pages(lambda cursor: next(pages))
    next(found)
    with pytest.raises(MetrikaApiError, match="repeats"):
        list(found)


def test_an_empty_page_ends_the_iteration_even_with_a_cursor():
    calls = []

    def fetch(cursor):
        calls.append(cursor)
        return api.KeysetPage([], None, "more", 0)

    assert len(list(FleetioHook._pages(fetch))) == 1 and calls == [None]
