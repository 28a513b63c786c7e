"""Ad expenses CSV (and the CSV that deletes uploaded expenses).

Columns: https://yandex.com/dev/metrika/en/management/openapi/expense/uploadMultipart (upload) and
https://yandex.com/dev/metrika/en/management/openapi/expense/uploadRemoveBody_1 (delete); traffic
sources: https://yandex.com/dev/metrika/en/management/table-source. Yandex Direct costs reach Metrika
by themselves, so rows that carry them would be counted twice: the validator warns about them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any

from airflow_provider_metrika.exceptions import MetrikaConfigError
from airflow_provider_metrika.formats.base import FileFormat
from airflow_provider_metrika.formats.checker import HeaderContext, RowRules
from airflow_provider_metrika.formats.offline_conversions import index_columns
from airflow_provider_metrika.formats.options import ValidationOptions
from airflow_provider_metrika.formats.values import check_currency, check_decimal, check_non_negative_int
from airflow_provider_metrika.formats.writer import Column, column_lookup, encode_columns, to_decimal_text, to_int_text

DATE = "Date"
UTM_SOURCE = "UTMSource"
TRAFFIC_SOURCE = "TrafficSource"
TRAFFIC_SOURCE_DETAIL = "TrafficSourceDetail"
#: First-level traffic sources Metrika accepts (the table-source page).
TRAFFIC_SOURCES = frozenset(
    {"internal", "direct", "referral", "organic", "ad", "saved", "undefined", "email", "social", "messenger",
     "qrcode", "recommend"}
)  # fmt: skip
#: Spellings of Yandex Direct as a utm_source or ad-system value, compared without case and punctuation.
_DIRECT_NAMES = frozenset({"yandex", "yandexdirect", "yadirect", "direct"})
DIRECT_WARNING = (
    "carry Yandex Direct costs, which Metrika already imports from Direct; uploading them doubles the costs in reports"
)
_DATE_RE = re.compile(r"(\d{4}-\d{2}-\d{2})(?:/(\d{4}-\d{2}-\d{2}))?")


def is_yandex_direct(value: str) -> bool:
    """A ``UTMSource`` / ``TrafficSourceDetail`` that names Yandex Direct (``yandex``, ``ya_direct``, ...)."""
    return re.sub(r"[^a-z]", "", value.lower()) in _DIRECT_NAMES


def parse_date_range(value: str) -> tuple[date, date] | None:
    """``YYYY-MM-DD`` or ``YYYY-MM-DD/YYYY-MM-DD`` as (first, last) day; None when malformed or reversed."""
    match = _DATE_RE.fullmatch(value.strip())
    if match is None:
        return None
    try:
        first = date.fromisoformat(match[1])
        last = date.fromisoformat(match[2]) if match[2] else first
    except ValueError:
        return None
    return (first, last) if first <= last else None


def format_date_range(first: date, last: date) -> str:
    """The ``Date`` cell for the days ``first``..``last`` (one day is written alone)."""
    return first.isoformat() if first == last else f"{first.isoformat()}/{last.isoformat()}"


def make_date_check(within: tuple[date, date] | None):
    """The Date cell check; with ``within``, the date (or range) must lie inside those days."""

    def check(value: str) -> str | None:
        parsed = parse_date_range(value)
        if parsed is None:
            return f"{value!r} is not a date YYYY-MM-DD or a range YYYY-MM-DD/YYYY-MM-DD (first day first)"
        if within is not None and (parsed[0] < within[0] or parsed[1] > within[1]):
            return f"{value} lies outside the replaced range {within[0]}/{within[1]}"
        return None

    return check


def check_traffic_source(value: str) -> str | None:
    if value in TRAFFIC_SOURCES:
        return None
    return f"{value!r} is not a traffic source; expected one of {', '.join(sorted(TRAFFIC_SOURCES))}"


def to_date_text(value: Any) -> str:
    """A date, a datetime (its day) or text as Metrika's ``YYYY-MM-DD``."""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value).strip()


DATE_COLUMN = Column(DATE, None, ("date",), to_date_text)
UTM_COLUMNS = tuple(
    Column(f"UTM{part}", None, (f"utm_{part.lower()}",)) for part in ("Source", "Medium", "Campaign", "Term", "Content")
)
SOURCE_COLUMNS = (
    Column(TRAFFIC_SOURCE, check_traffic_source, ("traffic_source",)),
    Column(TRAFFIC_SOURCE_DETAIL, None, ("traffic_source_detail",)),
)


class ExpensesFormat(FileFormat):
    """Expenses (``need_amount``) or the rows of expenses to delete; ``within`` bounds the dates of every row."""

    def __init__(
        self,
        name: str,
        columns: Iterable[Column],
        required: tuple[str, ...],
        *,
        need_source: bool,
        within: tuple[date, date] | None = None,
    ) -> None:
        self.name = name
        self.columns = tuple(columns)
        self.required = required
        self.need_source = need_source
        self.within = within
        self._order = [column.name for column in self.columns]
        self._lookup = column_lookup(self.columns)

    def replacing(self, first: date, last: date) -> ExpensesFormat:
        """This format, checking that every row's dates lie in ``first..last`` (a replaced range)."""
        if first > last:
            raise MetrikaConfigError(f"the range {first}/{last} ends before it starts")
        return ExpensesFormat(
            self.name, self.columns, self.required, need_source=self.need_source, within=(first, last)
        )

    def compile_rules(self, header: list[str], options: ValidationOptions, context: HeaderContext) -> RowRules:
        index = index_columns(header, self._order, self.required, context)
        sources = [name for name in (UTM_SOURCE, TRAFFIC_SOURCE) if name in index]
        if self.need_source and not sources:
            context.problem(None, f"the header needs {UTM_SOURCE} or {TRAFFIC_SOURCE}")
        checks = [(index[c.name], c.name, c.check) for c in self.columns if c.check is not None and c.name in index]
        if DATE in index:
            checks.append((index[DATE], DATE, make_date_check(self.within)))
        any_of = ()
        if self.need_source and sources:
            any_of = ((tuple(index[name] for name in sources), f"fill {' or '.join(sources)}"),)
        warn_when = ()
        if self.need_source:
            warn_when = tuple(
                (index[name], name, is_yandex_direct, DIRECT_WARNING)
                for name in (UTM_SOURCE, TRAFFIC_SOURCE_DETAIL)
                if name in index
            )
        return RowRules(
            width=len(header),
            checks=tuple(checks),
            required=tuple((index[name], name) for name in self.required if name in index),
            any_of=any_of,
            warn_when=warn_when,
        )

    def encode_csv_row(self, row: Mapping[str, Any], options: ValidationOptions) -> dict[str, str]:
        return encode_columns(row, self._lookup, allow_unknown=False)

    def header_for(self, columns: Iterable[str]) -> list[str]:
        present = set(columns)
        return [name for name in self._order if name in present]


EXPENSES = ExpensesFormat(
    "expenses",
    columns=(
        DATE_COLUMN,
        *UTM_COLUMNS,
        *SOURCE_COLUMNS,
        Column("Expenses", check_decimal, ("expenses", "cost", "amount"), to_decimal_text),
        Column("Currency", check_currency, ("currency",), lambda value: str(value).strip().upper()),
        Column("Clicks", check_non_negative_int, ("clicks",), to_int_text),
    ),
    required=(DATE, "Expenses"),
    need_source=True,
)
EXPENSE_REMOVALS = ExpensesFormat(
    "expense_removals", columns=(DATE_COLUMN, *UTM_COLUMNS, *SOURCE_COLUMNS), required=(DATE,), need_source=False
)
