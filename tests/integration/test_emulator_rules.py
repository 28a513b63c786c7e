"""The emulator's streaming file checks, in-process: chunk boundaries, fast paths and limits."""

from __future__ import annotations

import pytest

from airflow_provider_metrika.emulator import csvstream
from airflow_provider_metrika.emulator.cdp import CDP_ENTITIES, check_date, parse_columns_mapping
from airflow_provider_metrika.emulator.errors import ApiError
from airflow_provider_metrika.emulator.linkage import LinkageBook, count_linkage, is_known_visitor
from airflow_provider_metrika.emulator.rules import ConversionFile, LinkageColumns, UserParamsFile, check_comment
from airflow_provider_metrika.emulator.store import Store, StoredUploading

NOW = 1_800_000_000


def feed(checker, content: bytes, chunk: int) -> None:
    for start in range(0, len(content), chunk):
        checker.feed(content[start : start + chunk])
    checker.finish()


def rejection(checker, content: bytes, chunk: int = 7) -> str:
    with pytest.raises(ApiError) as raised:
        feed(checker, content, chunk)
    assert raised.value.status == 400
    return raised.value.message


@pytest.fixture(params=["numpy", "regex"])
def fast_path(request, monkeypatch):
    """Run each test with the numpy accelerator and with the pure-Python fallback."""
    if request.param == "regex":
        monkeypatch.setattr(csvstream, "_numpy", None)
    return request.param


@pytest.mark.parametrize("chunk", [1, 5, 64, 1 << 20])
def test_rows_are_counted_across_any_chunking(fast_path, chunk):
    rows = "".join(f"id{n},goal,{NOW - n}\n" for n in range(500))
    checker = ConversionFile("BASIC", NOW)
    feed(checker, ("ClientId,Target,DateTime\n" + rows).encode(), chunk)
    assert checker.rows == 500 and checker.client_id_type == "CLIENT_ID"


def test_mixed_widths_and_extra_columns_fall_back_exactly(fast_path):
    content = b"ClientId,Target,DateTime\n1,g,5\n2,g,1700000000,extra\n3,g,17\n"
    checker = ConversionFile("BASIC", NOW)
    feed(checker, content, 1 << 20)
    assert checker.rows == 3


def test_future_row_found_in_a_clean_block(fast_path):
    content = b"ClientId,Target,DateTime\n" + b"1,g,1700000000\n" * 50 + b"2,g,1900000000\n"
    assert "row 51: DateTime 1900000000 is in the future" in rejection(ConversionFile("BASIC", NOW), content, 1 << 20)


def test_quoted_newline_spanning_chunks():
    content = b'ClientId,Target,DateTime\n"multi\nline id",goal,1700000000\n2,g,1700000001\n'
    checker = ConversionFile("BASIC", NOW)
    feed(checker, content, 3)
    assert checker.rows == 2


def test_utf8_bom_and_last_line_without_newline():
    checker = ConversionFile("CALLS", NOW)
    feed(checker, b"\xef\xbb\xbfUserId,DateTime,StaticCall\nu1,1700000000,1", 4)
    assert checker.rows == 1 and checker.client_id_type == "USER_ID"
    assert checker.linkage_columns == LinkageColumns((0,), 2)


def test_invalid_utf8_split_across_chunks_reports_offset():
    content = "ClientId,Target,DateTime\nЖ,g,1700000000\n".encode() + b"\xd0\n"
    assert "not valid UTF-8 (byte 41)" in rejection(ConversionFile("BASIC", NOW), content, 3)


def test_file_over_the_size_limit(monkeypatch):
    monkeypatch.setattr(csvstream, "MAX_FILE_BYTES", 64)
    content = b"ClientId,Target,DateTime\n" + b"1,g,1700000000\n" * 10
    assert "larger than the 1 GiB limit" in rejection(ConversionFile("BASIC", NOW), content)


def test_unterminated_quote_longer_than_the_carry_limit(monkeypatch):
    monkeypatch.setattr(csvstream, "MAX_CARRY_BYTES", 32)
    content = b'ClientId,Target,DateTime\n"never closed,g,1700000000\n' + b"1,g,1700000000\n" * 10
    assert "longer than 64 MiB" in rejection(ConversionFile("BASIC", NOW), content)


def test_unterminated_quote_at_end_of_file_is_malformed():
    message = rejection(ConversionFile("BASIC", NOW), b'ClientId,Target,DateTime\n"x,g,1700000000\n')
    assert "row 1" in message


def test_multiline_header_is_rejected():
    assert "single line" in rejection(ConversionFile("BASIC", NOW), b'"Client\nId",Target,DateTime\n1,g,1\n', 100)


def test_user_params_counting_with_blank_lines_and_quotes():
    checker = UserParamsFile()
    feed(checker, b'ClientId,city\n1,"Moscow, RU"\n\n2,Kazan\n', 1 << 20)
    assert checker.rows == 2 and checker.content_id_type == "CLIENT_ID"


@pytest.mark.parametrize("comment", [None, "", "abc", "Тест12x", "Ёлка2026"])
def test_valid_comments(comment):
    assert check_comment(comment, "seed") == (comment or "")


@pytest.mark.parametrize("comment", ["Тест_1", "a b", "x-1", "ok!"])
def test_invalid_comments_under_the_seed_rule(comment):
    with pytest.raises(ApiError) as err:
        check_comment(comment, "seed")
    assert err.value.status == 400
    assert check_comment(comment, "any") == comment


@pytest.mark.parametrize("chars", ["seed", "any"])
def test_long_comments_are_refused_whatever_the_rule(chars):
    assert check_comment("a" * 255, chars) == "a" * 255
    with pytest.raises(ApiError, match="longer than 255"):
        check_comment("a" * 256, chars)


def test_user_params_header_less_triples():
    checker = UserParamsFile()
    feed(checker, b'"P12345","age",42\r\n"P12345","name","abc"', 1 << 20)
    assert checker.triples and checker.rows == 2 and checker.content_id_type == ""
    assert checker.linkage_columns == LinkageColumns((0,), has_header=False)


@pytest.mark.parametrize("content", [b"a,b\n1,2\n", b"a,b,c,d\n1,2,3,4\n"])
def test_user_params_without_id_column_and_not_triples_is_refused(content):
    assert "ClientId or UserId" in rejection(UserParamsFile(), content, 1 << 20)


def test_known_visitor_rule():
    assert not is_known_visitor("Unknown-123")
    assert is_known_visitor("unknown-123", {"unknown-123"})
    known = [f"v{n}" for n in range(2000) if is_known_visitor(f"v{n}")]
    assert 0.85 < len(known) / 2000 < 0.95


def test_count_linkage_of_a_spooled_calls_file(tmp_path):
    path = tmp_path / "spool.csv"
    path.write_text("ClientId,UserId,DateTime,StaticCall\nunknown1,,1,0\n,,1,0\nunknown2,,1,1\n\nunknown3,reg,1,0\n")
    counts = count_linkage(str(path), LinkageColumns((0, 1), 3), frozenset({"reg"}))
    assert counts == {
        "linked_quantity": 1,
        "user_not_found_quantity": 2,
        "goal_not_found_quantity": 0,
        "static_calls_quantity": 1,
        "dynamic_calls_quantity": 3,
    }


@pytest.mark.parametrize(
    ("value", "json_mode", "ok"),
    [
        ("31.05.2024", False, True),
        ("31.05.24 10:30", False, True),
        ("2024-05-31 10:30:15", False, True),
        ("2024-05-31T10:30:15", False, False),
        ("2024-05-31T10:30:15Z", True, True),
        ("31.05.2024", True, False),
        ("31.05.69", False, False),
        ("2024-02-30", False, False),
        ("yesterday", False, False),
    ],
)
def test_crm_date_formats(value, json_mode, ok):
    assert (check_date(value, json_mode) is None) is ok


def test_columns_mapping_parsing():
    assert parse_columns_mapping(' "uniq_id" : "ID" ,"name":"Имя"') == {"uniq_id": "ID", "name": "Имя"}
    for bad in ('"uniq_id":ID', '"a":"b" "c":"d"', "{}"):
        with pytest.raises(ApiError):
            parse_columns_mapping(bad)
    assert CDP_ENTITIES["orders"].fixed == {"client_type": ("CONTACT",)}


async def test_linkage_book_counts_once_and_survives_bad_spools(tmp_path):
    store = Store(str(tmp_path / "state.db"))
    spool = tmp_path / "spool.csv"
    spool.write_text("ClientId,Target,DateTime\nunknown-1,g,1\n")
    columns = LinkageColumns((0,)).to_json()

    def uploading(path: str | None) -> StoredUploading:
        item = StoredUploading(
            0, "offline_conversions", "BASIC", 1, 0.0, 0, "", 1, "0" * 64, 1, {"linkage_columns": columns}
        )
        item.spool = path
        store.add_uploading(item)
        return item

    calls = []

    def counter(*args):
        calls.append(args)
        if len(calls) == 2:
            raise ValueError("broken spool")
        return count_linkage(*args)

    book = LinkageBook(store, counter)
    first = uploading(str(spool))
    book.prefetch(first)
    assert (await book.ensure(first))["user_not_found_quantity"] == 1
    assert not spool.exists() and len(calls) == 1
    assert store.get_uploading("offline_conversions", 1, first.id).linkage == first.linkage
    spool.write_text("x\n")
    broken = uploading(str(spool))
    assert (await book.ensure(broken))["linked_quantity"] == 0
    missing = uploading(None)
    assert (await book.ensure(missing))["linked_quantity"] == 0
    assert len(calls) == 2
