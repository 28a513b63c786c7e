"""FleetioHook against the Fleetio emulator over loopback."""

from __future__ import annotations

import datetime as dt
import logging

import pytest

from airflow_provider_metrika.exceptions import MetrikaClientError
from airflow_provider_metrika.fleetio.api import import_query
from airflow_provider_metrika.fleetio.hooks import FleetioHook
from tests.conftest import FLEETIO_ACCOUNT, FLEETIO_API_KEY
from tests.emulators import clock_sleep, person_imports, requests_to

pytestmark = pytest.mark.integration


def list_requests(emulator) -> int:
    return requests_to(emulator, "/api/v1/imports")


def test_iterating_follows_cursors_to_the_end(fleetio_hook, fleetio):
    ids = [person_imports(fleetio, f"f{i}.csv") for i in range(5)]
    found = list(fleetio_hook.iter_imports(per_page=2))
    assert [i.id for i in found] == ids[::-1]
    assert list_requests(fleetio) == 3
    assert found[0].file_name == "f4.csv" and found[0].status == "new" and not found[0].is_terminal


def test_filters_and_sort_reach_the_server(fleetio_hook, fleetio):
    start = dt.datetime.fromtimestamp(fleetio.now(), dt.UTC)
    old = person_imports(fleetio, "old.csv", rows=[{"status": "error"}])
    fleetio.advance(60)
    new = person_imports(fleetio, "new.csv")
    fleetio.advance(15)
    failed = list(fleetio_hook.iter_imports(import_query(statuses=["failed"])))
    assert [i.id for i in failed] == [old] and failed[0].is_terminal
    recent = fleetio_hook.iter_imports(import_query(created_at={"gt": start + dt.timedelta(seconds=30)}))
    assert [i.id for i in recent] == [new]
    ascending = fleetio_hook.iter_imports(import_query(sort="created_at", direction="asc"))
    assert [i.id for i in ascending] == [old, new]


def test_reusing_a_cursor_with_another_query_is_refused(fleetio_hook, fleetio):
    for i in range(3):
        person_imports(fleetio, f"f{i}.csv")
    page = fleetio_hook.imports_page(per_page=2)
    assert page.next_cursor and page.estimated_remaining_count == 3
    with pytest.raises(MetrikaClientError) as caught:
        fleetio_hook.imports_page(import_query(statuses=["new"]), start_cursor=page.next_cursor, per_page=2)
    assert caught.value.status == 422 and "start_cursor" in caught.value.message
    rest = fleetio_hook.imports_page(start_cursor=page.next_cursor, per_page=2)
    assert [r["file_name"] for r in rest.records] == ["f0.csv"]


def test_find_import_and_row_results(fleetio_hook, fleetio):
    wanted = person_imports(fleetio, rows=[{"status": "created"}, {"status": "error", "message": "bad VIN"}])
    person_imports(fleetio, "later.csv")
    fleetio.advance(15)
    found = fleetio_hook.find_import(wanted)
    assert found is not None and found.status == "partially_complete"
    assert fleetio_hook.find_import(wanted + 1000) is None
    errors = list(fleetio_hook.iter_import_results(wanted, statuses=("error",), per_page=2))
    assert [(r["row_number"], r["message"]) for r in errors] == [(2, "bad VIN")]
    assert len(list(fleetio_hook.iter_import_results(wanted, per_page=2))) == 2


def test_429_waits_retry_after(fleetio, fleetio_conn):
    waited, wait = clock_sleep(fleetio)
    fleetio.configure(rate_limit=2, rate_window=60)
    hook = FleetioHook(fleetio_conn, sleep=wait)
    for _ in range(3):
        hook.imports_page()
    assert waited == [60.0]


def test_problem_details_errors_are_read(fleetio_hook, fleetio):
    with pytest.raises(MetrikaClientError) as caught:
        list(fleetio_hook.iter_import_results(999_999))
    error = caught.value
    assert (error.status, error.error_type) == (404, "not_found") and "Couldn't find Import" in error.message
    assert str(error).startswith("Fleetio API error 404")


def test_credentials_stay_out_of_errors_and_logs_when_the_server_echoes_them(fleetio, fleetio_conn, caplog):
    caplog.set_level(logging.DEBUG)
    fleetio.configure(api_keys={"another-key": FLEETIO_ACCOUNT}, echo_credentials=True)
    with pytest.raises(MetrikaClientError) as caught:
        FleetioHook(fleetio_conn).imports_page()
    text = str(caught.value) + repr(caught.value) + caplog.text
    assert caught.value.status == 401 and "withheld" in str(caught.value)
    assert FLEETIO_API_KEY not in text and FLEETIO_ACCOUNT not in text


def test_connection_test_button(fleetio, fleetio_conn):
    ok, message = FleetioHook(fleetio_conn).test_connection()
    assert ok, message
    fleetio.configure(api_keys={"another-key": "x"}, echo_credentials=True)
    ok, message = FleetioHook(fleetio_conn).test_connection()
    assert not ok and "401" in message and FLEETIO_API_KEY not in message
