"""The chunk-fed checker: chunking never changes the result; fail-fast, policies, filtering, reporting."""

from __future__ import annotations

import io
from datetime import datetime

import pytest

from airflow_provider_metrika.exceptions import MetrikaConfigError, MetrikaValidationError
from airflow_provider_metrika.formats import FILE_FORMATS, Problem, ValidationOptions, get_file_format
from airflow_provider_metrika.formats import checker as checker_module
from tests.unit.formats.conftest import DATA, NOW

OC = get_file_format("offline_conversions")
HEADER = b"ClientId,Target,DateTime,Price,Currency\n"
RECENT = 1732300000
STALE = 1700000000


def rows(*lines: str) -> bytes:
    return HEADER + "".join(line + "\n" for line in lines).encode()


def report_of(data: bytes, chunk: int, **options):
    checker = OC.stream_checker("f.csv", ValidationOptions(now=NOW, **options), fail_fast=False)
    for start in range(0, len(data), chunk):
        checker.feed(data[start : start + chunk])
    return checker.finish()


MESSY = (
    "\ufeffClientId,Target,DateTime,Price,Currency\r\n"
    '1,"multi\nline ""quoted"" target",1732300000,1.5,RUB\r\n'
    "2,t,1899999999,1,RUB\r\n"
    "\r\n"
    '3,"Кириллица, и запятая",1732300000,"1,5",EUR\r\n'
    "4,t,1700000000,,\r\n"
    "5,t,1732300000"
).encode()


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 64, 1 << 20])
def test_chunking_never_changes_the_report(chunk):
    assert report_of(MESSY, chunk) == report_of(MESSY, len(MESSY))


def test_messy_file_report():
    report = report_of(MESSY, len(MESSY))
    assert [(p.row, p.column) for p in report.problems] == [(4, "DateTime"), (6, "Price"), (8, None)]
    assert report.rows == 5 and report.valid_rows == 2
    assert any("BOM" in w for w in report.warnings)
    assert any("blank line" in w for w in report.warnings)
    assert any("older than the 21-day" in w for w in report.warnings)


def test_multibyte_character_split_across_chunks_is_fine():
    data = rows("1,цель,1732300000,,")
    assert report_of(data, 1).ok


def test_problem_str_forms():
    assert str(Problem("a.csv", 17, "DateTime", "bad")) == "a.csv row 17, column DateTime: bad"
    assert str(Problem("a.csv", 3, None, "bad")) == "a.csv row 3: bad"
    assert str(Problem("a.csv", None, "X", "bad")) == "a.csv column X: bad"
    assert str(Problem("a.csv", None, None, "bad")) == "a.csv: bad"


def test_max_problems_keeps_first_n_and_counts_all():
    data = rows(*[f"{i},t,1899999999,," for i in range(1, 31)])
    report = OC.validate(io.BytesIO(data), file_name="deals.csv", options=ValidationOptions(now=NOW, max_problems=5))
    assert report.total_problems == 30 and len(report.problems) == 5
    with pytest.raises(MetrikaValidationError) as caught:
        report.raise_for_problems()
    assert caught.value.total == 30
    assert caught.value.problems[0] == "deals.csv row 2, column DateTime: 1899999999 is in the future (now 1732400000)"
    assert "deals.csv: 30 problem(s) found; first 5" in str(caught.value)
    assert "... and 25 more" in report.summary()


def test_raise_for_problems_is_quiet_when_ok():
    report = OC.validate(io.BytesIO(rows(f"1,t,{RECENT},,")), options=ValidationOptions(now=NOW))
    report.raise_for_problems()
    assert "OK: no problems" in report.summary()


def test_feed_fails_fast_after_max_problems():
    checker = OC.stream_checker("deals.csv", ValidationOptions(now=NOW, max_problems=2))
    checker.feed(rows("1,t,1899999999,,"))
    with pytest.raises(MetrikaValidationError, match="2 problem"):
        checker.feed(b"2,t,1899999999,,\n")


def test_feed_fails_fast_on_header_problems_with_max_one():
    checker = OC.stream_checker("deals.csv", ValidationOptions(now=NOW, max_problems=1))
    with pytest.raises(MetrikaValidationError, match="required column Target"):
        checker.feed(b"ClientId,DateTime\n")


def test_finish_is_idempotent_and_feed_after_finish_fails():
    checker = OC.stream_checker("f.csv", ValidationOptions(now=NOW))
    checker.feed(rows(f"1,t,{RECENT},,"))
    assert checker.finish() == checker.finish()
    with pytest.raises(RuntimeError):
        checker.feed(b"x")


@pytest.mark.parametrize(
    ("policy", "valid", "dropped", "problems"),
    [("warn", 2, 0, 0), ("drop", 1, 1, 0), ("fail", 1, 0, 1)],
)
def test_stale_row_policies(policy, valid, dropped, problems):
    report = report_of(rows(f"1,t,{RECENT},,", f"2,t,{STALE},,"), 1 << 20, stale_rows=policy)
    assert (report.valid_rows, report.dropped_rows, report.total_problems) == (valid, dropped, problems)


def test_window_length_is_an_option():
    report = report_of(
        rows(f"1,t,{NOW.timestamp() - 2 * 86400:.0f},,"), 1 << 20, stale_rows="fail", linkage_window_days=1
    )
    assert "1-day linkage window" in report.problems[0].message


def test_filter_rows_keeps_byte_identical_valid_lines():
    data = (
        b"\xef\xbb\xbfClientId,Target,DateTime,Price,Currency\r\n"
        + f'1,"a\r\nb",{RECENT},1.50,RUB\r\n'.encode()
        + f"2,t,{STALE},,\r\n".encode()
        + b"3,t,1899999999,,\r\n"
        + f"4,t,{RECENT},,".encode()
    )
    out = io.BytesIO()
    report = OC.filter_rows(io.BytesIO(data), out, ValidationOptions(now=NOW, stale_rows="drop"))
    assert out.getvalue() == (
        b"ClientId,Target,DateTime,Price,Currency\r\n" + f'1,"a\r\nb",{RECENT},1.50,RUB\r\n4,t,{RECENT},,'.encode()
    )
    assert (report.rows, report.valid_rows, report.dropped_rows, report.total_problems) == (4, 2, 1, 1)


def test_validate_reads_paths_and_names_the_file(tmp_path):
    path = tmp_path / "deals.csv"
    path.write_bytes(rows(f"1,t,{RECENT},,"))
    assert OC.validate(path, options=ValidationOptions(now=NOW)).file_name == "deals.csv"
    assert OC.validate(str(path), options=ValidationOptions(now=NOW)).ok
    with open(path, "rb") as handle:
        assert OC.validate(handle, options=ValidationOptions(now=NOW)).file_name == "deals.csv"
    assert OC.validate(io.BytesIO(b""), options=ValidationOptions(now=NOW)).file_name == "<stream>"


def test_text_mode_and_unknown_sources_are_config_errors(tmp_path):
    with pytest.raises(MetrikaConfigError, match="binary mode"):
        OC.validate(io.StringIO("ClientId\n"))
    with pytest.raises(MetrikaConfigError, match="cannot read int"):
        OC.validate(42)


def test_a_record_longer_than_the_limit_is_reported_and_skipped(monkeypatch):
    monkeypatch.setattr(checker_module, "MAX_RECORD_CHARS", 64)
    data = rows(f'1,"{"x" * 50}\n{"y" * 50}",{RECENT},,', f"2,t,{RECENT},,", f"3,t,{RECENT},,")
    report = report_of(data, 16)
    # the long record (rows 2-3 of the file) is one bad row, never held whole; checking resumes after it
    assert (report.rows, report.valid_rows) == (3, 2)
    assert [(p.row, p.column) for p in report.problems] == [(2, "Target")]
    assert "longer than 64 characters" in report.problems[0].message


def test_oversized_field_is_an_overlong_row():
    report = report_of(rows(f"1,{'x' * 200_000},{RECENT},,", f"2,t,{RECENT},,"), 1 << 20)
    assert "longer than 131,072 characters" in report.problems[0].message
    assert (report.problems[0].row, report.problems[0].column, report.rows, report.valid_rows) == (2, "Target", 2, 1)


def test_empty_header_and_empty_column_names():
    assert "header row is empty" in report_of(b"\n", 10).problems[0].message
    report = report_of(HEADER.replace(b"\n", b",\n") + f"1,t,{RECENT},,,\n".encode(), 100)
    assert report.problems[0].message == "a column has an empty name"


def test_stale_warning_counts_only_under_warn():
    report = report_of(rows(f"1,t,{STALE},,", f"2,t,{STALE},,"), 1 << 20)
    assert report.ok and "2 row(s) are older" in report.warnings[0]


def test_header_problem_makes_no_row_valid():
    report = report_of(b"ClientId,DateTime\n1,1732300000\n", 100)
    assert report.rows == 1 and report.valid_rows == 0


def test_registry():
    assert set(FILE_FORMATS) == {
        "offline_conversions",
        "calls",
        "chats",
        "user_params",
        "contacts",
        "orders",
        "simple_orders",
        "expenses",
        "expense_removals",
    }
    with pytest.raises(MetrikaConfigError, match="expected one of offline_conversions, calls"):
        get_file_format("deals")


def test_registry_names_match_upload_kinds():
    from airflow_provider_metrika.uploads import UPLOAD_KINDS

    assert {kind.file_format for kind in UPLOAD_KINDS.values()} == set(FILE_FORMATS)


def test_corpus_directory_exists():
    assert (DATA / "bad" / "EXPECTED.json").exists()


def test_default_now_is_the_current_time():
    options = ValidationOptions()
    assert abs(options.now_timestamp() - datetime.now().timestamp()) < 60


def test_split_lines_keeps_odd_line_breaks_inside_records():
    assert checker_module.split_lines("a,b\r\nc,d\n") == ["a,b\r\n", "c,d\n"]
    assert checker_module.split_lines('a,"x\x0cy"\nc\rd\n') == ['a,"x\x0cy"\n', "c\rd\n"]
    report = report_of(rows(f'1,"line\u2028separator",{RECENT},,'), 1 << 20)
    assert report.ok and report.rows == 1
    report = report_of(rows(f'1,"page\x0cbreak",{RECENT},,'), 1 << 20)  # one row, refused for its form feed
    assert report.rows == 1 and [(p.row, p.column) for p in report.problems] == [(2, "Target")]


def test_fast_and_row_paths_agree_on_a_large_file():
    lines = [f"{i},t,{RECENT if i % 3 else STALE},{i}.5,RUB" for i in range(1, 2001)]
    clean = rows(*lines)
    assert report_of(clean, 4096).rows == 2000
    dropped = report_of(clean, 4096, stale_rows="drop")
    assert (dropped.valid_rows, dropped.dropped_rows) == (1334, 666)
    lines[1500] = "x,t,1,1,RUB"
    broken = report_of(rows(*lines), 4096, stale_rows="fail")
    assert broken.total_problems == 667
    assert (broken.problems[0].row, broken.problems[0].column) == (4, "DateTime")
    assert any(p.row == 1502 and p.column == "ClientId" for p in report_of(rows(*lines), 4096).problems)


def test_filter_rows_passes_clean_blocks_through_unchanged():
    data = rows(*[f"{i},t,{RECENT},,RUB" for i in range(1, 3000)])
    out = io.BytesIO()
    report = OC.filter_rows(io.BytesIO(data), out, ValidationOptions(now=NOW))
    assert out.getvalue() == data and report.valid_rows == 2999


def test_filter_rows_drops_stale_lines_in_clean_batches():
    lines = [f"{i},t,{RECENT if i % 3 else STALE},,RUB" for i in range(1, 3000)]
    out = io.BytesIO()
    report = OC.filter_rows(io.BytesIO(rows(*lines)), out, ValidationOptions(now=NOW, stale_rows="drop"))
    assert out.getvalue() == rows(*[line for i, line in enumerate(lines, start=1) if i % 3])
    assert (report.valid_rows, report.dropped_rows) == (2000, 999)


@pytest.mark.parametrize(
    ("data", "row", "column", "reason"),
    [
        (HEADER + b"1,t," + b"9" * 300, 2, "DateTime", "a line end is missing"),
        (HEADER + b'1,"' + b"x,\n" * 100 + b"\n2,t,1,,\n", 2, "Target", "a quote is never closed"),
        (b"ClientId" * 50, 1, None, "the header is longer"),
        (HEADER.replace(b"\n", b"\r") + b"1,t,1732300000,,\r" * 20, 1, None, "bare \\r"),
        (HEADER + b"\x00" * 300, 2, "ClientId", "NUL bytes"),
    ],
    ids=["no-line-end", "open-quote", "header", "cr-only", "nul"],
)
@pytest.mark.parametrize("chunk", [7, 64, 1 << 20])
def test_an_overlong_record_is_one_problem_at_its_row_and_column(monkeypatch, data, row, column, reason, chunk):
    monkeypatch.setattr(checker_module, "MAX_RECORD_CHARS", 128)
    report = report_of(data, chunk)
    assert [(p.row, p.column) for p in report.problems][:1] == [(row, column)]
    assert reason in report.problems[0].message and "longer than 128 characters" in report.problems[0].message
    assert report.valid_rows == 0


def test_checking_resumes_after_an_overlong_record_with_the_right_row_numbers(monkeypatch):
    monkeypatch.setattr(checker_module, "MAX_RECORD_CHARS", 128)
    data = rows(f"1,t,{RECENT},,", "2," + "x" * 400 + f",{RECENT},,", f"3,t,{RECENT},,", f"4,t,{RECENT},-1,")
    for chunk in (5, 100, 1 << 20):
        report = report_of(data, chunk)
        assert [(p.row, p.column) for p in report.problems] == [(3, "Target"), (5, "Price")], chunk
        assert (report.rows, report.valid_rows) == (4, 2)


def test_a_field_over_a_lowered_csv_limit_is_worded():
    import csv

    previous = csv.field_size_limit(100)  # another library in the process may lower it
    try:
        report = report_of(rows("1," + "x" * 200 + f",{RECENT},,"), 1 << 20)
    finally:
        csv.field_size_limit(previous)
    assert "malformed CSV: a field is longer than 100 characters" in report.problems[0].message


@pytest.mark.parametrize(
    ("text", "start", "in_quotes", "expected"),
    [
        ("ab\ncd", 0, False, (2, False)),
        ('a"b\nc"d\ne', 0, False, (7, False)),
        ("abc", 0, False, (-1, False)),
        ('a"bc\nd', 0, False, (-1, True)),
        ('x\n"y', 0, True, (-1, False)),
        ('x"\ny', 0, True, (2, False)),
        ('""\n', 0, False, (2, False)),
    ],
)
def test_record_end_respects_quotes(text, start, in_quotes, expected):
    assert checker_module._record_end(text, start, in_quotes) == expected


@pytest.mark.parametrize("char", ["\x00", "\x01", "\x08", "\x0b", "\x1b", "\x7f"])
@pytest.mark.parametrize("chunk", [3, 1 << 20])
def test_control_characters_in_text_cells_are_refused_with_row_and_column(char, chunk):
    data = rows(f"1,t,{RECENT},,", f"2,pa{char}id,{RECENT},,", *[f"{i},t,{RECENT},," for i in range(3, 600)])
    report = report_of(data, chunk)
    assert [(p.row, p.column) for p in report.problems] == [(3, "Target")]
    assert f"holds the control character {char!r} at position 3" in report.problems[0].message
    assert (report.rows, report.valid_rows) == (599, 598)


def test_tabs_and_quoted_line_breaks_are_text():
    assert report_of(rows(f'1,"a\tb\r\nc",{RECENT},,'), 1 << 20).ok


@pytest.mark.parametrize(
    ("client_id", "ok"),
    [
        ("18446744073709551615", True),
        ("018446744073709551615", True),
        ("1234567890123456789", True),
        ("18446744073709551616", False),
        ("99999999999999999999", False),
        ("9" * 5000, False),  # longer than int() reads by default: compared as text
    ],
)
def test_client_id_must_fit_an_unsigned_64_bit_integer(client_id, ok):
    for chunk in (7, 1 << 20):
        report = report_of(rows(f"{client_id},t,{RECENT},,", *[f"{i},t,{RECENT},," for i in range(300)]), chunk)
        assert report.ok is ok, report.summary()
        if not ok:
            assert report.problems[0].column == "ClientId" and "unsigned 64-bit" in report.problems[0].message
