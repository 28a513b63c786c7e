from pathlib import Path

import pandas as pd
import pytest

from airflow_provider_metrika.exceptions import MetrikaConfigError, MetrikaValidationError
from airflow_provider_metrika.jobs.inputs import prepare_file, rows_to_records
from airflow_provider_metrika.jobs.splitting import split_csv
from airflow_provider_metrika.version_compat import ObjectStoragePath


def source(tmp_path, text: str):
    path = tmp_path / "in.csv"
    path.write_bytes(text.encode())
    return prepare_file(path)


def test_split_keeps_header_and_row_boundaries(tmp_path):
    rows = "".join(f"{i},paid,{1700000000 + i}\n" for i in range(100))
    parts = split_csv(source(tmp_path, "ClientId,Target,DateTime\n" + rows), 300, str(tmp_path))
    texts = [Path(p.name).read_text() for p in parts]
    assert len(parts) > 3
    assert all(t.startswith("ClientId,Target,DateTime\n") and len(t.encode()) <= 300 for t in texts)
    assert "".join(t.split("\n", 1)[1] for t in texts) == rows


def test_split_never_cuts_a_quoted_newline(tmp_path):
    rows = "".join(f'{i},"line one\nline ""two""",x\n' for i in range(40))
    parts = split_csv(source(tmp_path, "a,b,c\n" + rows), 120, str(tmp_path))
    for part in parts:
        body = Path(part.name).read_text().split("\n", 1)[1]
        assert body.count('"') % 2 == 0


def test_split_feeds_every_byte_to_the_validator(tmp_path):
    text = "h\n" + "row\n" * 50
    seen = bytearray()
    split_csv(source(tmp_path, text), 40, str(tmp_path), on_bytes=seen.extend)
    assert seen.decode() == text


def test_split_rejects_a_row_bigger_than_the_limit(tmp_path):
    with pytest.raises(MetrikaValidationError, match=r"in\.csv row 3: 101 bytes, larger than the 50-byte upload limit"):
        split_csv(source(tmp_path, "h\nok\n" + "x" * 100 + "\n"), 50, str(tmp_path))


def test_split_rejects_an_unterminated_quote(tmp_path):
    with pytest.raises(MetrikaValidationError, match=r"in\.csv row 2: the file ends inside a quoted field"):
        split_csv(source(tmp_path, 'h\n"open\n'), 500, str(tmp_path))


def test_prepare_file_errors(tmp_path):
    with pytest.raises(MetrikaConfigError, match="src: file not found"):
        prepare_file(tmp_path / "missing.csv")
    with pytest.raises(MetrikaConfigError, match="not a regular file"):
        prepare_file(tmp_path)
    (tmp_path / "empty.csv").write_bytes(b"")
    with pytest.raises(MetrikaValidationError, match=r"empty\.csv: the file is empty"):
        prepare_file(tmp_path / "empty.csv")
    with pytest.raises(MetrikaConfigError, match="give a file"):
        prepare_file("  ")


def test_prepare_file_reads_object_storage_urls(tmp_path):
    (tmp_path / "c.csv").write_bytes(b"a,b\n1,2\n")
    for src in (f"file://{tmp_path}/c.csv", ObjectStoragePath(f"file://{tmp_path}/c.csv")):
        prepared = prepare_file(src)
        assert prepared.size == 8 and prepared.first_line() == b"a,b\n"
        with prepared.opener() as stream:
            assert stream.read() == b"a,b\n1,2\n"
    with pytest.raises(MetrikaConfigError, match="file not found"):
        prepare_file(ObjectStoragePath(f"file://{tmp_path}/none.csv"))


def test_content_digest_sees_a_change_anywhere(tmp_path):
    body = "a\n" + "1\n" * 3_000_000  # 6 MB: a change in the middle, same size
    one = source(tmp_path, body).content_digest()
    middle = len(body) // 2
    changed = body[:middle] + "2" + body[middle + 1 :]
    assert source(tmp_path, changed).content_digest() != one
    assert source(tmp_path, body).content_digest() == one


def test_remote_checksum_is_trusted_instead_of_a_download(mocker):
    from airflow_provider_metrika.jobs.inputs import PreparedInput, remote_checksum

    path = mocker.Mock()
    path.fs.info.return_value = {"ETag": '"abc"', "mtime": 1}
    assert remote_checksum(path) == 'ETag="abc"'
    path.fs.info.return_value = {"mtime": 1}
    assert remote_checksum(path) is None
    path.fs.info.side_effect = OSError("no metadata")
    assert remote_checksum(path) is None
    opener = mocker.Mock(side_effect=AssertionError("must not download"))
    assert PreparedInput("s3://b/k.csv", 10, opener, checksum='ETag="abc"').content_digest()


def test_rows_to_records():
    assert rows_to_records([{"a": 1}]) == [{"a": 1}]
    assert rows_to_records(pd.DataFrame([{"a": 1}, {"a": 2}])) == [{"a": 1}, {"a": 2}]
    with pytest.raises(MetrikaConfigError, match="expected a list of dicts"):
        rows_to_records({"a": 1})
    with pytest.raises(MetrikaConfigError, match=r"rows\[1\]: expected a dict"):
        rows_to_records([{"a": 1}, 5])
    with pytest.raises(MetrikaValidationError, match="no rows"):
        rows_to_records([])


def test_split_refuses_a_line_over_the_record_cap_without_reading_it_whole(tmp_path, monkeypatch):
    import airflow_provider_metrika.jobs.splitting as splitting

    monkeypatch.setattr(splitting, "MAX_RECORD_BYTES", 64)
    with pytest.raises(MetrikaValidationError, match=r"in\.csv row 3: longer than 64 bytes"):
        split_csv(source(tmp_path, "h\nok\n" + "x" * 100), 1000, str(tmp_path))
    with pytest.raises(MetrikaValidationError, match=r"in\.csv row 3: longer than 64 bytes"):
        split_csv(source(tmp_path, 'h\nok\n"' + "x\n" * 100), 1000, str(tmp_path))
    with pytest.raises(MetrikaValidationError, match=r"in\.csv row 1: longer than 64 bytes"):
        split_csv(source(tmp_path, "h" * 100), 1000, str(tmp_path))


def test_require_rows_reads_in_chunks_and_leaves_an_endless_header_to_the_validator(tmp_path, monkeypatch):
    import airflow_provider_metrika.jobs.inputs as inputs

    monkeypatch.setattr(inputs, "HASH_CHUNK", 4)
    monkeypatch.setattr(inputs, "MAX_RECORD_BYTES", 16)
    source(tmp_path, "ClientId,Target\n" + " \n" * 5 + "1,t").require_rows()
    with pytest.raises(MetrikaValidationError, match="a header but no data rows"):
        source(tmp_path, "ClientId,Target\n  \n\n").require_rows()
    source(tmp_path, "x" * 40).require_rows()  # no line end within the cap: the validator reports it
