"""Expense operators' branches with a mocked hook: parameter checks, the provider, the replace steps."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from airflow_provider_metrika.exceptions import (
    MetrikaAmbiguousResponseError,
    MetrikaConfigError,
    MetrikaSupersededError,
)
from airflow_provider_metrika.jobs import sending as sending_module
from airflow_provider_metrika.operators.expenses import MetrikaReplaceExpensesOperator, MetrikaUploadExpensesOperator
from airflow_provider_metrika.uploads import Uploading
from tests.integration.conftest import FakeTaskInstance

DAY = "2026-11-20"


@pytest.fixture
def context():
    return {"ti": FakeTaskInstance()}


@pytest.fixture
def costs(tmp_path):
    path = tmp_path / "costs.csv"
    path.write_text(f"Date,UTMSource,Expenses\n{DAY},google,5\n")
    return str(path)


def uploading(kind, status, uploading_id="9"):
    return Uploading.from_api(kind, 5, {"id": uploading_id, "status": status, "comment": "x"})


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"date_from": "20.11.2026"}, "date_from='20.11.2026': expected a date YYYY-MM-DD"),
        ({"date_from": DAY, "date_to": "2026-11-19"}, "date_to .2026-11-19. is before date_from"),
        ({"date_from": DAY, "date_to": "soon"}, "date_to='soon'"),
    ],
)
def test_bad_ranges_fail_before_any_request(hook, context, costs, kwargs, match):
    with pytest.raises(MetrikaConfigError, match=match):
        MetrikaReplaceExpensesOperator(task_id="r", src=costs, **kwargs).execute(context)
    hook.delete_expenses.assert_not_called()
    hook.upload_file.assert_not_called()


def test_dates_and_datetimes_are_days():
    op = MetrikaReplaceExpensesOperator(
        task_id="r", rows=[{}], date_from=datetime(2026, 11, 1, 5), date_to=date(2026, 11, 3)
    )
    assert op.date_range() == (date(2026, 11, 1), date(2026, 11, 3))
    one_day = MetrikaReplaceExpensesOperator(task_id="r", rows=[{}], date_from=DAY, date_to="")
    assert one_day.date_range() == (date(2026, 11, 20), date(2026, 11, 20))


def test_min_linked_ratio_does_not_apply_to_expenses():
    with pytest.raises(MetrikaConfigError, match="expenses link no rows"):
        MetrikaUploadExpensesOperator(task_id="u", rows=[{}], min_linked_ratio=0.5)


def test_the_provider_goes_with_the_upload(hook, context, costs):
    hook.upload_file.return_value = uploading("expenses", "UPLOADED")
    MetrikaUploadExpensesOperator(task_id="u", src=costs, provider="crm").execute(context)
    assert hook.upload_file.call_args.kwargs["params"]["provider"] == "crm"
    hook.upload_file.return_value = uploading("expenses", "UPLOADED")
    MetrikaUploadExpensesOperator(task_id="u2", src=costs).execute(context)
    assert "provider" not in hook.upload_file.call_args.kwargs["params"]


def test_replace_deletes_then_uploads(hook, context, costs):
    hook.delete_expenses.return_value = uploading("expense_removals", "PROCESSED", "1")
    hook.upload_file.return_value = uploading("expenses", "UPLOADED", "2")
    result = MetrikaReplaceExpensesOperator(
        task_id="r", src=costs, date_from=DAY, provider="crm", wait_for_completion=False
    ).execute(context)
    assert result["removal_uploading_id"] == "1" and result["replaced"] == DAY and result["ids"] == ["2"]
    args, kwargs = hook.delete_expenses.call_args
    assert args == (5, date(2026, 11, 20), date(2026, 11, 20)) and kwargs["provider"] == "crm"
    assert "afm" in kwargs["comment"]


def test_a_lost_deletion_answer_that_metrika_never_got_fails_this_try(hook, context, costs):
    hook.delete_expenses.side_effect = MetrikaAmbiguousResponseError("connection reset")
    with pytest.raises(MetrikaAmbiguousResponseError):
        MetrikaReplaceExpensesOperator(task_id="r", src=costs, date_from=DAY).execute(context)
    hook.upload_file.assert_not_called()


def test_a_failed_deletion_wait_stops_before_the_upload(hook, context, costs, mocker):
    hook.delete_expenses.return_value = uploading("expense_removals", "UPLOADED", "1")
    mocker.patch.object(sending_module, "wait_blocking", return_value={"status": "error", "message": "gave up"})
    with pytest.raises(Exception, match="gave up"):
        MetrikaReplaceExpensesOperator(task_id="r", src=costs, date_from=DAY).execute(context)
    hook.upload_file.assert_not_called()


def test_empty_input_with_if_empty_fail_deletes_nothing(hook, context, tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("Date,UTMSource,Expenses\n")
    with pytest.raises(Exception, match="no data rows"):
        MetrikaReplaceExpensesOperator(task_id="r", src=str(empty), date_from=DAY, if_empty="fail").execute(context)
    hook.delete_expenses.assert_not_called()


def test_a_superseded_try_deletes_nothing(hook, context, costs, mocker):
    claim = mocker.Mock()
    claim.check.side_effect = MetrikaSupersededError("a newer try runs")
    mocker.patch.object(sending_module.CurrentTry, "of", return_value=claim)
    with pytest.raises(MetrikaSupersededError):
        MetrikaReplaceExpensesOperator(task_id="r", src=costs, date_from=DAY).execute(context)
    hook.delete_expenses.assert_not_called()
    hook.upload_file.assert_not_called()
