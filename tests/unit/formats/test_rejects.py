"""The rejected-rows CSV: refused and dropped rows with their row number, problem and original cells."""

from __future__ import annotations

import csv
import io

from airflow_provider_metrika.formats import ValidationOptions, get_file_format
from airflow_provider_metrika.formats.rejects import MAX_CELL_CHARS, write_rejected_records, write_rejected_rows
from tests.unit.formats.conftest import NOW, NOW_TS

CONVERSIONS = get_file_format("offline_conversions")
RECENT, STALE = NOW_TS - 60, NOW_TS - 30 * 86400


def rejects(text: str, stale_rows: str = "warn", fmt=CONVERSIONS) -> tuple[int, list[list[str]]]:
    out = io.StringIO()
    options = ValidationOptions(now=NOW, stale_rows=stale_rows, max_problems=1)
    count = write_rejected_rows(fmt, io.BytesIO(text.encode()), out, options, "c.csv")
    return count, list(csv.reader(io.StringIO(out.getvalue())))


def test_refused_and_dropped_rows_with_their_cells():
    text = f"ClientId,Target,DateTime\n1,paid,{RECENT}\nabc,paid,{RECENT}\n2,,{RECENT}\n3,paid,{STALE}\n4,paid\n"
    count, lines = rejects(text, stale_rows="drop")
    assert count == 4  # all of them, although max_problems is 1
    assert lines == [
        ["row", "column", "problem", "ClientId", "Target", "DateTime"],
        ["3", "ClientId", "'abc' must be digits only", "abc", "paid", str(RECENT)],
        ["4", "Target", "is empty; a value is required", "2", "", str(RECENT)],
        ["5", "DateTime", f"{STALE} is older than the 21-day linkage window; dropped", "3", "paid", str(STALE)],
        ["6", "", "has 2 fields; the header has 3", "4", "paid"],
    ]


def test_the_problems_of_one_row_make_one_line():
    count, lines = rejects(f"ClientId,Target,DateTime\nabc,,{RECENT}\n")
    assert count == 1
    assert lines[1][:3] == ["2", "ClientId; Target", "'abc' must be digits only; is empty; a value is required"]


def test_stale_rows_kept_under_warn_are_not_rejected():
    assert rejects(f"ClientId,Target,DateTime\n1,paid,{STALE}\n")[0] == 0


def test_a_clean_file_gives_the_header_only():
    count, lines = rejects(f"ClientId,Target,DateTime\n1,paid,{RECENT}\n")
    assert count == 0 and lines == [["row", "column", "problem", "ClientId", "Target", "DateTime"]]


def test_quoted_cells_survive_the_round_trip():
    count, lines = rejects(f'UserId,Target,DateTime\n"a, ""b""\nc",,{RECENT}\n')
    assert count == 1 and lines[1][3] == 'a, "b"\nc'


def test_a_header_problem_has_no_cells():
    _, lines = rejects(f"ClientId,DateTime\n1,{RECENT}\n")
    assert lines[1][:3] == ["1", "Target", "required column Target is missing"] and len(lines[1]) == 3


def test_big_files_report_every_bad_row_past_the_fast_paths():
    good = "".join(f"{i},paid,{RECENT}\n" for i in range(3000))
    stale = "".join(f"{i},paid,{STALE}\n" for i in range(3000, 3500))
    count, lines = rejects("ClientId,Target,DateTime\n" + good + stale + good, stale_rows="drop")
    assert count == 500 and [line[0] for line in lines[1:3]] == ["3002", "3003"]


def test_an_overlong_record_is_reported_without_its_cells():
    count, lines = rejects("UserId,Target,DateTime\n" + "x" * (MAX_CELL_CHARS + 10) + ",,1\n")
    assert count == 1 and lines[1][0] == "2" and "longer than" in lines[1][2] and len(lines[1]) == 3


def test_rows_are_checked_as_the_writer_would_write_them():
    out = io.StringIO()
    records = [
        {"client_id": 1, "target": "paid", "date_time": RECENT},
        {"client_id": 2, "target": "", "date_time": RECENT},
        {"client_id": 3, "target": "paid", "date_time": "soon"},
        {"client_id": 4, "target": "paid", "date_time": STALE},
    ]
    options = ValidationOptions(now=NOW, stale_rows="drop")
    count = write_rejected_records(CONVERSIONS, records, out, options)
    lines = list(csv.reader(io.StringIO(out.getvalue())))
    assert count == 3 and lines[0] == ["row", "column", "problem", "ClientId", "Target", "DateTime"]
    assert lines[1] == ["3", "Target", "is empty; a value is required", "2", "", str(RECENT)]
    assert lines[2][:2] == ["4", "DateTime"] and len(lines[2]) == 3  # not convertible: no cells
    assert lines[3][:2] == ["5", "DateTime"] and lines[3][2].endswith("dropped") and lines[3][3] == "4"


def test_rows_without_problems_give_the_header_only():
    out = io.StringIO()
    records = [{"client_id": 1, "target": "paid", "date_time": RECENT}]
    assert write_rejected_records(CONVERSIONS, records, out, ValidationOptions(now=NOW)) == 0
    assert out.getvalue() == "row,column,problem,ClientId,Target,DateTime\n"
