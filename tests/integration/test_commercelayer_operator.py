"""CommerceLayerImportOperator against the Commerce Layer emulator over loopback."""

from __future__ import annotations

import csv
import json
import re

import pytest

from airflow_provider_metrika.commercelayer.operators import CommerceLayerImportOperator
from airflow_provider_metrika.commercelayer.triggers import CommerceLayerImportTrigger
from airflow_provider_metrika.exceptions import MetrikaConfigError, MetrikaValidationError
from airflow_provider_metrika.jobs import waiting
from airflow_provider_metrika.version_compat import AirflowFailException, TaskDeferred
from tests.integration.conftest import FakeTaskInstance

pytestmark = pytest.mark.integration


def skus(count, start=0):
    return [
        {"code": f"SKU{i:05d}", "name": f"Item {i}", "shipping_category_id": "abc"} for i in range(start, start + count)
    ]


@pytest.fixture
def advance(commercelayer, monkeypatch):
    """Worker-side pauses (slot waits, blocking waits) advance the emulator's clock."""
    waited = []

    def pause(seconds):
        waited.append(seconds)
        commercelayer.advance(seconds)

    monkeypatch.setattr(waiting, "pause", pause)
    return waited


@pytest.fixture
def context():
    return {"ti": FakeTaskInstance(dag_id="cl", task_id="import", run_id="run1")}


def imports_of(commercelayer):
    return commercelayer.call("GET", "commercelayer/imports")["imports"]


def records_of(commercelayer, resource_type="skus"):
    return commercelayer.call("GET", f"commercelayer/records/{resource_type}")["records"]


def operator(**kwargs):
    kwargs.setdefault("task_id", "import")
    kwargs.setdefault("resource_type", "skus")
    kwargs.setdefault("deferrable", False)
    kwargs.setdefault("poll_interval", 5)
    return CommerceLayerImportOperator(**kwargs)


def test_rows_are_cut_into_imports_and_waited_for(commercelayer, commercelayer_conn, advance, context):
    result = operator(rows=skus(25), chunk_size=10, metadata={"source": "erp"}).execute(context)
    assert result["vendor"] == "commercelayer" and len(result["ids"]) == 3
    assert [job["counters"]["inputs_size"] for job in result["jobs"]] == [10, 10, 5]
    assert {job["state"] for job in result["jobs"]} == {"success"}
    assert result["fingerprint"].startswith("afm")
    references = [job["extra"]["reference"] for job in result["jobs"]]
    assert [re.fullmatch(r"afm[0-9a-f]{20}-p(\d)of3", r)[1] for r in references] == ["1", "2", "3"]
    assert len({r.split("-")[0] for r in references}) == 3  # each part its own fingerprint
    assert len(records_of(commercelayer)) == 25
    assert all(i["attributes"]["metadata"] == {"source": "erp"} for i in imports_of(commercelayer))


def test_a_retry_reattaches_instead_of_importing_again(commercelayer, commercelayer_conn, advance, context):
    first = operator(rows=skus(25), chunk_size=10).execute(context)
    again = operator(rows=skus(25), chunk_size=10).execute(context)
    assert again["ids"] == first["ids"] and len(imports_of(commercelayer)) == 3
    assert {r["writes"] for r in records_of(commercelayer)} == {1}


def test_a_retry_after_a_partial_send_creates_only_the_missing_parts(
    commercelayer, commercelayer_conn, advance, context
):
    op = operator(rows=skus(30), chunk_size=10, wait_for_completion=False)
    first = op.execute(context)
    ids = first["ids"]
    # forget the last part, as if the first try died before creating it
    from airflow_provider_metrika.commercelayer.hooks import CommerceLayerHook

    CommerceLayerHook(commercelayer_conn).delete_import(ids[2])
    again = operator(rows=skus(30), chunk_size=10, wait_for_completion=False).execute(context)
    assert again["ids"][:2] == ids[:2] and again["ids"][2] != ids[2]
    assert len(imports_of(commercelayer)) == 3


def test_a_lost_create_answer_is_found_by_reference(commercelayer, commercelayer_conn, advance, context):
    commercelayer.inject_fault(method="POST", path="^/api/imports$", action="drop_response", times=1)
    result = operator(rows=skus(5)).execute(context)
    assert len(imports_of(commercelayer)) == 1 and result["ids"] == [imports_of(commercelayer)[0]["id"]]


def test_at_most_max_open_imports_are_open_at_once(commercelayer, commercelayer_conn, advance, context):
    result = operator(rows=skus(50), chunk_size=5, max_open_imports=3).execute(context)
    assert len(result["ids"]) == 10
    found = imports_of(commercelayer)
    for item in found:
        created = item["attributes"]["created_at"]
        open_then = [
            other
            for other in found
            if other["attributes"]["created_at"] <= created
            and (other["attributes"]["completed_at"] or "9999") > created
        ]
        assert len(open_then) <= 3, (created, [o["id"] for o in open_then])
    assert advance  # the task waited for slots


def test_a_bad_row_names_row_and_field_and_nothing_is_sent(commercelayer, commercelayer_conn, context):
    rows = [*skus(3), {"code": "X", "name": float("nan")}, {"code": "Y", "tags": {"a": object()}}]
    with pytest.raises(MetrikaValidationError) as caught:
        operator(rows=rows).execute(context)
    message = str(caught.value)
    assert "row 4, field 'name': nan is not a JSON number" in message
    assert "row 5, field 'tags'" in message
    assert imports_of(commercelayer) == []


def test_a_csv_file_row_with_too_many_fields_is_named(commercelayer, commercelayer_conn, context, tmp_path):
    path = tmp_path / "skus.csv"
    path.write_text("code,name\nA,a\nB,b,extra\n")
    with pytest.raises(MetrikaValidationError, match=r"skus.csv: row 2: has more fields than the header"):
        operator(src=str(path), format="csv").execute(context)
    assert imports_of(commercelayer) == []


def test_csv_and_json_files_import(commercelayer, commercelayer_conn, advance, context, tmp_path):
    csv_path = tmp_path / "skus.csv"
    with csv_path.open("w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=["code", "name"])
        writer.writeheader()
        writer.writerows({"code": f"C{i}", "name": f"c{i}"} for i in range(12))
    json_path = tmp_path / "more.json"
    json_path.write_text(json.dumps([{"code": f"J{i}", "name": f"j{i}"} for i in range(7)]))
    operator(src=str(csv_path), format="csv", chunk_size=5).execute(context)
    operator(task_id="json", src=str(json_path)).execute(context)
    codes = {r["attributes"]["code"] for r in records_of(commercelayer)}
    assert codes == {f"C{i}" for i in range(12)} | {f"J{i}" for i in range(7)}
    assert [i["attributes"]["format"] for i in imports_of(commercelayer)] == ["csv", "csv", "csv", "json"]


def test_failed_inputs_fail_the_task_and_land_in_the_rejected_rows_file(
    commercelayer, commercelayer_conn, advance, context, tmp_path
):
    rows = [*skus(19), {"code": "NONAME"}]
    target = tmp_path / "out" / "rejected.csv"
    with pytest.raises(AirflowFailException, match="1 of 20 inputs failed"):
        operator(rows=rows, rejected_rows_path=str(target)).execute(context)
    lines = list(csv.reader(target.open()))
    assert lines[0][:2] == ["row", "errors"] and lines[1][:2] == ["20", "name can't be blank"]
    assert "NONAME" in lines[1]


def test_within_max_error_ratio_the_result_carries_issues_and_the_file(
    commercelayer, commercelayer_conn, advance, context, tmp_path
):
    rows = [*skus(19), {"code": "NONAME"}]
    result = operator(rows=rows, max_error_ratio=0.1, rejected_rows_path=str(tmp_path / "r.csv")).execute(context)
    assert result["jobs"][0]["state"] == "partial" and result["jobs"][0]["issues"] == [
        "input NONAME: name can't be blank"
    ]
    assert result["rejected_rows"]["rows"] == 1 and result["warnings"]


def test_the_deferrable_operator_defers_and_completes(commercelayer, commercelayer_conn, context, monkeypatch):
    op = operator(rows=skus(12), chunk_size=10, deferrable=True, max_error_ratio=0.5)
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(context)
    trigger = deferred.value.trigger
    assert isinstance(trigger, CommerceLayerImportTrigger) and len(trigger.job_ids) == 2
    assert trigger.interrupt_on_kill is True and trigger.max_error_ratio == 0.5
    commercelayer.advance(30)
    fired = None

    async def first():
        return (await anext(trigger.run())).payload

    import asyncio

    fired = asyncio.run(first())
    result = op.execute_complete(context, fired, **(deferred.value.kwargs or {}))
    assert result["ids"] == trigger.job_ids and result["fingerprint"].startswith("afm")


def test_on_kill_interrupts_what_this_try_created(commercelayer, commercelayer_conn, context):
    op = operator(rows=skus(12), chunk_size=10, wait_for_completion=False)
    op.execute(context)
    op.on_kill()
    assert {i["attributes"]["status"] for i in imports_of(commercelayer)} == {"interrupted"}


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"format": "xml", "rows": []}, "format"),
        ({"chunk_size": 10_001, "rows": []}, "chunk_size"),
        ({"chunk_size": 0, "rows": []}, "chunk_size"),
        ({"max_open_imports": 11, "rows": []}, "max_open_imports"),
        ({"max_error_ratio": 2, "rows": []}, "max_error_ratio"),
        ({"resource_type": " ", "rows": []}, "resource_type"),
        ({"metadata": [1], "rows": []}, "metadata"),
        ({"poll_interval": 0, "rows": []}, "poll_interval"),
    ],
)
def test_bad_parameters_name_the_parameter(kwargs, named):
    with pytest.raises((MetrikaConfigError, ValueError), match=named):
        operator(**kwargs)


def test_src_and_rows_together_are_refused(commercelayer, commercelayer_conn, context):
    with pytest.raises(MetrikaConfigError, match="src or rows, not both"):
        operator(src="/tmp/x.csv", rows=skus(1))
    assert imports_of(commercelayer) == []
