"""Header names match documented columns case-insensitively after trimming, with a warning."""

from __future__ import annotations

import io

import pytest

from airflow_provider_metrika.formats import ValidationOptions, get_file_format
from tests.unit.formats.conftest import NOW

RECENT = int(NOW.timestamp()) - 3600


def validate(kind: str, content: str):
    return get_file_format(kind).validate(io.BytesIO(content.encode()), "f.csv", ValidationOptions(now=NOW))


@pytest.mark.parametrize(
    "header",
    ["ClientID,Target,DateTime", "yclid,target,datetime", "CLIENTID , Target,  DateTime"],
)
def test_help_page_spellings_and_padding_are_accepted_with_a_warning(header):
    first_id = "1" if "yclid" not in header else "123"
    report = validate("offline_conversions", f"{header}\n{first_id},paid,{RECENT}\n")
    assert report.ok, report.summary()
    assert report.valid_rows == 1
    assert any("Metrika matches column names case-insensitively" in warning for warning in report.warnings)
    assert report.header == header.split(",")  # the file is sent as written


def test_documented_spelling_warns_nothing():
    report = validate("offline_conversions", f"ClientId,Target,DateTime\n1,paid,{RECENT}\n")
    assert report.ok and not any("case-insensitively" in warning for warning in report.warnings)


def test_values_of_a_differently_spelled_column_are_still_checked():
    report = validate("offline_conversions", f"clientid,Target,DateTime\nabc,paid,{RECENT}\n")
    assert not report.ok
    assert report.problems[0].column == "ClientId" and "digits" in report.problems[0].message


def test_two_spellings_of_one_column_are_a_problem():
    report = validate("offline_conversions", f"ClientId,Target,DateTime,target\n1,paid,{RECENT},x\n")
    assert not report.ok
    assert any("same column to Metrika" in problem.message for problem in report.problems)


def test_unknown_and_foreign_columns_are_warned_whatever_their_case():
    report = validate("calls", f"ClientId,DateTime,TARGET,note\n1,{RECENT},x,y\n")
    assert report.ok
    assert any("column(s): 'TARGET' not part of the calls format" in warning for warning in report.warnings)
    assert any("1 unknown column(s): 'note'" in warning for warning in report.warnings)


def test_user_params_id_column_with_padding():
    report = validate("user_params", " userid ,tier\nu1,gold\n")
    assert report.ok, report.summary()


def test_simple_orders_need_the_id_column_but_not_its_values():
    missing = validate("simple_orders", "create_date_time,emails\n2024-11-22,a@b.ru\n")
    assert not missing.ok
    assert missing.problems[0].column == "id" and "required column id is missing" in missing.problems[0].message
    docs_example = validate("simple_orders", "id,create_date_time,emails\no1,2024-11-22,a@b.ru\n,2024-11-23,c@d.ru\n")
    assert docs_example.ok and docs_example.valid_rows == 2
    assert any("1 row(s): empty id" in warning for warning in docs_example.warnings)
