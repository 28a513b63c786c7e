"""Reports about hostile files stay small and honest.

Whatever bytes a file holds (random garbage, BOMs, CR-only line ends, NULs, mixed quoting, bad
UTF-8, huge cells, thousands of columns) the validator never raises, every problem names the file,
each echoed cell is cut, warnings collapse, and a row with a problem is never counted as valid.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_provider_metrika.formats import FILE_FORMATS, ValidationOptions, get_file_format
from airflow_provider_metrika.formats.checker import MAX_WARNINGS
from airflow_provider_metrika.formats.report import MAX_MESSAGE_CHARS, MAX_SHOWN_CHARS

NOW = datetime(2026, 11, 25, tzinfo=UTC)
RECENT = int(NOW.timestamp()) - 3600
OPTIONS = ValidationOptions(now=NOW, max_problems=5)
HEADERS = {
    "offline_conversions": "ClientId,Target,DateTime,Price,Currency",
    "calls": "ClientId,DateTime,StaticCall,PhoneNumber",
    "user_params": "ClientId,level",
    "contacts": "uniq_id,emails,phones",
    "orders": "id,client_uniq_id,client_type,create_date_time,order_status,revenue",
    "simple_orders": "id,create_date_time,emails",
}
PIECES = st.sampled_from(
    [",", '"', '""', "\n", "\r\n", "\r", "\x00", "\x1b", "\ufeff", "\xff", "1", "t", str(RECENT), "RUB", "a" * 300]
)


def _bytes(parts: list[str | bytes]) -> bytes:
    return b"".join(part if isinstance(part, bytes) else part.encode("utf-8", "surrogatepass") for part in parts)


hostile_body = st.lists(st.one_of(PIECES, st.binary(max_size=20), st.text(max_size=10)), max_size=60).map(
    lambda parts: _bytes([p.replace("\xff", "") if isinstance(p, str) else p for p in parts])
)


def check_report(report, name: str, data: bytes) -> None:
    assert report.file_name == name
    for problem in report.problems:
        text = str(problem)
        assert text.startswith(name)
        assert len(text) <= len(name) + 40 + MAX_SHOWN_CHARS + MAX_MESSAGE_CHARS + 60, text
    summary = report.summary().splitlines()
    assert len(summary) <= 1 + OPTIONS.max_problems + 1 + MAX_WARNINGS + 1 + 1
    assert 0 <= report.valid_rows <= report.rows and report.total_problems >= len(report.problems)
    if report.total_problems <= OPTIONS.max_problems:
        bad_rows = {p.row for p in report.problems if p.row and p.row > 1 and "no data rows" not in p.message}
        # a row with a problem is never valid (rows are lines, a record may span several: count records)
        assert report.rows - report.valid_rows - report.dropped_rows >= min(len(bad_rows), 1), report.summary()
    if report.ok:
        assert report.valid_rows == report.rows - report.dropped_rows


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kind=st.sampled_from(sorted(HEADERS)), body=hostile_body, bom=st.booleans(), chunk=st.sampled_from([1, 7, 64]))
def test_garbage_after_a_good_header_gives_a_small_honest_report(kind, body, bom, chunk):
    data = (b"\xef\xbb\xbf" if bom else b"") + HEADERS[kind].encode() + b"\n" + body
    checker = get_file_format(kind).stream_checker("in.csv", OPTIONS, fail_fast=False)
    for start in range(0, len(data), chunk):
        checker.feed(data[start : start + chunk])
    check_report(checker.finish(), "in.csv", data)


@settings(max_examples=100, deadline=None)
@given(kind=st.sampled_from(sorted(FILE_FORMATS)), data=st.binary(max_size=400))
def test_random_bytes_never_raise(kind, data):
    report = get_file_format(kind).validate(io.BytesIO(data), file_name="random.csv", options=OPTIONS)
    check_report(report, "random.csv", data)


def test_ten_thousand_unknown_columns_are_one_warning():
    header = "ClientId,Target,DateTime," + ",".join(f"extra{i}" for i in range(10_000))
    row = f"1,t,{RECENT}," + "," * 9_999
    report = get_file_format("offline_conversions").validate(io.BytesIO(f"{header}\n{row}\n".encode()), options=OPTIONS)
    assert report.ok
    assert report.warnings == [
        "10,000 unknown column(s): 'extra0', 'extra1', 'extra2', 'extra3', 'extra4' and 9,995 more; "
        "Metrika may ignore or reject them"
    ]
    assert len(report.summary()) < 400


def test_an_echoed_cell_is_cut_and_marked():
    price = "9" * 50_000 + "x"
    data = f"ClientId,Target,DateTime,Price\n1,t,{RECENT},{price}\n".encode()
    report = get_file_format("offline_conversions").validate(io.BytesIO(data), file_name="p.csv", options=OPTIONS)
    (problem,) = report.problems
    assert problem.column == "Price" and "… (cut; 50,001 characters) is not a decimal number" in problem.message
    assert len(str(problem)) < 200


def test_a_long_column_name_is_cut_in_every_problem():
    name = "N" * 10_000
    data = f"ClientId,Target,DateTime,{name},{name}\n1,t,{RECENT},,\n".encode()
    report = get_file_format("offline_conversions").validate(io.BytesIO(data), file_name="n.csv", options=OPTIONS)
    assert report.problems and all(len(str(problem)) < 2 * MAX_MESSAGE_CHARS for problem in report.problems)


def test_rows_with_bad_utf8_are_each_reported_and_never_valid():
    lines = [b"ClientId,Target,DateTime", b"1,ok," + str(RECENT).encode()]
    lines += [
        b"2,bad\xff," + str(RECENT).encode(),
        b"3,ok," + str(RECENT).encode(),
        b"4,\xfe\xfe," + str(RECENT).encode(),
    ]
    report = get_file_format("offline_conversions").validate(io.BytesIO(b"\n".join(lines) + b"\n"), options=OPTIONS)
    assert [(p.row, p.column) for p in report.problems] == [(3, "Target"), (5, "Target")]
    assert all("not valid UTF-8" in p.message for p in report.problems)
    assert (report.rows, report.valid_rows) == (4, 2)


def test_warnings_past_the_cap_are_counted():
    checker = get_file_format("offline_conversions").stream_checker("w.csv", OPTIONS, fail_fast=False)
    for index in range(MAX_WARNINGS + 7):
        checker.warn(f"warning {index}")
        checker.warn(f"warning {index}")  # a repeat is kept once
    checker.feed(f"ClientId,Target,DateTime\n1,t,{RECENT}\n".encode())
    warnings = checker.finish().warnings
    assert len(warnings) == MAX_WARNINGS + 1 and warnings[-1] == "... and 7 more warning(s)"
