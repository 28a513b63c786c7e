"""The expenses CSV: required columns, dates and ranges, traffic sources, Yandex Direct rows, the writer."""

from __future__ import annotations

import io
from datetime import date, datetime

import pytest

from airflow_provider_metrika.exceptions import MetrikaConfigError
from airflow_provider_metrika.formats import get_file_format
from airflow_provider_metrika.formats.expenses import (
    EXPENSES,
    format_date_range,
    is_yandex_direct,
    parse_date_range,
)

REMOVALS = get_file_format("expense_removals")


def report_of(text: str, fmt=EXPENSES, options=None):
    return fmt.validate(io.BytesIO(text.encode()), file_name="costs.csv", options=options)


def problems(report) -> str:
    return "\n".join(str(problem) for problem in report.problems)


def test_a_good_file_with_every_column():
    text = (
        "Date,UTMSource,UTMMedium,UTMCampaign,UTMTerm,UTMContent,Expenses,Currency,Clicks\n"
        "2026-11-20,google,cpc,brand,shoes,banner1,10.50,RUB,3\n"
        "2026-11-01/2026-11-30,vk,cpm,,,,1000,,\n"
    )
    report = report_of(text)
    assert report.ok and report.valid_rows == 2 and report.warnings == []


def test_column_names_match_without_case_with_a_warning():
    report = report_of("date, utmsource ,Expenses\n2026-11-20,g,1\n")
    assert report.ok and any("'date' is read as Date" in warning for warning in report.warnings)


def test_traffic_source_may_stand_in_for_utm_source():
    report = report_of("Date,TrafficSource,TrafficSourceDetail,Expenses\n2026-11-20,social,vk.com,5\n")
    assert report.ok


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("UTMSource,Expenses\ngoogle,1\n", "required column Date is missing"),
        ("Date,UTMSource\n2026-11-20,google\n", "required column Expenses is missing"),
        ("Date,Expenses\n2026-11-20,1\n", "needs UTMSource or TrafficSource"),
        ("Date,UTMSource,Expenses\n20.11.2026,g,1\n", "row 2, column Date: '20.11.2026' is not a date"),
        ("Date,UTMSource,Expenses\n2026-11-30/2026-11-01,g,1\n", "first day first"),
        ("Date,UTMSource,Expenses\n2026-02-30,g,1\n", "is not a date"),
        ('Date,UTMSource,Expenses\n2026-11-20,g,"1,5"\n', "use '.' as the decimal separator"),
        ("Date,UTMSource,Expenses\n2026-11-20,g,-3\n", "must not be negative"),
        ("Date,UTMSource,Expenses\n2026-11-20,,3\n", "fill UTMSource"),
        ("Date,UTMSource,Expenses,Currency\n2026-11-20,g,3,RUR\n", "not an ISO 4217 currency code"),
        ("Date,UTMSource,Expenses,Clicks\n2026-11-20,g,3,1.5\n", "must be a non-negative integer"),
        ("Date,TrafficSource,Expenses\n2026-11-20,tv,3\n", "is not a traffic source"),
    ],
)
def test_bad_files_name_the_row_and_column(text, expected):
    report = report_of(text)
    assert not report.ok and expected in problems(report)


@pytest.mark.parametrize("source", ["yandex", "Yandex.Direct", "ya_direct"])
def test_rows_with_yandex_direct_utm_source_are_warned_about_and_counted(source):
    text = "Date,UTMSource,Expenses\n" + f"2026-11-20,{source},1\n" * 3 + "2026-11-21,google,1\n"
    report = report_of(text)
    assert report.ok
    (warning,) = report.warnings
    assert warning.startswith("3 row(s): carry Yandex Direct costs") and "(column UTMSource)" in warning


def test_rows_with_the_direct_ad_system_are_warned_about():
    report = report_of("Date,TrafficSource,TrafficSourceDetail,Expenses\n2026-11-20,ad,ya_direct,1\n")
    assert report.ok and "(column TrafficSourceDetail)" in report.warnings[0]


def test_google_is_not_direct():
    assert not is_yandex_direct("google") and not is_yandex_direct("yandex_market")
    assert is_yandex_direct(" YANDEX ") and is_yandex_direct("yandex-direct")


def test_a_replaced_range_bounds_every_row():
    fmt = EXPENSES.replacing(date(2026, 11, 20), date(2026, 11, 21))
    days = ["2026-11-20", "2026-11-20/2026-11-21", "2026-11-19/2026-11-20", "2026-11-22"]
    text = "Date,UTMSource,Expenses\n" + "".join(f"{day},g,1\n" for day in days)
    report = report_of(text, fmt)
    assert [problem.row for problem in report.problems] == [4, 5]
    assert "lies outside the replaced range 2026-11-20/2026-11-21" in problems(report)
    with pytest.raises(MetrikaConfigError, match="ends before it starts"):
        EXPENSES.replacing(date(2026, 11, 21), date(2026, 11, 20))


def test_the_removal_format_needs_only_a_date():
    assert report_of("Date\n2026-11-01/2026-11-30\n", REMOVALS).ok
    assert not report_of("UTMSource\ngoogle\n", REMOVALS).ok


def test_the_writer_converts_dates_and_amounts():
    out = io.BytesIO()
    rows = [{"date": date(2026, 11, 20), "utm_source": "google", "expenses": 10.5, "clicks": 3.0},
            {"date": datetime(2026, 11, 21, 23, 0), "utm_source": "vk", "expenses": 2, "clicks": 0}]  # fmt: skip
    assert EXPENSES.write_csv(rows, out) == 2
    assert out.getvalue().decode().splitlines() == [
        "Date,UTMSource,Expenses,Clicks",
        "2026-11-20,google,10.5,3",
        "2026-11-21,vk,2,0",
    ]


def test_range_text_round_trips():
    one, two = date(2026, 11, 20), date(2026, 11, 22)
    assert format_date_range(one, one) == "2026-11-20"
    assert parse_date_range(format_date_range(one, two)) == (one, two)
    assert parse_date_range("2026-11-20/") is None


def test_direct_rows_are_counted_in_big_files_too():
    rows = "".join(f"2026-11-20,{'yandex' if i % 2 else 'google'},1\n" for i in range(1200))
    report = report_of("Date,UTMSource,Expenses\n" + rows)
    assert report.ok and report.rows == 1200 and report.warnings[0].startswith("600 row(s)")
