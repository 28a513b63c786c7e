"""The job record, its XCom summary, the JobsResult shape and what a sensor accepts as upstream jobs."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_provider_metrika.exceptions import MetrikaConfigError
from airflow_provider_metrika.jobs.record import (
    MAX_ISSUES,
    JobRecord,
    JobState,
    cap_issues,
    jobs_result,
    read_job_ref,
)


def record(**overrides) -> JobRecord:
    fields = dict(
        vendor="metrika",
        kind="calls",
        scope="42",
        job_id="7",
        status="PROCESSED",
        state=JobState.SUCCESS,
        counters={"line_quantity": 3},
    )
    fields.update(overrides)
    return JobRecord(**fields)


def test_only_running_is_not_terminal():
    assert [s for s in JobState if not s.terminal] == [JobState.RUNNING]


def test_state_is_read_from_its_value():
    assert record(state="partial").state is JobState.PARTIAL
    with pytest.raises(ValueError, match="'done'"):
        record(state="done")


@pytest.mark.parametrize("field", ["vendor", "kind", "scope", "job_id"])
def test_identity_fields_must_be_non_empty_text(field):
    with pytest.raises(ValueError, match=field):
        record(**{field: ""})
    with pytest.raises(ValueError, match=field):
        record(**{field: 7})


def test_status_must_be_text_or_none():
    assert record(status=None).status is None
    with pytest.raises(ValueError, match="status must be text"):
        record(status=["PROCESSED"])


@pytest.mark.parametrize("value", [True, "3", float("nan"), float("inf"), None])
def test_counters_must_be_finite_numbers(value):
    with pytest.raises(ValueError, match="line_quantity"):
        record(counters={"line_quantity": value})


def test_issues_are_capped_and_counted():
    issues = [f"input {i}: code can't be blank" for i in range(MAX_ISSUES + 25)]
    job = record(issues=issues)
    assert len(job.issues) == MAX_ISSUES
    assert job.issues[0] == issues[0]
    assert job.issues_total == MAX_ISSUES + 25


def test_issues_total_keeps_a_larger_count_from_the_vendor():
    job = record(issues=["row 1: bad"], issues_total=5000)
    assert job.issues == ("row 1: bad",)
    assert job.issues_total == 5000


@given(st.lists(st.text(max_size=5), max_size=3 * MAX_ISSUES), st.integers(min_value=0, max_value=10**6))
def test_cap_issues_never_keeps_more_than_the_cap_nor_counts_less_than_given(issues, total):
    kept, counted = cap_issues(issues, total)
    assert len(kept) == min(len(issues), MAX_ISSUES)
    assert counted == max(len(issues), total)


def test_summary_is_json_safe_and_carries_everything():
    job = record(issues=["row 2: bad date"], extra={"comment": "airflow:abc"})
    summary = job.to_summary()
    assert json.loads(json.dumps(summary)) == {
        "vendor": "metrika",
        "kind": "calls",
        "scope": "42",
        "id": "7",
        "status": "PROCESSED",
        "state": "success",
        "counters": {"line_quantity": 3},
        "issues": ["row 2: bad date"],
        "issues_total": 1,
        "extra": {"comment": "airflow:abc"},
    }


def test_summary_does_not_share_the_records_containers():
    job = record()
    summary = job.to_summary()
    summary["counters"]["line_quantity"] = 99
    assert job.counters["line_quantity"] == 3


def test_describe_is_one_line_naming_the_job_and_its_counters():
    text = record(issues=["a", "b"]).describe()
    assert text == "calls job 7 in 42: status PROCESSED (line_quantity=3); 2 issues"
    assert "\n" not in text


def test_jobs_result_always_lists_ids_and_jobs_also_for_one_job():
    result = jobs_result("metrika", [record()], warnings=["low linkage"], fingerprint="abc")
    assert result["vendor"] == "metrika"
    assert result["ids"] == ["7"]
    assert [job["id"] for job in result["jobs"]] == ["7"]
    assert result["warnings"] == ["low linkage"]
    assert result["fingerprint"] == "abc"
    assert jobs_result("metrika", [])["ids"] == []


def test_jobs_result_accepts_summaries_already_built():
    summary = record(job_id="9").to_summary()
    assert jobs_result("metrika", [summary, record()])["ids"] == ["9", "7"]


def test_read_job_ref_from_a_jobs_result_takes_kind_and_scope_from_its_first_job():
    ref = read_job_ref(jobs_result("metrika", [record(job_id="1"), record(job_id="2")]))
    assert ref.ids == ("1", "2")
    assert (ref.kind, ref.scope) == ("calls", "42")


def test_read_job_ref_from_a_summary_an_id_and_a_list():
    assert read_job_ref(record().to_summary()).ids == ("7",)
    assert read_job_ref(17).ids == ("17",)
    assert read_job_ref(" 17 ").ids == ("17",)
    ref = read_job_ref(["1", 2, "1"])
    assert ref.ids == ("1", "2")
    assert ref.kind is None and ref.scope is None


def test_read_job_ref_from_a_result_with_ids_only():
    assert read_job_ref({"vendor": "fleetio", "ids": ["5"], "jobs": [], "warnings": []}).ids == ("5",)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (None, "uploading_id is required"),
        ([], "uploading_id is required"),
        ({"vendor": "metrika", "ids": []}, "uploading_id is required"),
        ({"foo": 1}, "got keys \\['foo'\\]"),
        (True, "unsupported value of type bool"),
        (3.5, "unsupported value of type float"),
        (b"12", "unsupported value of type bytes"),
        ("   ", "a job id is empty"),
        ({"id": None, "state": "running"}, "a job id must be text or a number"),
    ],
)
def test_read_job_ref_names_the_parameter_on_bad_input(value, message):
    with pytest.raises(MetrikaConfigError, match=f"^uploading_id.*{message}|{message}"):
        read_job_ref(value, parameter="uploading_id")


def test_read_job_ref_refuses_another_vendors_jobs_naming_both():
    fleetio = jobs_result("fleetio", [record(vendor="fleetio")])
    with pytest.raises(MetrikaConfigError, match="uploading_id: the upstream jobs are 'fleetio' jobs, this task waits"):
        read_job_ref(fleetio, parameter="uploading_id", vendor="metrika")
    with pytest.raises(MetrikaConfigError, match="'fleetio' jobs"):
        read_job_ref(fleetio["jobs"][0], vendor="metrika")
    assert read_job_ref(fleetio, vendor="fleetio").ids == ("7",)


@pytest.mark.parametrize(("field", "what"), [("kind", "kinds"), ("scope", "scopes")])
def test_read_job_ref_refuses_jobs_of_several_kinds_or_scopes(field, what):
    mixed = [record(job_id="1").to_summary(), record(job_id="2", **{field: "other"}).to_summary()]
    with pytest.raises(MetrikaConfigError, match=f"several {what}"):
        read_job_ref(mixed, one_kind=True)


def test_read_job_ref_takes_several_kinds_unless_told_one():
    mixed = [record(job_id="1").to_summary(), record(job_id="2", kind="other").to_summary()]
    assert read_job_ref(mixed).ids == ("1", "2")
