"""Commerce Layer imports read as job records, and the status source's requests (no server)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_metrika.commercelayer import api
from airflow_provider_metrika.commercelayer.auth import TokenCache
from airflow_provider_metrika.commercelayer.hooks_async import CommerceLayerAsyncHook
from airflow_provider_metrika.commercelayer.status import (
    MAX_ISSUE_CHARS,
    CommerceLayerStatusSource,
    job_record,
    job_state,
    organization,
)
from airflow_provider_metrika.exceptions import MetrikaClientError
from airflow_provider_metrika.jobs.record import MAX_ISSUES, JobState


def imported(status: str, **attributes) -> api.CommerceLayerImport:
    return api.CommerceLayerImport.from_resource(
        {"type": "imports", "id": "imp1", "attributes": {"status": status, "resource_type": "skus", **attributes}}
    )


@pytest.mark.parametrize(
    ("status", "attributes", "state"),
    [
        ("pending", {}, JobState.RUNNING),
        ("in_progress", {}, JobState.RUNNING),
        ("completed", {"errors_count": 0}, JobState.SUCCESS),
        ("completed", {}, JobState.SUCCESS),
        ("completed", {"errors_count": 3}, JobState.PARTIAL),
        ("interrupted", {"errors_count": 3}, JobState.CANCELLED),
        ("interrupted", {}, JobState.CANCELLED),
        ("exploded", {}, JobState.FAILURE),
        ("", {}, JobState.FAILURE),
    ],
)
def test_statuses_map_onto_job_states(status, attributes, state):
    assert job_state(imported(status, **attributes)) is state


def test_a_record_carries_counters_issues_and_the_reference_never_inputs_or_metadata():
    record = job_record(
        imported(
            "completed",
            inputs_size=3,
            processed_count=1,
            errors_count=2,
            warnings_count=1,
            errors_log={"SKU1": {"name": ["can't be blank"]}, "SKU2": {"code": ["is taken", "is weird"]}},
            warnings_log={"SKU3": {"price": ["is ignored"]}},
            reference="afm123-part-1",
            metadata={"huge": "x" * 1000},
            inputs=[{"code": "SKU1"}],
        ),
        "acme.commercelayer.io",
    )
    assert (record.vendor, record.kind, record.scope, record.job_id) == (
        "commercelayer",
        "skus",
        "acme.commercelayer.io",
        "imp1",
    )
    assert record.status == "completed" and record.state is JobState.PARTIAL
    assert record.counters == {"inputs_size": 3, "processed_count": 1, "errors_count": 2, "warnings_count": 1}
    assert record.issues == (
        "input SKU1: name can't be blank",
        "input SKU2: code is taken",
        "input SKU2: code is weird",
        "warning: input SKU3: price is ignored",
    )
    assert record.issues_total == 4
    assert record.extra == {"reference": "afm123-part-1"}


def test_issues_are_capped_and_counted_and_each_line_is_bounded():
    log = {f"SKU{i}": {"name": ["can't be blank " + "y" * 1000]} for i in range(250)}
    record = job_record(imported("completed", errors_count=250, errors_log=log), "org")
    assert len(record.issues) == MAX_ISSUES and record.issues_total == 250
    assert all(len(issue) <= MAX_ISSUE_CHARS for issue in record.issues)


@pytest.mark.parametrize(
    "log", [None, "boom", ["a"], {"SKU1": "plain text"}, {"SKU1": {"name": "not a list"}}, {"SKU1": {"n": [1, None]}}]
)
def test_logs_of_any_shape_read_without_failing(log):
    record = job_record(imported("completed", errors_count=1, errors_log=log), "org")
    assert record.state is JobState.PARTIAL and record.issues_total >= 1


def test_a_record_without_a_resource_type_is_still_a_record():
    record = job_record(
        api.CommerceLayerImport.from_resource({"type": "imports", "id": "x", "attributes": {"status": "pending"}}),
        "org",
    )
    assert record.kind == "imports" and record.state is JobState.RUNNING


def test_the_organization_is_the_base_endpoints_host():
    assert organization("https://ACME.commercelayer.io") == "acme.commercelayer.io"
    assert organization("http://127.0.0.1:8080") == "127.0.0.1:8080"


class FakeHook(CommerceLayerAsyncHook):
    def __init__(self, known):
        super().__init__("cl_fake", token_cache=TokenCache())
        self.known = known
        self.asked: list[list[str]] = []

    async def settings(self):
        class S:
            base_url = "https://acme.commercelayer.io"

        return S()

    async def imports_by_id(self, import_ids, fields=api.STATUS_FIELDS):
        self.asked.append(list(import_ids))
        return {i: imported("pending") if i != "done" else imported("completed") for i in import_ids if i in self.known}


async def test_the_source_counts_one_request_per_25_ids_and_reports_unknown_ids_as_not_found():
    ids = [f"i{n}" for n in range(30)] + ["gone"]
    hook = FakeHook(set(ids) - {"gone"})
    source = CommerceLayerStatusSource("cl_fake", hook=hook)
    results = await source.poll([*ids, "i0"])
    assert hook.asked == [ids]  # once, without the repeated id
    assert source.requests == {"list": 2}  # the hook lists 25 ids per request
    assert all(results[i].state is JobState.RUNNING for i in ids[:-1])
    assert isinstance(results["gone"], MetrikaClientError) and results["gone"].status == 404
    assert "gone" in str(results["gone"]) and "acme.commercelayer.io" in str(results["gone"])


async def test_the_source_reads_real_answers_through_the_async_hook(monkeypatch, mocker):
    """The query a poll sends: one id_in filter, the status fieldset (no inputs)."""
    conn = {"conn_type": "commercelayer", "host": "https://acme.commercelayer.io", "login": "c", "password": "s"}
    monkeypatch.setenv("AIRFLOW_CONN_CL_Q", json.dumps(conn))
    hook = CommerceLayerAsyncHook("cl_q", token_cache=TokenCache())
    sent = []

    async def request(method, path, *, params=None, body=None):
        sent.append((method, path, dict(params)))
        return {"data": [{"type": "imports", "id": "a", "attributes": {"status": "completed"}}]}

    mocker.patch.object(hook, "request", side_effect=request)
    ids = ["a", "b", *(f"x{n}" for n in range(30))]
    results = await CommerceLayerStatusSource("cl_q", hook=hook).poll(ids)
    assert [p["filter[q][id_in]"].count(",") + 1 for _, _, p in sent] == [25, 7]
    method, path, params = sent[0]
    assert (method, path, params["filter[q][id_in]"]) == ("GET", "/api/imports", ",".join(ids[:25]))
    assert "inputs" not in params["fields[imports]"].split(",") and "errors_log" in params["fields[imports]"]
    assert results["a"].state is JobState.SUCCESS and isinstance(results["b"], MetrikaClientError)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=50),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=20), children, max_size=5),
    max_leaves=30,
)


@settings(max_examples=200, deadline=None)
@given(errors_log=JSON, warnings_log=JSON, errors_count=JSON, status=JSON)
def test_any_json_a_server_sends_reads_as_a_bounded_record(errors_log, warnings_log, errors_count, status):
    """Whatever shapes the logs and counters take, the record is built, its issues capped and each line bounded."""
    item = api.CommerceLayerImport.from_resource(
        {
            "type": "imports",
            "id": "imp1",
            "attributes": {
                "status": status,
                "errors_log": errors_log,
                "warnings_log": warnings_log,
                "errors_count": errors_count,
            },
        }
    )
    record = job_record(item, "org")
    assert len(record.issues) <= MAX_ISSUES and record.issues_total >= len(record.issues)
    assert all(len(issue) <= MAX_ISSUE_CHARS for issue in record.issues)
    assert all(isinstance(value, int) for value in record.counters.values())
