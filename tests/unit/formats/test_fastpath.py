"""The whole-block regex fast path: it may send a block to the csv paths, but never accepts what they reject.

The property tests run every file twice, with the fast path and with it switched off, and
demand identical reports (and identical ``filter_rows`` output).
"""

from __future__ import annotations

import csv
import io
import re
from contextlib import contextmanager
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_provider_metrika.formats import ValidationOptions, get_file_format
from airflow_provider_metrika.formats import checker as checker_module
from airflow_provider_metrika.formats.checker import RowRules
from airflow_provider_metrika.formats.fastpath import LinePattern, compile_line_pattern
from airflow_provider_metrika.formats.values import (
    ISO_4217_CODES,
    STALE,
    alternation_pattern,
    check_currency,
    check_digits,
    check_email,
    make_event_time_check,
)
from tests.unit.formats.conftest import NOW, NOW_TS

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
WINDOW_START = NOW_TS - 21 * 86400
OC = get_file_format("offline_conversions")

T = str(NOW_TS - 60)
#: (format, header, a valid row): the property tests break rows of this shape a cell or two at a time.
CASES = [
    ("offline_conversions", "ClientId,UserId,Target,DateTime,Price,Currency", f"123,u1,paid,{T},10.50,RUB"),
    ("offline_conversions", "UserId,Target,DateTime", f"u1,paid,{T}"),
    ("offline_conversions", "Yclid,PurchaseId,Target,DateTime,Price,Currency,Extra", f"5,p1,paid,{T},1,USD,x"),
    ("offline_conversions", "Target,DateTime,ClientId", f"paid,{T},77"),
    ("offline_conversions", "Target", "paid"),
    ("calls", "ClientId,DateTime,StaticCall,PhoneNumber,TalkDuration,CallMissed,Tag", f"1,{T},1,+7999,30,0,tag"),
    ("calls", "UserId,DateTime,Price,Currency", f"u,{T},1.5,EUR"),
    ("user_params", "ClientId,UserId,level", "1,u,gold"),
    ("user_params", "UserId,a", "u,x"),
    ("contacts", "uniq_id,emails,phones,client_ids,birth_date,name", "c1,a@b.cd,79995551111,123,2000-01-01,Ann"),
    ("contacts", "uniq_id", "c1"),
    (
        "orders",
        "id,client_uniq_id,client_type,create_date_time,order_status,revenue,currency",
        "o1,c1,CONTACT,2024-11-01 10:00:00,PAID,10.5,RUB",
    ),
    ("simple_orders", "id,create_date_time,emails,revenue,goals", "o1,2024-11-01 10:00:00,a@b.cd,10,g1"),
]

#: Cells near every rule's edge, plus characters that csv, str.splitlines and regexes treat differently.
CELLS = [
    "", "0", "1", "2", "42", "0042", "12345678901234567890", "1" * 65, str(NOW_TS), str(NOW_TS + 1),
    str(WINDOW_START), str(WINDOW_START - 1), "999999999", "10000000000", "1.5", "1,5", "1.", ".5", "-1",
    "RUB", "rub", "RU", "RUBX", "XXX", "USD", "a@b.cd", "x@y", "79995551111", "+7999", "+", "2024-11-01",
    "01.02.2024 10:00", "2024-11-01 10:00:00", "CONTACT", "paid", "x", "é", "Ы", "²", "1²", "٣", " ", " 1",
    "1 ", "\t", "\x00", "\x0b", "\x0c", "\x1c", "\x85", "\u2028", '"', '"a"', '"1"', '"a,b"', 'a"b', '""',
    "a\rb", "\r", "\n", "a;b", "a|b", "ab" * 3,
]  # fmt: skip
cell = st.one_of(st.sampled_from(CELLS), st.text('0123456789aZ.,;"\r\n \x85é', max_size=6))


def near_misses(value: str) -> list[str]:
    """Values one small step from a valid cell: where a fast-path regex and the row checks could part ways."""
    misses = [
        "", value + "²", "²" + value, value + " ", " " + value, value + "\r", "\r" + value, value[:-1], value * 2,
        value.upper(), value.lower(), f'"{value}"', value + '"', value + "\x85", value + "\u2028", value + "é",
        value.replace(".", ","), "-" + value, value + ".", value + ".5", "." + value, value + "\x00",
    ]  # fmt: skip
    if value.isascii() and value.isdigit():
        number = int(value)
        misses += [str(number + 1), str(number - 1), "0" + value, value + "0", "٣" + value]
        misses += [str(NOW_TS), str(NOW_TS + 1), str(WINDOW_START), str(WINDOW_START - 1), "999999999"]
    return misses


@st.composite
def broken_rows(draw: st.DrawFn, template: str) -> list[list[str]]:
    """Rows like ``template`` with up to two cells replaced, dropped or added, and some blank lines."""
    rows = []
    for _ in range(draw(st.integers(1, 10))):
        cells = template.split(",")
        if draw(st.integers(0, 9)) == 0:
            rows.append([draw(st.sampled_from(["", "\r", " "]))])
            continue
        for _ in range(draw(st.integers(0, 2))):
            at = draw(st.integers(0, len(cells) - 1))
            change = draw(st.sampled_from(["near", "near", "near", "any", "drop", "add"]))
            if change == "near":
                cells[at] = draw(st.sampled_from(near_misses(cells[at])))
            elif change == "any":
                cells[at] = draw(cell)
            elif change == "drop" and len(cells) > 1:
                del cells[at]
            else:
                cells.insert(at, draw(cell))
        rows.append(cells)
    return rows


@contextmanager
def slow_path_only():
    with mock.patch.object(checker_module, "compile_line_pattern", lambda *args: None):
        yield


def validated(name: str, data: bytes, options: ValidationOptions, chunk: int) -> tuple:
    """Everything a report says, and filter_rows' output, for ``data`` fed in ``chunk``-byte pieces."""
    fmt = get_file_format(name)
    checker = fmt.stream_checker("f.csv", options, fail_fast=False)
    for start in range(0, len(data), chunk):
        checker.feed(data[start : start + chunk])
    report = checker.finish()
    kept = io.BytesIO()
    filtered = fmt.filter_rows(io.BytesIO(data), kept, options, file_name="f.csv")
    return (
        report.rows,
        report.valid_rows,
        report.dropped_rows,
        report.total_problems,
        [str(problem) for problem in report.problems],
        report.warnings,
        filtered.summary(),
        kept.getvalue(),
    )


@SETTINGS
@given(
    data=st.data(),
    case=st.sampled_from(CASES),
    ending=st.sampled_from(["\n", "\r\n"]),
    last_newline=st.booleans(),
    stale_rows=st.sampled_from(["warn", "drop", "fail"]),
    semicolon=st.booleans(),
    chunk=st.sampled_from([1, 7, 64, 1 << 20]),
)
def test_fast_path_reports_exactly_what_the_row_checks_report(
    data, case, ending, last_newline, stale_rows, semicolon, chunk
):
    name, header, template = case
    delimiter = ";" if semicolon and get_file_format(name).honours_delimiter else ","
    rows = data.draw(broken_rows(template))
    lines = [header.replace(",", delimiter), *(delimiter.join(cells) for cells in rows)]
    text = ending.join(lines) + (ending if last_newline else "")
    options = ValidationOptions(now=NOW, stale_rows=stale_rows, delimiter=delimiter, max_problems=5)
    fast = validated(name, text.encode(), options, chunk)
    with slow_path_only():
        slow = validated(name, text.encode(), options, chunk)
    assert fast == slow


@SETTINGS
@given(data=st.data(), case=st.sampled_from(CASES))
def test_a_block_the_fast_path_accepts_has_no_problem_in_the_row_checks(data, case):
    name, header, template = case
    rows = data.draw(broken_rows(template))
    checker = get_file_format(name).stream_checker("f.csv", ValidationOptions(now=NOW), fail_fast=False)
    checker.feed((header + "\n").encode())
    block = "".join(",".join(cells) + "\n" for cells in rows)
    checked = checker._line_pattern.check_block(block, len(block))
    if checked is not None:
        with slow_path_only():
            data = io.BytesIO((header + "\n" + block).encode())
            slow = get_file_format(name).validate(data, options=checker._options)
        assert slow.rows == checked[0] and not [p for p in slow.problems if p.row != 1]


@pytest.mark.parametrize(("name", "header", "template"), CASES)
def test_templates_are_valid_and_take_the_fast_path(name, header, template):
    checker = get_file_format(name).stream_checker("f.csv", ValidationOptions(now=NOW), fail_fast=False)
    checker.feed((header + "\n").encode())
    block = template + "\n"
    assert checker._line_pattern.check_block(block, len(block)) == (1, 0)
    checker.feed(block.encode())
    report = checker.finish()
    assert report.rows == 1 and not [problem for problem in report.problems if problem.row != 1]


# -- the fast path is taken, and where it must step aside ------------------------------------------
def clean_file(rows: int, when: int = NOW_TS - 60) -> bytes:
    lines = [f"{1000 + i},user-{i},paid,{when - i},{i}.50,RUB" for i in range(rows)]
    return ("ClientId,UserId,Target,DateTime,Price,Currency\n" + "\n".join(lines) + "\n").encode()


def test_clean_blocks_never_reach_csv(mocker):
    row_loop = mocker.spy(checker_module.StreamChecker, "_process_lines")
    report = OC.validate(io.BytesIO(clean_file(5000)), options=ValidationOptions(now=NOW))
    assert report.ok and report.valid_rows == 5000
    assert row_loop.call_count == 1  # the header line only


def test_stale_rows_under_fail_or_drop_go_to_the_row_checks(mocker):
    data = clean_file(50, when=WINDOW_START - 100)
    row_loop = mocker.spy(checker_module.StreamChecker, "_process_lines")
    warned = OC.validate(io.BytesIO(data), options=ValidationOptions(now=NOW))
    assert warned.valid_rows == 50 and row_loop.call_count == 1
    failed = OC.validate(io.BytesIO(data), options=ValidationOptions(now=NOW, stale_rows="fail"))
    assert failed.total_problems == 50 and row_loop.call_count == 3  # header, then the rows
    kept = io.BytesIO()
    dropped = OC.filter_rows(io.BytesIO(data), kept, ValidationOptions(now=NOW, stale_rows="drop"))
    assert dropped.dropped_rows == 50 and kept.getvalue().count(b"\n") == 1 and row_loop.call_count == 5


def test_drop_without_a_sink_counts_stale_rows_in_the_fast_path():
    report = OC.validate(
        io.BytesIO(clean_file(10, when=WINDOW_START - 100)), options=ValidationOptions(now=NOW, stale_rows="drop")
    )
    assert (report.rows, report.valid_rows, report.dropped_rows) == (10, 0, 10)


def test_a_quoted_header_is_read_by_csv():
    data = b'"Client\nId",Target,DateTime\n1,paid,' + str(NOW_TS).encode() + b"\n"
    report = OC.validate(io.BytesIO(data), options=ValidationOptions(now=NOW))
    assert report.header == ["Client\nId", "Target", "DateTime"] and report.rows == 1


def test_a_header_without_newline_is_the_whole_file():
    report = OC.validate(io.BytesIO(b"ClientId,Target,DateTime"), options=ValidationOptions(now=NOW))
    assert report.problems[0].message == "the file has a header but no data rows"


def test_fields_over_csvs_limit_go_to_the_row_checks(monkeypatch):
    monkeypatch.setattr(csv, "field_size_limit", lambda: 300)
    rules = RowRules(width=2)
    pattern = compile_line_pattern(rules, ",")
    assert pattern is not None
    assert pattern.check_block("a,b\n", 4) == (1, 0)
    long_line = "a," + "b" * 301 + "\n"
    assert pattern.check_block(long_line, len(long_line)) is None


def test_no_fast_path_for_odd_delimiters_widths_or_a_tiny_field_limit(monkeypatch):
    assert compile_line_pattern(RowRules(width=0), ",") is None
    assert compile_line_pattern(RowRules(width=2), '"') is None
    assert compile_line_pattern(RowRules(width=2), ",,") is None
    monkeypatch.setattr(csv, "field_size_limit", lambda: 10)
    assert compile_line_pattern(RowRules(width=2), ",") is None


def test_an_empty_range_and_a_short_count_are_not_clean():
    pattern = compile_line_pattern(RowRules(width=2, required=((0, "a"),)), ",")
    assert pattern.check_block("", 0) is None
    assert pattern.check_block("1,2\n,3\n", 7) is None
    assert pattern.check_block("1,2\n1,3", 7) == (2, 0)


def test_a_one_column_file_never_matches_blank_lines():
    pattern = compile_line_pattern(RowRules(width=1), ",")
    assert pattern.check_block("a\nb\n", 4) == (2, 0)
    assert pattern.check_block("a\n\nb\n", 5) is None
    assert pattern.check_block("a\n\r\n", 4) is None


def test_any_of_groups_need_one_filled_cell():
    pattern = compile_line_pattern(RowRules(width=3, any_of=(((0, 2), "no id"),)), ",")
    assert pattern.check_block("1,,\n,,2\n", 8) == (2, 0)
    assert pattern.check_block("1,,\n,x,\n", 8) is None


def test_a_group_with_a_required_column_needs_no_lookahead():
    pattern = compile_line_pattern(RowRules(width=2, required=((0, "a"),), any_of=(((0, 1), "no id"),)), ",")
    assert "(?=" not in pattern.regex.pattern


def test_columns_without_a_pattern_are_captured_and_checked_column_wise():
    rules = RowRules(width=2, checks=((0, "email", check_email), (1, "ClientId", check_digits)))
    pattern = compile_line_pattern(rules, ",")
    assert len(pattern.column_checks) == 1
    assert pattern.check_block("a@b.cd,1\n", 9) == (1, 0)
    assert pattern.check_block("not-mail,1\n", 11) is None
    assert pattern.check_block("a@b.cd,x\n", 9) is None


def test_two_checks_on_one_column_are_both_applied():
    rules = RowRules(width=1, checks=((0, "a", check_digits), (0, "b", check_currency)))
    pattern = compile_line_pattern(rules, ",")
    assert pattern.check_block("1\n", 2) is None  # digits, but no currency


def test_event_time_check_in_the_fast_path():
    check = make_event_time_check(NOW_TS, WINDOW_START)
    rules = RowRules(width=2, checks=((1, "DateTime", check),))
    pattern = compile_line_pattern(rules, ",")

    def checked(block: str) -> tuple[int, int] | None:
        return pattern.check_block(block, len(block))

    assert checked(f"a,{NOW_TS}\na,{WINDOW_START - 1}\n") == (2, 1)
    assert checked(f"a,{NOW_TS}\na,\n") == (2, 0)
    assert checked("a,\n") == (1, 0)
    assert checked(f"a,{NOW_TS + 1}\n") is None
    assert checked("a,999999999\n") is None  # nine digits: the row checks decide
    assert check("999999999") is STALE


def test_event_time_check_without_fast_path_when_window_and_now_differ_in_length():
    check = make_event_time_check(1_000_000_100, window_start=999_999_000)
    assert not hasattr(check, "pattern")
    assert check.bulk(("1000000000", "999998999")) == 1
    assert check.bulk(("1000000101",)) is None


def test_alternation_pattern_matches_exactly_the_words():
    regex = re.compile(alternation_pattern(["a", "ab", "abc", "b", "ba"]))
    assert [bool(regex.fullmatch(w)) for w in ["a", "ab", "abc", "b", "ba", "", "bb", "abcd", "c"]] == [
        True, True, True, True, True, False, False, False, False
    ]  # fmt: skip
    currencies = re.compile(alternation_pattern(ISO_4217_CODES))
    assert all(currencies.fullmatch(code) for code in ISO_4217_CODES)
    assert not any(currencies.fullmatch(code) for code in ["RU", "RUBX", "rub", "XXX", "HRK"])


def test_line_pattern_is_built_once_per_header():
    checker = OC.stream_checker("f.csv", ValidationOptions(now=NOW))
    checker.feed(b"ClientId,Target,DateTime\n")
    assert isinstance(checker._line_pattern, LinePattern)
    assert checker._line_pattern.regex.flags & re.MULTILINE


@pytest.mark.parametrize("ending", [b"\n", b"\r\n"])
def test_fast_path_keeps_filter_rows_output_byte_identical(ending):
    data = clean_file(300).replace(b"\n", ending)
    out = io.BytesIO()
    OC.filter_rows(io.BytesIO(data), out, ValidationOptions(now=NOW))
    assert out.getvalue() == data
