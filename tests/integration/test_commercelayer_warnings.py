"""Commerce Layer ``warnings_log`` end to end: the emulator's warnings (its strict/lenient switch) and the operator
putting them in the XCom result (capped) and in the rejected-rows file."""

from __future__ import annotations

import csv

import pytest
import requests

from airflow_provider_metrika.commercelayer.hooks import CommerceLayerHook
from airflow_provider_metrika.commercelayer.operators import CommerceLayerImportOperator
from airflow_provider_metrika.jobs import waiting
from airflow_provider_metrika.jobs.record import MAX_ISSUES
from tests.integration.conftest import FakeTaskInstance

pytestmark = pytest.mark.integration


def skus(count, start=0, name="Item"):
    return [{"code": f"SKU{i:03d}", "name": f"{name} {i}"} for i in range(start, start + count)]


@pytest.fixture
def hook(commercelayer, commercelayer_conn):
    hook = CommerceLayerHook(commercelayer_conn, sleep=commercelayer.advance)
    yield hook
    hook.close()


def imported(hook, commercelayer, inputs):
    created = hook.create_import("skus", inputs)
    commercelayer.advance(60)
    return hook.get_import(created.id).attributes


def test_a_duplicate_input_is_skipped_with_a_warning_keyed_by_its_position(hook, commercelayer):
    done = imported(hook, commercelayer, [*skus(3), {"code": "SKU001", "name": "again"}])
    assert (done["status"], done["processed_count"], done["errors_count"]) == ("completed", 3, 0)
    assert done["warnings_count"] == 1
    assert done["warnings_log"] == {"3": ["skipped: duplicates input 1 of this import"]}
    stored = {
        r["key"]: r["attributes"]["name"] for r in commercelayer.call("GET", "commercelayer/records/skus")["records"]
    }
    assert stored["SKU001"] == "Item 1"  # the skipped duplicate changed nothing


def test_strict_duplicates_are_errors_that_count_towards_the_interrupt(hook, commercelayer):
    commercelayer.configure(duplicate_inputs="error")
    done = imported(hook, commercelayer, [*skus(19), {"code": "SKU001", "name": "again"}])
    assert (done["status"], done["errors_count"], done["warnings_count"]) == ("completed", 1, 0)
    assert done["errors_log"] == {"SKU001": {"base": ["duplicates input 1 of this import"]}}
    interrupted = imported(hook, commercelayer, [*skus(2, 50), {"code": "SKU050", "name": "again"}])
    assert interrupted["status"] == "interrupted"  # 1 of 3 is above 10 %


def test_an_input_that_updates_nothing_warns_only_when_asked(hook, commercelayer):
    imported(hook, commercelayer, skus(2))
    assert imported(hook, commercelayer, skus(2))["warnings_count"] == 0  # quiet by default
    commercelayer.configure(warn_unchanged=True)
    again = imported(hook, commercelayer, [*skus(1), *skus(1, 1, name="Renamed")])
    assert again["warnings_log"] == {"SKU000": ["updated nothing: the record already has these values"]}
    assert (again["processed_count"], again["warnings_count"]) == (2, 1)


def test_the_switch_refuses_other_values(commercelayer):
    refused = requests.post(
        f"{commercelayer.base_url}/_emulator/config", json={"duplicate_inputs": "maybe"}, timeout=30
    )
    assert refused.status_code == 400 and "duplicate_inputs must be 'skip'" in refused.text


@pytest.fixture
def advance(commercelayer, monkeypatch):
    monkeypatch.setattr(waiting, "pause", commercelayer.advance)


def run_operator(rows, **kwargs):
    context = {"ti": FakeTaskInstance(dag_id="cl", task_id="import")}
    op = CommerceLayerImportOperator(
        task_id="import", resource_type="skus", rows=rows, deferrable=False, poll_interval=5, **kwargs
    )
    return op.execute(context), context


def test_the_operator_reports_warnings_in_its_result_and_the_rejected_rows_file(
    commercelayer, commercelayer_conn, advance, tmp_path
):
    rows = [*skus(9), {"code": "SKU006", "name": "again"}]  # part 2 holds SKU005 to SKU008 and this duplicate
    target = tmp_path / "rejected.csv"
    result, _ = run_operator(rows, chunk_size=5, rejected_rows_path=str(target))
    job = result["jobs"][1]
    assert job["state"] == "success" and job["counters"]["warnings_count"] == 1  # a warning never fails the task
    assert job["issues"] == ["warning: input 4: skipped: duplicates input 1 of this import"]
    assert (
        len(result["warnings"]) == 1 and "1 warning(s): input 4: skipped: duplicates input 1" in result["warnings"][0]
    )
    assert result["rejected_rows"] == {"path": str(target), "rows": 1}
    lines = list(csv.reader(target.open()))
    assert lines[0][:2] == ["row", "errors"]
    assert lines[1][:2] == ["10", "warning: skipped: duplicates input 1 of this import"] and "again" in lines[1]


def test_many_warnings_are_capped_in_the_result(commercelayer, commercelayer_conn, advance):
    rows = [*skus(1), *({"code": "SKU000", "name": f"copy {i}"} for i in range(150))]
    result, _ = run_operator(rows)
    job = result["jobs"][0]
    assert job["counters"]["warnings_count"] == 150 and job["issues_total"] == 150
    assert len(job["issues"]) == MAX_ISSUES and all(issue.startswith("warning: input ") for issue in job["issues"])
    assert "150 warning(s)" in result["warnings"][0] and "(and 145 more)" in result["warnings"][0]
