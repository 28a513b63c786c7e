"""CDP JSON inputs that are not what the endpoint wants: a clear error naming file (or rows), row and field."""

from __future__ import annotations

import json

import pytest

from airflow_provider_metrika.exceptions import MetrikaConfigError, MetrikaNoRowsError, MetrikaValidationError
from airflow_provider_metrika.formats import json_source
from airflow_provider_metrika.operators.cdp import MetrikaUploadContactsOperator, MetrikaUploadOrdersOperator
from tests.integration.conftest import FakeTaskInstance
from tests.rows import cdp_order

ORDER = cdp_order(create_date_time="2026-11-20 10:00:00")


def _body(orders):
    return json.dumps({"orders": orders})


@pytest.mark.parametrize(
    ("content", "where", "fragment"),
    [
        ('{"orders": 42}', "orders.json:", '"orders" must be a list of objects, not a number'),
        ("{}", "orders.json:", 'no "orders" key'),
        ('{"contacts": []}', "orders.json:", "unexpected key 'contacts'"),
        ("42", "orders.json:", "the file holds a number"),
        ('"orders"', "orders.json:", "the file holds a string"),
        ("   ", "orders.json:", "the file is empty"),
        ("[" * 100_000, "orders.json row 1:", "nested more than 16 levels deep"),
        (
            _body([{**ORDER, "goals": [[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]}]),
            "orders.json row 1, column goals:",
            "nested",
        ),
        (_body([ORDER, 42]), "orders.json row 2:", "a row must be a mapping, not int"),
        (_body([ORDER, {**ORDER, "revenue": "abc"}]), "orders.json row 2, column revenue:", "'abc' is not a decimal"),
        (
            _body([{**ORDER, "revenue": "1,5"}]),
            "orders.json row 1, column revenue:",
            "use '.' as the decimal separator",
        ),
        (_body([{**ORDER, "id": "x" * 200_000}]), "orders.json row 1, column id:", "a string of 200,000 characters"),
        (
            _body([{**ORDER, "user_comment": "y" * 300_000}]),
            "orders.json row 1, column user_comment:",
            "a string of 300,000",
        ),
        ('{"orders": [{"id": "1"}, {"id": tru}]}', "orders.json row 2:", "not valid JSON"),
        ('{"orders": [{"id": "1"}]} trailing', "orders.json:", "more data after the body"),
        ('{"orders": [{"id": "1"}', "orders.json row 1:", "found the end of the file"),
        (_body([{**ORDER, "unknown": 1}]), "orders.json row 1, column unknown:", "unknown field"),
        (_body([{k: v for k, v in ORDER.items() if k != "id"}]), "orders.json row 1, column id:", "is missing"),
    ],
    ids=lambda value: value[:30] if isinstance(value, str) else None,
)
def test_a_bad_json_file_names_file_row_and_field(hook, tmp_path, content, where, fragment):
    path = tmp_path / "orders.json"
    path.write_text(content)
    operator = MetrikaUploadOrdersOperator(task_id="o", src=str(path), merge_mode="SAVE")
    with pytest.raises(MetrikaValidationError) as raised:
        operator.execute({"ti": FakeTaskInstance()})
    message = str(raised.value)
    assert where in message and fragment in message, message
    assert "Traceback" not in message and "<class" not in message
    hook.upload_json.assert_not_called()


def test_a_json_file_that_is_not_utf8_names_the_byte(hook, tmp_path):
    path = tmp_path / "orders.json"
    path.write_bytes(b'{"orders": [{"id": "\xff"}]}')
    with pytest.raises(MetrikaValidationError, match=r"orders\.json: not valid UTF-8 at byte 20"):
        MetrikaUploadOrdersOperator(task_id="o", src=str(path), merge_mode="SAVE").execute({"ti": FakeTaskInstance()})


def test_an_empty_json_list_skips_like_an_empty_file(hook, tmp_path):
    path = tmp_path / "orders.json"
    path.write_text('{"orders": []}')
    with pytest.raises(MetrikaNoRowsError, match=r"orders\.json: no rows to upload"):
        MetrikaUploadOrdersOperator(task_id="o", src=str(path), merge_mode="SAVE", if_empty="fail").execute(
            {"ti": FakeTaskInstance()}
        )


def test_a_json_file_over_the_size_cap_is_refused_before_it_is_read(hook, tmp_path, monkeypatch, mocker):
    import airflow_provider_metrika.operators.cdp as cdp_module

    monkeypatch.setattr(cdp_module, "MAX_JSON_SOURCE_BYTES", 100)
    reader = mocker.spy(cdp_module, "iter_json_rows")
    path = tmp_path / "orders.json"
    path.write_text(_body([ORDER]))
    with pytest.raises(MetrikaValidationError, match=r"orders\.json: 1\d\d bytes; a JSON source may be at most 100"):
        MetrikaUploadOrdersOperator(task_id="o", src=str(path), merge_mode="SAVE").execute({"ti": FakeTaskInstance()})
    reader.assert_not_called()


@pytest.mark.parametrize(
    ("rows", "fragment"),
    [
        ([ORDER, {**ORDER, "revenue": "abc"}], "<rows> row 2, column revenue: 'abc' is not a decimal number"),
        ([{**ORDER, "revenue": float("inf")}], "<rows> row 1, column revenue: inf is not a finite number"),
        ([ORDER, 42], "rows[1]: expected a dict, got int"),
        ([{**ORDER, "goals": [{"goal_action_id": "g", "price": "x"}]}], "<rows> row 1, column goals:"),
    ],
)
def test_bad_json_rows_name_the_parameter_and_row(hook, rows, fragment):
    with pytest.raises(MetrikaValidationError if "<rows>" in fragment else MetrikaConfigError) as raised:
        MetrikaUploadOrdersOperator(task_id="o", rows=rows, merge_mode="SAVE").execute({"ti": FakeTaskInstance()})
    assert fragment in str(raised.value), str(raised.value)
    assert "<class" not in str(raised.value)
    hook.upload_json.assert_not_called()


def test_attribute_values_nested_too_deep_are_refused(hook):
    deep: list = []
    for _ in range(50):  # (Airflow itself walks templated fields recursively when the operator is made)
        deep = [deep]
    contact = {"uniq_id": "c1", "attribute_values": deep}
    with pytest.raises(MetrikaValidationError, match=r"<rows> row 1, column attribute_values: nested more than 16"):
        MetrikaUploadContactsOperator(task_id="c", rows=[contact], merge_mode="SAVE").execute(
            {"ti": FakeTaskInstance()}
        )


def test_reader_keeps_only_one_element_in_its_buffer(monkeypatch):
    import io

    monkeypatch.setattr(json_source, "READ_CHARS", 64)
    body = _body([{**ORDER, "id": f"o{i}"} for i in range(200)]).encode()
    reader = json_source.JsonRowReader(io.BytesIO(body), "f.json", "orders")
    longest = 0
    ids = []
    for row in reader:
        ids.append(row["id"])
        longest = max(longest, len(reader._buffer))
    assert ids == [f"o{i}" for i in range(200)]
    assert longest < 600  # an element and a read or two, not the file (about 30 KB)
