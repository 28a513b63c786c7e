"""The Fleetio poll plan without I/O: statuses to states, scan stop, errors per id."""

from __future__ import annotations

import asyncio

import pytest

from airflow_provider_metrika.exceptions import MetrikaApiError, MetrikaConfigError
from airflow_provider_metrika.fleetio.status import arun_plan, job_state, poll_plan, run_plan
from airflow_provider_metrika.jobs.record import JobState


def page(records, next_cursor=None, remaining=None):
    return {"records": records, "next_cursor": next_cursor, "estimated_remaining_count": remaining}


def item(number, status="complete", **fields):
    return {"id": number, "type": "MeterEntryImport", "status": status, "file_name": f"{number}.csv", **fields}


@pytest.mark.parametrize(
    ("status", "state"),
    [
        ("complete", JobState.SUCCESS),
        ("partially_complete", JobState.PARTIAL),
        ("failed", JobState.FAILURE),
        ("incomplete", JobState.FAILURE),
        ("rolled_back", JobState.FAILURE),
        ("unsupported", JobState.FAILURE),
        ("rolling_back", JobState.RUNNING),
        ("processing", JobState.RUNNING),
        ("something_new", JobState.RUNNING),
        (None, JobState.RUNNING),
    ],
)
def test_statuses_map_to_states(status, state):
    assert job_state(status) is state


def plan(ids, **options):
    requests: dict[str, int] = {}
    return poll_plan(ids, scope="acme", requests=requests, **options), requests


def test_scan_stops_at_the_smallest_awaited_id_and_keeps_id_order():
    sent = []

    def get(path, params):
        sent.append((path, params))
        if params["start_cursor"] is None:
            return page([item(9), item(8, "processing")], next_cursor="c1")
        return page([item(7), item(5)], next_cursor="c2")

    running, requests = plan(["5", "8"])
    answers = run_plan(running, get)
    assert list(answers) == ["5", "8"] and answers["8"].state is JobState.RUNNING
    assert answers["5"].kind == "MeterEntryImport" and answers["5"].extra == {"file_name": "5.csv"}
    assert requests == {"list": 2} and sent[0][1]["sort[id]"] == "desc" and sent[1][1]["start_cursor"] == "c1"


def test_a_failed_scan_answers_every_id_with_its_error_and_bad_ids_with_theirs():
    error = MetrikaApiError(503, "backend_error", "down", service="Fleetio")

    def get(path, params):
        raise error

    answers = run_plan(plan(["3", "x", "4"])[0], get)
    assert answers["3"] is error and answers["4"] is error
    assert isinstance(answers["x"], MetrikaConfigError) and "import_id" in str(answers["x"])


def test_a_malformed_page_is_an_error_not_a_crash():
    answers = run_plan(plan(["3"])[0], lambda path, params: {"records": "nope"})
    assert isinstance(answers["3"], MetrikaApiError) and "records" in str(answers["3"])


def test_a_looping_cursor_ends_the_scan_with_an_error():
    answers = run_plan(plan(["1"])[0], lambda path, params: page([item(9)], next_cursor="same"))
    assert isinstance(answers["1"], MetrikaApiError) and "repeats" in str(answers["1"])


def test_failed_rows_become_issues_with_secrets_withheld():
    def get(path, params):
        if path.endswith("/results"):
            assert params["filter[status][include]"] == "error" and path == "/api/v1/imports/4/results"
            return page([{"row_number": 2, "message": "key sk-SECRET is wrong"}, {"message": None}], remaining=2)
        return page([item(4, "failed")])

    running, requests = plan(["4"], secrets=("sk-SECRET",))
    record = run_plan(running, get)["4"]
    assert record.issues[0].startswith("row 2: [withheld") and record.issues[1] == "a row: no message given"
    assert "sk-SECRET" not in repr(record)
    assert record.issues_total == 2 and requests == {"list": 1, "results": 1}


def test_row_issues_off_skips_the_results_request():
    running, requests = plan(["4"], row_issues=False)
    record = run_plan(running, lambda path, params: page([item(4, "failed")]))["4"]
    assert record.state is JobState.FAILURE and requests == {"list": 1}


def test_the_async_carrier_answers_alike():
    async def get(path, params):
        return page([item(2, "partially_complete")]) if not path.endswith("results") else page([])

    answers = asyncio.run(arun_plan(plan(["2"])[0], get))
    assert answers["2"].state is JobState.PARTIAL and answers["2"].issues_total == 0
