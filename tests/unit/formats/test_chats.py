"""The chats file format: ids and DateTime checked like offline conversions, other columns kept."""

from __future__ import annotations

import io

import pytest

from airflow_provider_metrika.formats import get_file_format
from tests.unit.formats.conftest import NOW_TS

CHATS = get_file_format("chats")
RECENT = NOW_TS - 3600


def report_of(text: str, options):
    return CHATS.validate(io.BytesIO(text.encode()), file_name="chats.csv", options=options)


def test_a_chat_with_any_documented_id_is_valid(options):
    report = report_of(f"PurchaseId,DateTime,Messenger\norder7,{RECENT},telegram\n", options)
    assert report.ok and report.valid_rows == 1
    assert any("Messenger" in warning for warning in report.warnings)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("ClientId\n1\n", "required column DateTime"),
        (f"Messenger,DateTime\ntelegram,{RECENT}\n", "no id column"),
        (f"ClientId,DateTime\n,{RECENT}\n", "no id"),
        (f"ClientId,DateTime\n1,{NOW_TS + 86400}\n", "future"),
        ("ClientId,DateTime\nabc,1\n", "ClientId"),
    ],
)
def test_bad_chats_name_the_row_and_column(options, text, match):
    report = report_of(text, options)
    assert not report.ok
    assert any(match in str(problem) for problem in report.problems), report.problems


def test_a_target_column_is_not_part_of_chats(options):
    report = report_of(f"ClientId,Target,DateTime\n1,paid,{RECENT}\n", options)
    assert report.ok
    assert any("Target" in warning and "not part of the chats format" in warning for warning in report.warnings)


def test_the_writer_keeps_undocumented_chat_columns_after_the_known_ones(options):
    out = io.BytesIO()
    rows = [{"messenger": "telegram", "client_id": 12, "date_time": RECENT}]
    assert CHATS.write_csv(rows, out, options=options) == 1
    assert out.getvalue().decode().splitlines() == ["ClientId,DateTime,messenger", f"12,{RECENT},telegram"]
