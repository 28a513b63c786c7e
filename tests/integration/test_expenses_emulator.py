"""Expenses end to end against the emulator: upload, replace a date range (idempotent reruns), the
deletion's lifecycle, retries that converge after a crash or a lost answer, and the deferrable path."""

from __future__ import annotations

import datetime

import pytest

from airflow_provider_metrika.exceptions import MetrikaValidationError
from airflow_provider_metrika.hooks.metrika import MetrikaHook
from airflow_provider_metrika.operators.expenses import MetrikaReplaceExpensesOperator, MetrikaUploadExpensesOperator
from airflow_provider_metrika.sensors.uploading import MetrikaUploadingSensor
from airflow_provider_metrika.version_compat import TaskDeferred
from tests.integration.conftest import FakeTaskInstance
from tests.xcom import only_job

pytestmark = pytest.mark.integration
COUNTER = 12345
DAY = "2026-11-20"


def expenses_file(path, rows: list[tuple[str, str, str]]):
    path.write_text(
        "Date,UTMSource,UTMMedium,Expenses,Currency,Clicks\n"
        + "".join(f"{day},{source},cpc,{amount},RUB,3\n" for day, source, amount in rows)
    )
    return str(path)


def held(emulator):
    return sorted((row["date"], row["utmsource"], row["expenses"]) for row in emulator.expenses(COUNTER))


def test_upload_waits_until_processed_and_the_rows_count(metrika_conn, emulator, emulated_waits, context, tmp_path):
    src = expenses_file(tmp_path / "e.csv", [(DAY, "google", "10.50"), (DAY, "vk", "3")])
    result = MetrikaUploadExpensesOperator(
        task_id="costs", src=src, provider="crm", comment="costs", wait_for_completion=True
    ).execute(context)
    result = only_job(result)
    assert result["kind"] == "expenses" and result["status"] == "PROCESSED" and result["source_quantity"] == 2
    (stored,) = emulator.uploadings(kind="expenses")
    assert stored["uploading"]["type"] == "EXPENSES" and stored["uploading"]["provider"] == "crm"
    assert held(emulator) == [(DAY, "google", "10.50"), (DAY, "vk", "3")]


def test_a_daily_reload_replaces_instead_of_adding(metrika_conn, emulator, emulated_waits, tmp_path):
    old = expenses_file(tmp_path / "old.csv", [(DAY, "google", "10"), ("2026-11-19", "google", "7")])
    MetrikaUploadExpensesOperator(task_id="seed", src=old, wait_for_completion=True).execute(
        {"ti": FakeTaskInstance(task_id="seed")}
    )
    corrected = expenses_file(tmp_path / "new.csv", [(DAY, "google", "12"), (DAY, "vk", "1")])
    for run in ("run1", "run2"):  # two runs of the same day (a rerun, a backfill): the day holds one copy
        result = MetrikaReplaceExpensesOperator(task_id="replace", src=corrected, date_from=DAY).execute(
            {"ti": FakeTaskInstance(run_id=run)}
        )
        assert (only_job(result)["kind"], only_job(result)["status"]) == ("expenses", "PROCESSED")
    assert held(emulator) == [("2026-11-19", "google", "7"), (DAY, "google", "12"), (DAY, "vk", "1")]
    types = [u["uploading"]["type"] for u in emulator.uploadings(kind="expenses")]
    assert types == ["EXPENSES", "REMOVES", "EXPENSES", "REMOVES", "EXPENSES"]


def test_a_retry_after_a_crash_between_delete_and_upload_converges(
    metrika_conn, emulator, emulated_waits, context, tmp_path, monkeypatch
):
    src = expenses_file(tmp_path / "e.csv", [(DAY, "google", "5")])
    op = MetrikaReplaceExpensesOperator(task_id="replace", src=src, date_from=DAY)
    upload_file = MetrikaHook.upload_file
    monkeypatch.setattr(MetrikaHook, "upload_file", _dies_on("expenses", upload_file))
    with pytest.raises(RuntimeError, match="worker died"):
        op.execute(context)
    monkeypatch.setattr(MetrikaHook, "upload_file", upload_file)
    result = MetrikaReplaceExpensesOperator(task_id="replace", src=src, date_from=DAY).execute(context)
    assert only_job(result)["status"] == "PROCESSED"
    types = [u["uploading"]["type"] for u in emulator.uploadings(kind="expenses")]
    assert types == ["REMOVES", "EXPENSES"]  # the retry reused the deletion
    assert held(emulator) == [(DAY, "google", "5")]


def test_a_retry_after_the_upload_deletes_nothing_more(metrika_conn, emulator, emulated_waits, context, tmp_path):
    src = expenses_file(tmp_path / "e.csv", [(DAY, "google", "5")])
    first = MetrikaReplaceExpensesOperator(task_id="replace", src=src, date_from=DAY).execute(context)
    again = MetrikaReplaceExpensesOperator(task_id="replace", src=src, date_from=DAY).execute(context)
    assert again["ids"] == first["ids"] and len(first["ids"]) == 1
    assert [u["uploading"]["type"] for u in emulator.uploadings(kind="expenses")] == ["REMOVES", "EXPENSES"]
    assert held(emulator) == [(DAY, "google", "5")]


def test_a_lost_deletion_answer_is_found_not_resent(metrika_conn, emulator, emulated_waits, context, tmp_path):
    emulator.inject_fault(method="POST", path="/expense/delete", action="reset_after", times=1)
    src = expenses_file(tmp_path / "e.csv", [(DAY, "google", "5")])
    result = MetrikaReplaceExpensesOperator(task_id="replace", src=src, date_from=DAY).execute(context)
    assert only_job(result)["status"] == "PROCESSED"
    assert [u["uploading"]["type"] for u in emulator.uploadings(kind="expenses")] == ["REMOVES", "EXPENSES"]


def test_rows_outside_the_range_fail_before_anything_is_deleted(metrika_conn, emulator, context, tmp_path):
    src = expenses_file(tmp_path / "e.csv", [(DAY, "google", "5"), ("2026-11-21", "google", "1")])
    with pytest.raises(MetrikaValidationError, match=r"row 3, column Date: 2026-11-21 lies outside the replaced"):
        MetrikaReplaceExpensesOperator(task_id="replace", src=src, date_from=DAY).execute(context)
    assert emulator.uploadings() == []


def test_an_empty_day_only_deletes_the_range(metrika_conn, emulator, emulated_waits, tmp_path):
    seed = expenses_file(tmp_path / "seed.csv", [(DAY, "google", "9")])
    MetrikaUploadExpensesOperator(task_id="seed", src=seed, wait_for_completion=True).execute(
        {"ti": FakeTaskInstance(task_id="seed")}
    )
    empty = tmp_path / "empty.csv"
    empty.write_text("Date,UTMSource,Expenses\n")
    result = MetrikaReplaceExpensesOperator(task_id="replace", src=str(empty), date_from=DAY).execute(
        {"ti": FakeTaskInstance()}
    )
    assert (only_job(result)["kind"], only_job(result)["status"]) == ("expense_removals", "PROCESSED")
    assert held(emulator) == []


def test_the_deferrable_replace_waits_for_the_deletion_in_the_trigger(metrika_conn, emulator, context, tmp_path):
    src = expenses_file(tmp_path / "e.csv", [(DAY, "google", "5")])
    op = MetrikaReplaceExpensesOperator(task_id="replace", src=src, date_from=DAY, deferrable=True)
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(context)
    assert deferred.value.method_name == "execute_after_removal"
    _, kwargs = deferred.value.trigger.serialize()
    assert kwargs["kind"] == "expense_removals"
    emulator.finish_all()
    with pytest.raises(TaskDeferred) as second:  # the deletion is processed: the upload is made, then awaited
        done = {"status": "success", "terminal": True, "message": "ok", "warnings": [], "result": {"jobs": []}}
        op.execute_after_removal(context, done)
    assert second.value.method_name == "execute_complete"
    assert [u["uploading"]["type"] for u in emulator.uploadings(kind="expenses")] == ["REMOVES", "EXPENSES"]


def test_the_sensor_waits_on_expenses(metrika_conn, emulator, context, tmp_path):
    src = expenses_file(tmp_path / "e.csv", [(DAY, "google", "5")])
    xcom = MetrikaUploadExpensesOperator(task_id="costs", src=src).execute(context)
    sensor = MetrikaUploadingSensor(task_id="wait", uploading_id=xcom, deferrable=False)
    assert not sensor.poke(context).is_done
    emulator.finish_all()
    assert only_job(sensor.poke(context).xcom_value)["status"] == "PROCESSED"


def test_the_hook_deletes_a_range_of_one_provider(metrika_conn, emulator, tmp_path):
    hook = MetrikaHook(metrika_conn)
    for provider, amount in (("crm", "1"), ("other", "2")):
        path = expenses_file(tmp_path / f"{provider}.csv", [(DAY, "google", amount)])
        hook.upload_expenses(None, path, provider=provider)
    removal = hook.delete_expenses(None, datetime.date(2026, 11, 1), datetime.date(2026, 11, 30), provider="crm")
    assert removal.kind == "expense_removals" and removal.status == "UPLOADED"
    emulator.finish_all()
    assert hook.get_uploading("expense_removals", None, removal.uploading_id).status == "PROCESSED"
    assert held(emulator) == [(DAY, "google", "2")]


def _dies_on(kind, upload_file):
    def upload(self, upload_kind, *args, **kwargs):
        if upload_kind == kind:
            raise RuntimeError("worker died")
        return upload_file(self, upload_kind, *args, **kwargs)

    return upload
