"""Writers: value conversion, header rule, errors naming row and column, self-validation, JSON bodies."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pandas as pd
import pendulum
import pytest

from airflow_provider_metrika.exceptions import MetrikaConfigError, MetrikaValidationError
from airflow_provider_metrika.formats import ValidationOptions, get_file_format
from airflow_provider_metrika.formats.writer import is_missing, to_decimal_text, to_int_text, to_unix_seconds
from tests.unit.formats.conftest import NOW

OPTIONS = ValidationOptions(now=NOW)
MSK = timezone(timedelta(hours=3))
T = 1732300000


def written(kind: str, rows, options: ValidationOptions = OPTIONS) -> str:
    out = io.BytesIO()
    count = get_file_format(kind).write_csv(rows, out, options)
    text = out.getvalue().decode()
    assert count == len(text.splitlines()) - 1 or count == 0
    return text


def write_error(kind: str, rows, options: ValidationOptions = OPTIONS) -> str:
    with pytest.raises(MetrikaValidationError) as caught:
        get_file_format(kind).write_csv(rows, io.BytesIO(), options)
    return str(caught.value)


@pytest.mark.parametrize(
    "value",
    [
        T,
        float(T) + 0.9,
        Decimal(T),
        str(T),
        datetime.fromtimestamp(T, UTC),
        datetime.fromtimestamp(T, MSK),
        pendulum.from_timestamp(T, tz="Asia/Vladivostok"),
        pd.Timestamp(T, unit="s", tz="Europe/Moscow"),
        datetime.fromtimestamp(T, MSK).isoformat(),
        "2024-11-22T18:26:40Z",
    ],
)
def test_to_unix_seconds_accepts_absolute_times(value):
    assert to_unix_seconds(value) == str(T)


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        (datetime(2024, 11, 22, 10), "naive datetime 2024-11-22T10:00:00: ambiguous timezone"),
        ("2024-11-22T10:00:00", "ambiguous timezone"),
        (date(2024, 11, 22), "has no time of day"),
        ("yesterday", "neither unix seconds nor an ISO date-time"),
        (True, "is not a time"),
        (float("nan"), "is not a time"),
        ([T], "is not a time"),
    ],
)
def test_to_unix_seconds_refuses_ambiguous_or_bad_values(value, fragment):
    with pytest.raises(ValueError, match=fragment):
        to_unix_seconds(value)


@pytest.mark.parametrize(
    ("value", "text"),
    [(Decimal("1500.50"), "1500.5"), (1500.0, "1500"), (0.1, "0.1"), (1e-7, "0.0000001"), (15, "15"), ("2", "2")],
)
def test_to_decimal_text(value, text):
    assert to_decimal_text(value) == text


@pytest.mark.parametrize("value", [True, float("inf"), Decimal("NaN")])
def test_to_decimal_text_refuses(value):
    with pytest.raises(ValueError):
        to_decimal_text(value)


def test_small_converters():
    assert to_int_text(True) == "1" and to_int_text(5.0) == "5" and to_int_text(" 7 ") == "7"
    assert is_missing(None) and is_missing(float("nan")) and is_missing(pd.NaT) and not is_missing(0)


def test_offline_conversions_writer_uses_metrika_headers_in_fixed_order():
    text = written(
        "offline_conversions",
        [
            {
                "price": Decimal("1500.50"),
                "date_time": datetime.fromtimestamp(T, MSK),
                "target": "paid",
                "client_id": 1728193,
                "currency": "rub",
            },
            {"price": None, "date_time": T, "target": "paid", "client_id": "17"},
        ],
    )
    assert text == f"ClientId,Target,DateTime,Price,Currency\n1728193,paid,{T},1500.5,RUB\n17,paid,{T},,\n"


def test_writer_errors_name_row_and_column():
    rows = [
        {"ClientId": 1, "Target": "t", "DateTime": T},
        {"ClientId": 2, "Target": "t", "DateTime": datetime(2024, 1, 1)},
    ]
    assert "<rows> row 3, column DateTime: naive datetime" in write_error("offline_conversions", rows)


def test_writer_refuses_unknown_and_late_columns_and_duplicates():
    assert "column Foo: unknown column" in write_error("offline_conversions", [{"Foo": 1}])
    late = [{"ClientId": 1, "Target": "t", "DateTime": T}, {"ClientId": 1, "Target": "t", "DateTime": T, "Price": 1}]
    assert "row 3, column Price: column not present in the first row" in write_error("offline_conversions", late)
    twice = [{"ClientId": 1, "client_id": 2, "Target": "t", "DateTime": T}]
    assert "given twice" in write_error("offline_conversions", twice)
    assert "a row must be a mapping" in write_error("offline_conversions", [["ClientId", 1]])


def test_writer_validates_what_it_writes():
    message = write_error("offline_conversions", [{"ClientId": 1, "Target": "t", "DateTime": 1899999999}])
    assert "row 2, column DateTime: 1899999999 is in the future" in message
    assert "required column Target is missing" in write_error("offline_conversions", [{"ClientId": 1, "DateTime": T}])


def test_writer_drops_stale_rows_under_drop_policy():
    options = ValidationOptions(now=NOW, stale_rows="drop")
    rows = [{"ClientId": 1, "Target": "t", "DateTime": T}, {"ClientId": 2, "Target": "t", "DateTime": 1700000000}]
    assert written("offline_conversions", rows, options) == f"ClientId,Target,DateTime\n1,t,{T}\n"


def test_writer_with_no_rows_writes_nothing():
    assert written("offline_conversions", []) == ""


def test_writer_accepts_a_dataframe_in_chunks(monkeypatch):
    from airflow_provider_metrika.formats import writer

    monkeypatch.setattr(writer, "DATAFRAME_CHUNK_ROWS", 2)
    frame = pd.DataFrame(
        {
            "ClientId": [1, 2, 3],
            "Target": ["a", "b", "c"],
            "DateTime": pd.to_datetime([T, T, T], unit="s", utc=True),
            "Price": [1.5, float("nan"), 2.0],
        }
    )
    assert written("offline_conversions", frame).splitlines() == [
        "ClientId,Target,DateTime,Price",
        f"1,a,{T},1.5",
        f"2,b,{T},",
        f"3,c,{T},2",
    ]


def test_writer_flushes_large_outputs_in_pieces():
    rows = [{"ClientId": i, "Target": "t" * 50, "DateTime": T} for i in range(1, 3000)]
    assert len(written("offline_conversions", rows).splitlines()) == 3000


def test_calls_writer_converts_flags_and_durations():
    text = written(
        "calls",
        [{"client_id": 1, "date_time": T, "static_call": True, "talk_duration": 65.0, "phone_number": "+70123456789"}],
    )
    assert text == f"ClientId,DateTime,StaticCall,PhoneNumber,TalkDuration\n1,{T},1,+70123456789,65\n"
    assert "unknown column" in write_error("calls", [{"target": "t", "client_id": 1, "date_time": T}])


def test_user_params_writer_puts_the_id_first():
    text = written("user_params", [{"age": 30, "user_id": "u1", "city": "Москва"}])
    assert text == "UserId,age,city\nu1,30,Москва\n"
    assert "column ClientId: a row needs ClientId or UserId" in write_error("user_params", [{"age": 30}])


def test_contacts_csv_writer_normalises_and_formats():
    options = ValidationOptions(now=NOW, delimiter="semicolon", columns_mapping={"uniq_id": "ID"})
    text = written(
        "contacts",
        [
            {
                "uniq_id": "c1",
                "emails": ["Mail@Yandex.ru", " b@x.ru", "mail@yandex.ru"],
                "phones": "+7 (999) 555-11-11",
                "birth_date": date(1990, 1, 2),
                "create_date_time": datetime(2024, 11, 22, 10, 0),
                "client_ids": [123, 456],
                "loyalty_level": "gold",
            }
        ],
        options,
    )
    assert text == (
        "uniq_id;create_date_time;birth_date;client_ids;emails;phones;loyalty_level\n"
        "c1;2024-11-22 10:00:00;1990-01-02;123,456;mail@yandex.ru,b@x.ru;79995551111;gold\n"
    )


def test_contacts_writer_reports_unnormalisable_values():
    assert "row 2, column phones" in write_error("contacts", [{"uniq_id": "c1", "phones": "12"}])


def test_aware_cdp_times_need_the_counter_timezone():
    row = {"uniq_id": "c1", "create_date_time": datetime(2024, 11, 22, 7, tzinfo=UTC)}
    assert "set counter_timezone" in write_error("contacts", [row])
    options = ValidationOptions(now=NOW, counter_timezone="Europe/Moscow")
    assert "c1,2024-11-22 10:00:00" in written("contacts", [row], options)
    assert "is not a date or datetime" in write_error("contacts", [{"uniq_id": "c1", "create_date_time": 5}])


ORDER = {
    "id": "o1",
    "client_uniq_id": "c1",
    "client_type": "CONTACT",
    "create_date_time": "2024-11-22 10:00:00",
    "order_status": "PAID",
    "revenue": Decimal("1500.50"),
    "cost": 1000,
    "goals": [{"goal_action_id": "g1", "price": 100}, "g2", ("g3", 2.5)],
    "products": {"Shoes": 1, "Hat": 2},
}


def test_orders_csv_writer_builds_goal_and_product_cells():
    assert written("orders", [ORDER]) == (
        "id,client_uniq_id,client_type,create_date_time,order_status,revenue,cost,goals,products\n"
        'o1,c1,CONTACT,2024-11-22 10:00:00,PAID,1500.5,1000,"g1:100,g2,g3:2.5","Shoes:1,Hat:2"\n'
    )
    assert "products must be a" in write_error("orders", [{**ORDER, "products": 5}])


def test_orders_json_body():
    body = get_file_format("orders").to_json_body([ORDER], OPTIONS)
    assert body == {
        "orders": [
            {
                **ORDER,
                "revenue": 1500.5,
                "goals": [
                    {"goal_action_id": "g1", "price": 100},
                    {"goal_action_id": "g2"},
                    {"goal_action_id": "g3", "price": 2.5},
                ],
                "products": {"Shoes": 1, "Hat": 2},
            }
        ]
    }


def test_goal_cells_parse_into_json_goals():
    body = get_file_format("orders").to_json_body([{**ORDER, "goals": "g1:10,g2"}], OPTIONS)
    assert body["orders"][0]["goals"] == [{"goal_action_id": "g1", "price": 10}, {"goal_action_id": "g2"}]


def test_contacts_json_body_and_errors():
    rows = [
        {
            "uniq_id": "c1",
            "client_ids": ["123"],
            "emails": "A@B.ru",
            "attribute_values": {"level": "gold"},
            "name": None,
        }
    ]
    assert get_file_format("contacts").to_json_body(rows, OPTIONS) == {
        "contacts": [
            {"uniq_id": "c1", "client_ids": [123], "emails": ["a@b.ru"], "attribute_values": {"level": "gold"}}
        ]
    }
    with pytest.raises(MetrikaValidationError, match="row 1, column loyalty: unknown field"):
        get_file_format("contacts").to_json_body([{"uniq_id": "c1", "loyalty": 1}], OPTIONS)
    with pytest.raises(MetrikaValidationError, match="uniq_id: is missing or empty"):
        get_file_format("contacts").to_json_body([{"name": "x"}], OPTIONS)


def test_json_body_only_for_contacts_and_orders():
    with pytest.raises(MetrikaConfigError, match="no JSON upload"):
        get_file_format("simple_orders").to_json_body([], OPTIONS)


def test_simple_orders_writer_and_missing_id_warning():
    text = written(
        "simple_orders",
        [
            {
                "id": "o1",
                "create_date_time": date(2024, 11, 22),
                "emails": "a@b.ru",
                "goals": "g1:10,g2",
                "revenue": 10.25,
            }
        ],
    )
    assert text == 'id,create_date_time,emails,revenue,goals\no1,2024-11-22,a@b.ru,10.25,"g1:10,g2"\n'
    report = get_file_format("simple_orders").validate_rows(
        [{"id": "", "create_date_time": "2024-11-22", "emails": "a@b.ru"}], OPTIONS
    )
    assert report.ok and any("empty id" in w for w in report.warnings)
    # A row without an id key is written with an empty id cell: the column is required, the value is not.
    report = get_file_format("simple_orders").validate_rows(
        [{"create_date_time": "2024-11-22", "emails": "a@b.ru"}], OPTIONS
    )
    assert report.ok and report.header[0] == "id" and any("empty id" in w for w in report.warnings)


def test_validate_rows_reports_instead_of_raising():
    report = get_file_format("offline_conversions").validate_rows(
        [
            {"ClientId": 1, "Target": "t", "DateTime": datetime(2024, 1, 1)},
            5,
            {"ClientId": 1, "Target": "t", "DateTime": 1899999999},
        ],
        OPTIONS,
    )
    assert [(p.row, p.column) for p in report.problems] == [(2, "DateTime"), (3, None), (4, "DateTime")]
    assert report.rows == 3 and report.valid_rows == 0


def test_json_validate_rows_checks_types():
    report = get_file_format("contacts").validate_rows(
        [
            {"uniq_id": "c1", "emails": "a@b.ru", "phones": [1], "foo": 1},
            3,
            {"uniq_id": "c2", "client_ids": [True], "create_date_time": 5, "birth_date": "1960-01-01"},
            {"uniq_id": ["c3"]},
        ],
        OPTIONS,
    )
    assert [(p.row, p.column) for p in report.problems] == [
        (1, "emails"),
        (1, "phones"),
        (1, "foo"),
        (2, None),
        (3, "client_ids"),
        (3, "create_date_time"),
        (3, "birth_date"),
        (4, "uniq_id"),
    ]
    assert "no contacts" in get_file_format("contacts").validate_rows([], OPTIONS).problems[0].message


JSON_ORDER = {**ORDER, "revenue": 1.5, "goals": [{"goal_action_id": "g1", "price": 1}]}


def test_json_validate_rows_checks_goals_and_products():
    orders = get_file_format("orders")
    bad = [
        ({"goals": "g1"}, "must be a list"),
        ({"goals": [{"goal_action_id": "g1"}] * 101}, "at most 100"),
        ({"goals": [{"price": 1}]}, "string goal_action_id"),
        ({"goals": [{"goal_action_id": ""}]}, "goal_action_id is empty"),
        ({"goals": [{"goal_action_id": "g1", "price": -1}]}, "must not be negative"),
        ({"goals": [{"goal_action_id": "g1", "price": "x"}]}, "not a decimal"),
        ({"products": ["Shoes"]}, "must be an object"),
        ({"products": {"": 1}}, "non-empty strings"),
        ({"products": {"Shoes": None}}, "must be a number"),
        ({"revenue": True}, "must be a number"),
        ({"revenue": float("inf")}, "finite"),
        ({"order_status": {"a": 1}}, "must be a string or number"),
    ]
    for change, fragment in bad:
        report = orders.validate_rows([{**JSON_ORDER, **change}], OPTIONS)
        assert fragment in report.problems[0].message, (change, report.problems)
    assert orders.validate_rows([{**JSON_ORDER, "goals": [], "products": {}}], OPTIONS).ok


RECENT_SECONDS = int(NOW.timestamp()) - 3600


@pytest.mark.parametrize(
    ("row", "fragment"),
    [
        ({"ClientId": 2**64, "Target": "t"}, "<rows> row 2, column ClientId: '18446744073709551616' is not a ClientID"),
        ({"ClientId": -1, "Target": "t"}, "<rows> row 2, column ClientId: '-1' must be digits only"),
        ({"ClientId": 1, "Target": "pa\x00id"}, "<rows> row 2, column Target: holds the control character '\\x00'"),
        ({"UserId": "u\x1b1", "Target": "t"}, "<rows> row 2, column UserId: holds the control character '\\x1b'"),
    ],
)
def test_rows_metrika_cannot_take_are_refused(row, fragment):
    with pytest.raises(MetrikaValidationError) as raised:
        written("offline_conversions", [{**row, "DateTime": RECENT_SECONDS}])
    assert fragment in str(raised.value)


@pytest.mark.parametrize(
    ("contact", "fragment"),
    [
        ({"uniq_id": "c\x001"}, "<rows> row 1, column uniq_id: holds the control character '\\x00'"),
        ({"uniq_id": "c1", "client_ids": [2**64]}, "<rows> row 1, column client_ids: '18446744073709551616' is not"),
        ({"uniq_id": "c1", "name": "A\x07"}, "<rows> row 1, column name: holds the control character '\\x07'"),
    ],
)
def test_json_rows_metrika_cannot_take_are_refused(contact, fragment):
    with pytest.raises(MetrikaValidationError) as raised:
        get_file_format("contacts").to_json_body([contact], OPTIONS)
    assert fragment in str(raised.value)


def test_user_params_client_id_must_fit_uint64():
    report = get_file_format("user_params").validate(io.BytesIO(b"ClientId,level\n18446744073709551616,gold\n"))
    assert [(p.row, p.column) for p in report.problems] == [(2, "ClientId")]
