"""Ad expenses: upload them, or replace a date range (delete it, then upload) so a daily reload is idempotent.

Metrika keeps every uploaded expense row: uploading a day twice counts its costs twice. Deleting
the day's expenses first (``expense/delete``, processed like an upload) and uploading afterwards
makes a rerun replace, not add:
https://yandex.com/dev/metrika/en/management/openapi/expense/uploadRemoveBody_1
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from airflow_provider_metrika.exceptions import AmbiguousResponseError, NoRowsError, ProviderConfigError
from airflow_provider_metrika.fingerprint import comment_with, find_uploading
from airflow_provider_metrika.formats import FileFormat
from airflow_provider_metrika.formats.expenses import EXPENSES, format_date_range
from airflow_provider_metrika.jobs.fingerprint import fingerprint
from airflow_provider_metrika.jobs.record import JobRecord
from airflow_provider_metrika.jobs.sending import Part
from airflow_provider_metrika.jobs.waiting import finish_wait
from airflow_provider_metrika.operators.upload import MetrikaBaseUploadOperator
from airflow_provider_metrika.uploads import Uploading, UploadState
from airflow_provider_metrika.version_compat import Context
from airflow_provider_metrika.waiting import fetch_uploadings, metrika_waiter

REMOVALS = "expense_removals"


class MetrikaUploadExpensesOperator(MetrikaBaseUploadOperator):
    """Upload ad expenses (CSV: ``Date``, ``UTMSource`` or ``TrafficSource``, ``Expenses``, optional UTM tags,
    ``Currency``, ``Clicks``).

    Yandex Direct costs reach Metrika by themselves: rows that carry them (``UTMSource`` ``yandex``, an ad
    system ``ya_direct``, ...) are reported with a warning, since uploading them doubles the costs.

    :param provider: the data provider's name Metrika stores with the rows (Metrika's default: ``default``);
        a later deletion can be confined to it (templated)
    """

    kind = "expenses"
    template_fields: Sequence[str] = (*MetrikaBaseUploadOperator.template_fields, "provider")

    def __init__(self, *, provider: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.provider = provider
        if self.wait_policy.min_linked_ratio is not None:
            raise ProviderConfigError(f"{type(self).__name__}: expenses link no rows, min_linked_ratio does not apply")

    def upload_params(self, part: Part) -> dict[str, Any]:
        params = super().upload_params(part)
        if self.provider:
            params["provider"] = self.provider
        return params


class MetrikaReplaceExpensesOperator(MetrikaUploadExpensesOperator):
    """Replace the expenses of ``date_from``..``date_to``: delete the range, wait until Metrika has processed the
    deletion, then upload the rows (all of which must lie in the range). An input without rows only deletes.

    A retry converges: the deletion and the upload carry fingerprints of (task instance, data); a retry that
    finds the upload made deletes nothing more, one that finds the deletion reuses it, and a deletion whose
    answer was lost is looked up before anything is sent again. The upload waits until processed by default
    (``wait_for_completion=True``), so the next run's deletion never overtakes it.

    :param date_from: first day replaced, ``YYYY-MM-DD`` or a date (templated, e.g. ``"{{ ds }}"``)
    :param date_to: last day replaced (default: ``date_from``; templated)
    :param provider: replace only this provider's expenses (default: every provider's in the range)
    """

    template_fields: Sequence[str] = (*MetrikaUploadExpensesOperator.template_fields, "date_from", "date_to")

    def __init__(
        self,
        *,
        date_from: str | date,
        date_to: str | date | None = None,
        wait_for_completion: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(wait_for_completion=wait_for_completion, **kwargs)
        self.date_from = date_from
        self.date_to = date_to

    # -- the range ----------------------------------------------------------------------
    def date_range(self) -> tuple[date, date]:
        first = _day(self.date_from, "date_from")
        last = first if self.date_to in (None, "") else _day(self.date_to, "date_to")
        if first > last:
            raise ProviderConfigError(f"date_to ({last}) is before date_from ({first})")
        return first, last

    @property
    def file_format(self) -> str | FileFormat:
        return EXPENSES.replacing(*self.date_range())

    def check_params(self) -> None:
        super().check_params()
        self.date_range()

    # -- delete, then upload -------------------------------------------------------------
    def send_input(self, context: Context, tmpdir: str) -> tuple[list[JobRecord], dict[str, Any]]:
        """Upload as any operator does (``before_send`` deletes the range); no rows: delete only."""
        try:
            return super().send_input(context, tmpdir)
        except NoRowsError:
            if self.if_empty == "fail":
                raise
        self.log.info("No expense rows: deleting %s and uploading nothing", self._range_text())
        removal = self.remove_range(context, "empty")
        return [removal.to_record()], {"replaced": self._range_text(), "removal_uploading_id": removal.uploading_id}

    def before_send(self, context: Context, fingerprints: Sequence[str]) -> dict[str, Any]:
        """Delete the range unless this data's upload already exists (deleting then would delete it)."""
        made = find_uploading(self.hook, self.kind, self.counter, fingerprints[0])
        if made is not None:
            self.log.info("The upload exists already (%s): the range is not deleted again", made.describe())
            removal = find_uploading(self.hook, REMOVALS, self.counter, self.removal_mark(context, fingerprints[0]))
            extra = {"replaced": self._range_text()}
            return extra if removal is None else {**extra, "removal_uploading_id": removal.uploading_id}
        removal = self.remove_range(context, fingerprints[0])
        return {"replaced": self._range_text(), "removal_uploading_id": removal.uploading_id}

    def removal_mark(self, context: Context, data_mark: str) -> str:
        """The fingerprint of this data's deletion of the range."""
        first, last = self.date_range()
        return fingerprint(context, f"remove:{first}:{last}:{self.provider or ''}:{data_mark}")

    def remove_range(self, context: Context, data_mark: str) -> Uploading:
        """This data's deletion of the range (reused when it exists), waited for until Metrika processed it."""
        first, last = self.date_range()
        mark = self.removal_mark(context, data_mark)
        removal = find_uploading(self.hook, REMOVALS, self.counter, mark)
        if removal is not None:
            self.log.info("Reusing the deletion %s (fingerprint %s)", removal.describe(), mark)
        else:
            comment = comment_with(self.comment, mark)
            self.current_try.check(f"the expense deletion {mark}")  # a superseded try deletes nothing
            try:
                removal = self.hook.delete_expenses(self.counter, first, last, provider=self.provider, comment=comment)
            except AmbiguousResponseError:
                removal = find_uploading(self.hook, REMOVALS, self.counter, mark)
                if removal is None:
                    raise
            self.log.info("Deleting the expenses of %s: %s", self._range_text(), removal.describe())
        if removal.state is not UploadState.SUCCESS:
            removal = self.wait_for_removal(removal)
        return removal

    def wait_for_removal(self, removal: Uploading) -> Uploading:
        """Block until the deletion is processed (its final state), or defer (the task resumes in
        ``execute_after_removal``)."""
        ids = [removal.uploading_id]
        waiter = metrika_waiter(
            REMOVALS, self.counter, ids, max_consecutive_failures=self.max_consecutive_failures, logger=self.log
        )
        event = self.await_jobs(
            [removal.to_record()],
            waiter,
            lambda: self.trigger_for(REMOVALS, ids),
            fetch_uploadings(self.hook, REMOVALS, self.counter, ids),
            method_name="execute_after_removal",
        )
        finish_wait(event, self.log)
        return self.hook.get_uploading(REMOVALS, self.counter, removal.uploading_id)

    def execute_after_removal(self, context: Context, event: Mapping[str, Any]) -> Any:
        """The deletion is processed: run again; the fingerprints find the deletion, so the upload follows."""
        finish_wait(event, self.log)
        return self.execute(context)

    def _range_text(self) -> str:
        return format_date_range(*self.date_range())


def _day(value: Any, name: str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise ProviderConfigError(f"{name}={value!r}: expected a date YYYY-MM-DD") from None
