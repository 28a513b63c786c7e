"""Splitting a big CSV into byte ranges of the file itself: boundaries, headers, validation across parts."""

from __future__ import annotations

import csv
import io
import logging
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_provider_metrika.exceptions import MetrikaValidationError
from airflow_provider_metrika.formats import ValidationOptions
from airflow_provider_metrika.formats.validation import plan_parts
from airflow_provider_metrika.jobs import splitting
from airflow_provider_metrika.jobs.inputs import PreparedInput, prepare_file
from airflow_provider_metrika.jobs.splitting import split_ranges
from airflow_provider_metrika.version_compat import ObjectStoragePath

HEADER = "ClientId,Target,DateTime\n"
LOG = logging.getLogger("test")


def write(tmp_path: Path, data: bytes | str, name: str = "in.csv") -> PreparedInput:
    path = tmp_path / name
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return prepare_file(path)


def read_all(opener) -> bytes:
    with opener() as stream:
        return b"".join(iter(lambda: stream.read(777), b""))


def part_bytes(source: PreparedInput, max_bytes: int) -> tuple[list[bytes], bytes]:
    """Each part as the hook would send it (file order), and the header they repeat."""
    ranges = split_ranges(source, max_bytes)
    assert [r.index for r in ranges] == list(range(1, len(ranges) + 1))
    return [read_all(splitting.range_opener(source, r)) for r in ranges], ranges[0].header


def assert_parts_rebuild(original: bytes, parts: list[bytes], header: bytes, max_bytes: int) -> None:
    assert len(parts) >= 2
    for part in parts:
        assert part.startswith(header) and len(part) <= max_bytes
    assert header + b"".join(part[len(header) :] for part in parts) == original
    for part in parts[:-1]:  # every cut is a record end: a newline outside quotes
        body = part[len(header) :]
        assert body.endswith(b"\n") and body.count(b'"') % 2 == 0


def rows(count: int, start: int = 0) -> str:
    return "".join(f"{10**17 + i},paid,{1700000000 + i}\n" for i in range(start, start + count))


def test_parts_are_ranges_with_the_header_in_front_and_the_last_part_as_large_as_allowed(tmp_path):
    text = HEADER + rows(100)
    source = write(tmp_path, text)
    parts, header = part_bytes(source, 1000)
    assert_parts_rebuild(text.encode(), parts, header, 1000)
    assert len(parts[-1]) > 1000 - 40  # the last part is filled up to the limit, less than a row short


def test_a_record_straddling_the_point_where_the_last_part_may_start_goes_to_the_earlier_part(tmp_path):
    text = HEADER + rows(10) + '1,"long\nquoted\nnote",1700000000\n' + rows(10, 100)
    source = write(tmp_path, text)
    for max_bytes in range(len(HEADER) * 2 + 60, len(text)):
        parts, header = part_bytes(source, max_bytes)
        assert_parts_rebuild(text.encode(), parts, header, max_bytes)
        assert not any(part.endswith(b'"long\n') or part.endswith(b"quoted\n") for part in parts)


def test_a_quoted_newline_exactly_at_the_boundary_is_not_a_cut(tmp_path):
    head = HEADER + rows(3)
    text = head + '7,"a\n' + 'b",1700000000\n' + rows(3, 50)
    source = write(tmp_path, text)
    # the last part's earliest start is right after the quoted newline
    max_bytes = len(HEADER) + len(text) - len(head) - len('7,"a\n')
    parts, header = part_bytes(source, max_bytes)
    assert_parts_rebuild(text.encode(), parts, header, max_bytes)
    assert all(not part.endswith(b'7,"a\n') for part in parts)


def test_crlf_line_ends_a_bom_and_a_last_line_without_newline_survive(tmp_path):
    text = "\ufeff" + HEADER.replace("\n", "\r\n") + rows(40).replace("\n", "\r\n") + "9,paid,1700000000"
    source = write(tmp_path, text)
    parts, header = part_bytes(source, 400)
    assert header.startswith(b"\xef\xbb\xbf") and header.endswith(b"\r\n")
    assert_parts_rebuild(text.encode(), parts, header, 400)
    assert parts[-1].endswith(b"9,paid,1700000000")


def test_a_record_larger_than_a_part_is_refused_with_its_row(tmp_path):
    text = HEADER + rows(3) + "5,paid," + "9" * 300 + "\n" + rows(3)
    with pytest.raises(MetrikaValidationError, match=r"in\.csv row 5: at least \d+ bytes, larger than the 200-byte"):
        split_ranges(write(tmp_path, text), 200)
    tail_record = HEADER + rows(3) + "5,paid," + "9" * 300 + "\n"  # the big record is the file's last one
    with pytest.raises(MetrikaValidationError, match=r"in\.csv row 5: at least \d+ bytes"):
        split_ranges(write(tmp_path, tail_record), 200)


def test_a_quote_never_closed_is_refused_not_split_inside(tmp_path):
    text = HEADER + rows(3) + '5,"open\n' + "x,y\n" * 100
    with pytest.raises(MetrikaValidationError, match=r"in\.csv row 5: at least .* is a quote never closed\?"):
        split_ranges(write(tmp_path, text), 200)


def test_a_header_too_long_to_split_is_refused(tmp_path):
    with pytest.raises(MetrikaValidationError, match="the header alone is too long"):
        split_ranges(write(tmp_path, HEADER + rows(5)), 40)


def test_the_validator_sees_the_bytes_before_the_last_part_or_all_of_them(tmp_path):
    text = HEADER + rows(50)
    source = write(tmp_path, text)
    ranges = split_ranges(source, 600)
    seen = bytearray()
    split_ranges(source, 600, on_bytes=seen.extend)
    assert bytes(seen) == text.encode()[: ranges[-1].start]
    seen.clear()
    split_ranges(source, 600, on_bytes=seen.extend, read_all=True)
    assert bytes(seen) == text.encode()


csv_field = st.text(alphabet='ab,"\n\r\u00e9 ', max_size=12)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    records=st.lists(st.lists(csv_field, min_size=1, max_size=4), min_size=1, max_size=40),
    crlf=st.booleans(),
    bom=st.booleans(),
    final_newline=st.booleans(),
    slack=st.integers(min_value=0, max_value=400),
)
def test_property_the_parts_minus_their_headers_are_the_file(tmp_path, records, crlf, bom, final_newline, slack):
    out = io.StringIO(newline="")
    csv.writer(out, lineterminator="\r\n" if crlf else "\n").writerows([["h1", "h2"], *records])
    text = ("\ufeff" if bom else "") + out.getvalue()
    if not final_newline:
        text = text.rstrip("\r\n") + ("" if text.rstrip("\r\n").count('"') % 2 == 0 else '"')
    data = text.encode()
    header_size = len(data.split(b"\n", 1)[0]) + 1
    max_bytes = min(len(data) - 1, 2 * header_size + 20 + slack)
    if max_bytes < 2 * header_size or max_bytes >= len(data):
        return
    source = write(tmp_path, data, "p.csv")
    try:
        parts, header = part_bytes(source, max_bytes)
    except MetrikaValidationError as error:  # only a record too big for a part (with the header) is refused
        assert "larger than the" in str(error) and "p.csv row " in str(error)
        return
    assert_parts_rebuild(data, parts, header, max_bytes)
    for part in parts:  # csv reads each part as whole records of the file
        assert next(csv.reader(io.StringIO(part.decode("utf-8-sig"), newline=""))) == ["h1", "h2"]


# -- the upload plan: validation in flight across parts ---------------------------------------------------


def conversions(count: int, bad_row: int | None = None) -> str:
    lines = [f"{10**17 + i},paid,{1700000000 + i}" for i in range(count)]
    if bad_row is not None:
        lines[bad_row - 2] = f"{10**17},paid,soon"
    return HEADER + "\n".join(lines) + "\n"


def plan(source: PreparedInput, mode: str, tmp_path: Path, max_bytes: int = 2000):
    options = ValidationOptions(stale_rows="warn")
    return plan_parts(
        "offline_conversions", source, options, mode=mode, max_bytes=max_bytes, directory=str(tmp_path), log=LOG
    )


def test_inflight_sends_the_last_part_first_checked_and_the_rest_from_the_file(tmp_path):
    text = conversions(200)
    source = write(tmp_path, text)
    parts = plan(source, "inflight", tmp_path)
    names = [part.name.rsplit("/", 1)[-1] for part, _ in parts]
    count = len(parts)
    assert names == [f"in-part{count}of{count}.csv", *(f"in-part{i}of{count}.csv" for i in range(1, count))]
    sent = [read_all(opener) for _, opener in parts]
    assert [len(body) for body in sent] == [part.size for part, _ in parts]
    header = HEADER.encode()
    assert header + b"".join(body[len(header) :] for body in [*sent[1:], sent[0]]) == text.encode()
    assert not list(tmp_path.glob("part-*")), "no copy on disk"


def test_inflight_bad_row_in_the_last_part_aborts_it_before_its_last_byte_naming_the_file_row(tmp_path):
    source = write(tmp_path, conversions(200, bad_row=199))
    parts = plan(source, "inflight", tmp_path)  # nothing wrong before the last part: the plan stands
    _first, opener = parts[0]
    handed = []
    with pytest.raises(MetrikaValidationError, match=r"in\.csv row 199, column DateTime"), opener() as stream:
        while True:
            handed.append(stream.read(100))
            assert handed[-1], "the end of the part was reported: the multipart body would be complete"


def test_inflight_bad_row_before_the_last_part_stops_the_plan_and_reports_the_last_parts_rows_too(tmp_path):
    source = write(tmp_path, conversions(200, bad_row=3))
    with open(source.name, "a") as out:
        out.write(f"{10**17},paid,later\n")
    source = prepare_file(source.name)
    with pytest.raises(MetrikaValidationError) as refused:
        plan(source, "inflight", tmp_path)
    assert "in.csv row 3, column DateTime" in str(refused.value)
    assert "in.csv row 202, column DateTime" in str(refused.value)


@pytest.mark.parametrize("mode", ["preflight", "none"])
def test_preflight_checks_everything_first_and_none_nothing(tmp_path, mode):
    source = write(tmp_path, conversions(200, bad_row=199))
    if mode == "preflight":
        with pytest.raises(MetrikaValidationError, match=r"in\.csv row 199, column DateTime"):
            plan(source, mode, tmp_path)
        return
    assert sum(part.size for part, _ in plan(source, mode, tmp_path)) > source.size


def test_every_attempt_at_the_last_part_is_checked_from_the_same_point(tmp_path):
    source = write(tmp_path, conversions(200, bad_row=199))
    (_, opener), *_rest = plan(source, "inflight", tmp_path)
    for _attempt in range(2):  # the hook reopens for a retry: the same rows, the same verdict
        with pytest.raises(MetrikaValidationError, match=r"in\.csv row 199,"):
            read_all(opener)
    good = write(tmp_path, conversions(200), "good.csv")
    (_, opener), *_rest = plan(good, "inflight", tmp_path)
    assert read_all(opener) == read_all(opener)


def test_a_file_changed_after_the_split_is_not_sent(tmp_path):
    source = write(tmp_path, conversions(200))
    parts = plan(source, "none", tmp_path)
    with open(source.name, "ab") as out:
        out.write(b"1,paid,1700000000\n")
    with pytest.raises(MetrikaValidationError, match=r"in\.csv: \d+ bytes now, \d+ when it was split"):
        read_all(parts[1][1])
    Path(source.name).write_bytes(b"x" * source.size)  # same size, but a part reads short after truncation
    with open(source.name, "r+b") as out:
        out.truncate(source.size - 500)
    with pytest.raises(MetrikaValidationError, match="bytes now"):
        read_all(parts[0][1])


def test_the_part_openers_give_the_header_to_a_first_line_reader(tmp_path):
    source = write(tmp_path, conversions(200))
    for part, _opener in plan(source, "none", tmp_path):
        assert part.first_line() == HEADER.encode()
        assert part.first_row() == ["ClientId", "Target", "DateTime"]


def test_an_object_storage_file_with_ranged_reads_is_split_in_place(tmp_path):
    text = conversions(200)
    (tmp_path / "in.csv").write_text(text)
    source = prepare_file(ObjectStoragePath(f"file://{tmp_path}/in.csv"))
    with source.opener() as stream:
        assert not isinstance(stream, io.FileIO | io.BufferedReader), "an fsspec file, not a plain one"
    parts = plan(source, "inflight", tmp_path)
    assert len(parts) > 1 and "-part" in parts[0][0].name
    header = HEADER.encode()
    bodies = [read_all(opener) for _, opener in parts]
    assert header + b"".join(body[len(header) :] for body in [*bodies[1:], bodies[0]]) == text.encode()


class _ForwardOnly(io.BytesIO):
    def seekable(self) -> bool:
        return False


def test_a_source_that_cannot_seek_is_split_by_copying_as_before(tmp_path):
    data = conversions(200).encode()
    source = PreparedInput(name="stream.csv", size=len(data), opener=lambda: _ForwardOnly(data))
    parts = plan(source, "inflight", tmp_path)
    assert [Path(part.name).name for part, _ in parts][:2] == ["part-0001.csv", "part-0002.csv"]
    header = HEADER.encode()
    assert header + b"".join(read_all(opener)[len(header) :] for _, opener in parts) == data
