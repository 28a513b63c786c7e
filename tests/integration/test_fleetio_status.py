"""Fleetio import statuses as job records, against the Fleetio emulator over loopback."""

from __future__ import annotations

import pytest

from airflow_provider_metrika.exceptions import MetrikaClientError
from airflow_provider_metrika.fleetio.status import FleetioStatusReader
from airflow_provider_metrika.jobs.record import MAX_ISSUES, JobState
from tests.emulators import person_imports as fleetio_import
from tests.emulators import requests_to

pytestmark = pytest.mark.integration


def person_imports(emulator, file_name="vehicles.csv", rows=None, **extra) -> str:
    return str(fleetio_import(emulator, file_name, rows, **extra))


@pytest.fixture
def reader(fleetio_hook):
    return FleetioStatusReader(fleetio_hook, scope="acme")


def test_every_status_reads_as_its_state(reader, fleetio):
    ok = person_imports(fleetio, "ok.csv")
    partial = person_imports(fleetio, "p.csv", rows=[{"status": "created"}, {"status": "error", "message": "bad VIN"}])
    failed = person_imports(fleetio, "f.csv", rows=[{"status": "error", "message": "no vehicle"}])
    odd = person_imports(fleetio, "u.csv", outcome="unsupported")
    running = reader.read([ok, partial])
    assert [(r.status, r.state) for r in running] == [("new", JobState.RUNNING)] * 2
    fleetio.advance(15)
    records = reader.read([ok, partial, failed, odd])
    assert [r.state for r in records] == [JobState.SUCCESS, JobState.PARTIAL, JobState.FAILURE, JobState.FAILURE]
    assert records[0].kind == "VehicleImport" and records[0].scope == "acme" and records[0].issues == ()
    assert records[0].extra["file_name"] == "ok.csv" and records[0].extra["completed_at"]
    assert records[1].issues == ("row 2: bad VIN",) and records[1].counters == {"error_rows": 1}
    assert records[2].issues == ("row 1: no vehicle",)
    fleetio.call("POST", f"fleetio/imports/{ok}/rollback")
    assert reader.read([ok])[0].status == "rolling_back" and reader.read([ok])[0].state == JobState.RUNNING
    fleetio.advance(5)
    assert reader.read([ok])[0].state == JobState.FAILURE


def test_many_imports_cost_one_list_request_per_page_they_span(reader, fleetio):
    person_imports(fleetio, "older.csv")
    wanted = [person_imports(fleetio, f"f{i}.csv") for i in range(5)]
    reader.read(wanted)
    assert reader.requests == {"list": 1, "results": 0}
    for i in range(150):
        person_imports(fleetio, f"noise{i}.csv")
    reader.read(wanted)  # 150 newer imports: the scan needs a second page to reach them
    assert reader.requests["list"] == 3 and requests_to(fleetio, "/api/v1/imports") == 3


def test_failed_rows_are_capped_and_counted(reader, fleetio):
    rows = [{"status": "error", "message": f"row problem {i}"} for i in range(MAX_ISSUES + 30)]
    failed = person_imports(fleetio, "big.csv", rows=rows)
    fleetio.advance(15)
    (record,) = reader.read([failed])
    assert len(record.issues) == MAX_ISSUES and record.issues_total == MAX_ISSUES + 30
    assert record.issues[0] == "row 1: row problem 0"
    assert reader.requests["results"] == 1


def test_unknown_and_malformed_ids_are_named(reader, fleetio):
    person_imports(fleetio)
    with pytest.raises(MetrikaClientError, match="import 999 is not among the imports of Fleetio account acme"):
        reader.read(["999"])
    with pytest.raises(Exception, match="import_id must be a positive integer"):
        reader.read(["abc"])


def test_row_results_that_cannot_be_read_leave_the_status_standing(reader, fleetio):
    failed = person_imports(fleetio, "f.csv", rows=[{"status": "error", "message": "x"}])
    fleetio.advance(15)
    fleetio.inject_fault(method="GET", path=f"/imports/{failed}/results", action="status", status=404, times=5)
    (record,) = reader.read([failed])
    assert record.state == JobState.FAILURE and record.issues == ()
    assert "404" in record.extra["row_results_error"]
