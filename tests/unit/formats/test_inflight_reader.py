"""ValidatingReader: the in-flight check runs ahead of the sending on a worker thread; only checked bytes go out."""

from __future__ import annotations

import io
import threading

import pytest

from airflow_provider_metrika.exceptions import MetrikaValidationError
from airflow_provider_metrika.formats import ValidationOptions, get_file_format
from airflow_provider_metrika.formats.validation import ValidatingReader
from tests.unit.formats.conftest import NOW, NOW_TS

OC = get_file_format("offline_conversions")
HEADER = b"ClientId,Target,DateTime\n"


def rows(count: int, bad_at: int | None = None) -> bytes:
    lines = [b"x,paid,1\n" if i == bad_at else f"{i + 1},paid,{NOW_TS - i}\n".encode() for i in range(count)]
    return HEADER + b"".join(lines)


def reader(data: bytes, *, max_problems: int = 20, **kwargs) -> ValidatingReader:
    checker = OC.stream_checker("f.csv", ValidationOptions(now=NOW, max_problems=max_problems))
    return ValidatingReader(io.BytesIO(data), checker, len(data), **kwargs)


def read_all(source: ValidatingReader, size: int) -> bytes:
    return b"".join(iter(lambda: source.read(size), b""))


@pytest.mark.parametrize("size", [1, 7, 64, 1 << 20])
def test_hands_out_the_file_unchanged_and_finishes_the_check(size):
    data = rows(500)
    with reader(data, chunk_size=100) as source:
        assert source.len == len(data)
        assert read_all(source, size) == data
        assert source.len == 0
        assert source.report is not None and source.report.valid_rows == 500
        assert source.read(10) == b""  # end of file stays the end


def test_read_everything_at_once():
    data = rows(50)
    with reader(data, chunk_size=64) as source:
        assert source.read() == data


def test_a_bad_row_stops_the_reading_before_its_chunk_is_handed_out():
    data = rows(400, bad_at=300)
    bad_line = b"x,paid,1\n"
    handed_out = []
    with reader(data, max_problems=1, chunk_size=256) as source, pytest.raises(MetrikaValidationError) as caught:
        while chunk := source.read(256):
            handed_out.append(chunk)
    assert bad_line not in b"".join(handed_out)
    assert "row 302" in str(caught.value)


def test_a_problem_found_only_at_the_end_fails_the_end_of_file_read():
    with reader(HEADER, chunk_size=8) as source:
        assert source.read(1 << 20) == HEADER[:8]  # one chunk per read at most
        assert source.read(1 << 20) + source.read(1 << 20) + source.read(1 << 20) == HEADER[8:]
        with pytest.raises(MetrikaValidationError, match="no data rows"):
            source.read(1)
        with pytest.raises(MetrikaValidationError, match="no data rows"):
            source.read(1)  # the failure sticks


def test_a_read_error_of_the_file_reaches_the_reader_unchanged():
    error = OSError("disk gone")

    class Broken(io.BytesIO):
        def read(self, size=-1):
            raise error

    checker = OC.stream_checker("f.csv", ValidationOptions(now=NOW))
    with ValidatingReader(Broken(), checker, 10) as source, pytest.raises(OSError) as caught:
        source.read(5)
    assert caught.value is error


def test_close_stops_a_worker_waiting_to_hand_over_and_closes_the_file():
    raw = io.BytesIO(rows(2000))
    checker = OC.stream_checker("f.csv", ValidationOptions(now=NOW))
    source = ValidatingReader(raw, checker, len(raw.getvalue()), read_ahead=1, chunk_size=64)
    assert source.read(10)  # the worker is now blocked: one chunk is waiting and the buffer is full
    source.close()
    assert raw.closed
    assert not [thread for thread in threading.enumerate() if thread.name == "metrika-validate"]


def test_close_before_reading_starts_no_worker():
    raw = io.BytesIO(rows(3))
    source = ValidatingReader(raw, OC.stream_checker("f.csv"), 10)
    source.close()
    assert raw.closed and source.report is None
