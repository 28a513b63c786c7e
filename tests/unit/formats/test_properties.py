"""Property tests: no input makes a validator or writer fail with anything but MetrikaValidationError,
and whatever a writer emits passes its own validator."""

from __future__ import annotations

import contextlib
import io
import string
from datetime import UTC, date, datetime, timedelta, timezone

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_provider_metrika.exceptions import MetrikaValidationError
from airflow_provider_metrika.formats import FILE_FORMATS, ValidationOptions, get_file_format
from airflow_provider_metrika.formats.values import ISO_4217_CODES
from tests.unit.formats.conftest import NOW, NOW_TS

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
OPTIONS = ValidationOptions(now=NOW)
NAMES = sorted(FILE_FORMATS)

# Text Metrika takes: no lone surrogates, no control characters but tab, LF and CR (the rest are refused).
TEXT_CHARACTERS = st.characters(blacklist_categories=("Cs", "Cc")) | st.sampled_from("\t\n\r")
safe_text = st.text(TEXT_CHARACTERS, max_size=30)
nonblank = safe_text.filter(lambda s: s.strip())
zones = st.sampled_from([UTC, timezone(timedelta(hours=3)), timezone(timedelta(hours=-7, minutes=-30))])
naive_times = st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2100, 1, 1))
any_value = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.decimals(),
    st.text(max_size=20),
    naive_times,
    st.datetimes(timezones=zones),
    st.dates(),
    st.lists(st.one_of(st.integers(), st.text(max_size=5)), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)


def keys_of(name: str) -> list[str]:
    fmt = get_file_format(name)
    keys = [
        *getattr(fmt, "fields", {}),
        "ClientId",
        "client_id",
        "UserId",
        "Target",
        "DateTime",
        "date_time",
        "Price",
        "Currency",
        "StaticCall",
        "PhoneNumber",
        "emails",
        "phones",
        "uniq_id",
        "x",
    ]
    return keys


@SETTINGS
@given(name=st.sampled_from(NAMES), data=st.binary(max_size=400), chunk=st.integers(1, 64))
def test_random_bytes_give_a_report_or_a_validation_error(name, data, chunk):
    fmt = get_file_format(name)
    report = fmt.validate(io.BytesIO(data), file_name="f.csv", options=OPTIONS)
    assert report.total_problems >= len(report.problems)
    checker = fmt.stream_checker("f.csv", OPTIONS)
    try:
        for start in range(0, len(data), chunk):
            checker.feed(data[start : start + chunk])
        chunked = checker.finish()
        # a decoding problem is found when its chunk is decoded, so only the order may differ
        assert sorted(map(str, chunked.problems)) == sorted(map(str, report.problems))
        assert (chunked.rows, chunked.valid_rows, chunked.total_problems) == (
            report.rows,
            report.valid_rows,
            report.total_problems,
        )
    except MetrikaValidationError:
        pass


csvish = st.lists(
    st.lists(
        st.sampled_from(["1", "", "t", str(NOW_TS - 10), "1899999999", '"', "a,b", "RUB", "-1", "\r", "\n"]), max_size=6
    ),
    max_size=6,
)


@SETTINGS
@given(
    name=st.sampled_from(NAMES),
    header=st.sampled_from(
        [
            "ClientId,Target,DateTime,Price,Currency",
            "ClientId,DateTime,StaticCall",
            "UserId,a",
            "uniq_id,emails,phones,birth_date",
            "id,client_uniq_id,client_type,create_date_time,order_status",
            "id,create_date_time,client_ids,goals",
        ]
    ),
    body=csvish,
)
def test_csv_like_noise_gives_a_report(name, header, body):
    text = header + "\n" + "\n".join(",".join(cells) for cells in body)
    report = get_file_format(name).validate(io.BytesIO(text.encode()), options=OPTIONS)
    assert report.rows <= len(body) + text.count("\n")


@SETTINGS
@given(data=st.data(), name=st.sampled_from(NAMES))
def test_random_rows_give_a_report_or_a_validation_error(data, name):
    fmt = get_file_format(name)
    rows = data.draw(st.lists(st.dictionaries(st.sampled_from(keys_of(name)), any_value, max_size=6), max_size=4))
    fmt.validate_rows(rows, OPTIONS)
    with contextlib.suppress(MetrikaValidationError):
        fmt.write_csv(rows, io.BytesIO(), OPTIONS)
    if fmt.json_root:
        with contextlib.suppress(MetrikaValidationError):
            fmt.to_json_body(rows, OPTIONS)


# -- valid rows per format: the writer's output must validate -----------------------------------
recent = st.integers(NOW_TS - 20 * 86400, NOW_TS)
event_time = st.one_of(
    recent,
    recent.map(float),
    st.tuples(recent, zones).map(lambda t: datetime.fromtimestamp(t[0], t[1])),
    st.tuples(recent, zones).map(lambda t: datetime.fromtimestamp(t[0], t[1]).isoformat()),
)
price = st.one_of(
    st.decimals(min_value=0, max_value=10**9, places=2),
    st.floats(min_value=0, max_value=1e9),
    st.integers(0, 10**9),
)
currency = st.sampled_from(sorted(ISO_4217_CODES)).map(lambda c: c.lower() if c < "M" else c)
# goal/status ids; ':' is allowed in ids but a cell "a:b" reads as goal a with price b, so keep ids plain
ident = st.text(string.ascii_letters + string.digits + "_-", min_size=1, max_size=10)
email = st.tuples(
    st.text(string.ascii_letters + string.digits + "._", min_size=1, max_size=8),
    st.text(string.ascii_lowercase, min_size=1, max_size=8),
    st.text(string.ascii_letters, min_size=2, max_size=4),
).map(lambda t: f"{t[0]}@{t[1]}.{t[2]}")
phone = st.text(string.digits, min_size=10, max_size=10).map(lambda d: f"+7 ({d[:3]}) {d[3:6]}-{d[6:8]}-{d[8:]}")
cdp_time = st.one_of(naive_times, st.dates(min_value=date(1971, 1, 1), max_value=date(2100, 1, 1)))

VALID_ROWS = {
    "offline_conversions": st.fixed_dictionaries(
        {"client_id": st.integers(1, 10**19), "target": nonblank, "date_time": event_time},
        optional={"price": price, "currency": currency, "user_id": safe_text, "yclid": st.integers(0, 10**19)},
    ),
    "calls": st.fixed_dictionaries(
        {"UserId": nonblank, "DateTime": event_time},
        optional={
            "StaticCall": st.booleans(),
            "TalkDuration": st.integers(0, 10**6),
            "PhoneNumber": st.text(string.digits, min_size=1, max_size=12).map(lambda d: "+" + d),
            "Tag": safe_text,
            "CallMissed": st.sampled_from([0, 1]),
        },
    ),
    "chats": st.fixed_dictionaries(
        {"purchase_id": nonblank, "date_time": event_time},
        optional={"client_id": st.integers(1, 10**19), "Messenger": safe_text, "Tag": safe_text},
    ),
    "expenses": st.fixed_dictionaries(
        {
            "date": st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 1, 1)),
            "utm_source": nonblank,
            "expenses": price,
        },
        optional={"utm_campaign": safe_text, "currency": currency, "clicks": st.integers(0, 10**9)},
    ),
    "expense_removals": st.fixed_dictionaries(
        {"date": st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 1, 1))}, optional={"utm_source": nonblank}
    ),
    "user_params": st.fixed_dictionaries(
        {"client_id": st.integers(1, 10**19), "level": safe_text, "age": st.integers()}
    ),
    "contacts": st.fixed_dictionaries(
        {"uniq_id": nonblank},
        optional={
            "name": safe_text,
            "emails": st.lists(email, max_size=4),
            "phones": st.lists(phone, max_size=3),
            "client_ids": st.lists(st.integers(1, 2**63 - 1), max_size=3),
            "birth_date": st.dates(min_value=date(1971, 1, 1), max_value=date(2030, 1, 1)),
            "create_date_time": naive_times,
            "user_comment": st.text(TEXT_CHARACTERS, max_size=50),
        },
    ),
    "orders": st.fixed_dictionaries(
        {
            "id": nonblank,
            "client_uniq_id": nonblank,
            "client_type": st.just("CONTACT"),
            "create_date_time": cdp_time,
            "order_status": ident,
        },
        optional={
            "revenue": price,
            "cost": price,
            "currency": st.sampled_from(sorted(ISO_4217_CODES)),
            "goals": st.lists(st.fixed_dictionaries({"goal_action_id": ident}, optional={"price": price}), max_size=3),
            "products": st.dictionaries(nonblank.filter(lambda s: "," not in s), st.integers(1, 100), max_size=3),
        },
    ),
    "simple_orders": st.fixed_dictionaries(
        {"id": nonblank, "create_date_time": cdp_time, "emails": st.lists(email, min_size=1, max_size=3)},
        optional={"revenue": price, "goals": st.lists(ident, max_size=3).map(",".join), "client_uniq_id": safe_text},
    ),
}


@SETTINGS
@given(data=st.data(), name=st.sampled_from(NAMES), semicolon=st.booleans())
def test_writer_output_passes_its_validator(data, name, semicolon):
    rows = data.draw(st.lists(VALID_ROWS[name], min_size=1, max_size=5))
    keys = set(rows[0])
    rows = [{k: v for k, v in row.items() if k in keys} for row in rows]  # the header is fixed by the first row
    options = ValidationOptions(now=NOW, delimiter=";" if semicolon else ",")
    fmt = get_file_format(name)
    out = io.BytesIO()
    written = fmt.write_csv(rows, out, options)
    report = fmt.validate(io.BytesIO(out.getvalue()), options=options)
    assert report.ok, report.summary()
    assert written == report.rows == len(rows)
    if fmt.json_root:
        body = fmt.to_json_body(rows, options)
        assert len(body[fmt.json_root]) == len(rows)
        assert fmt.validate_rows(body[fmt.json_root], options).ok
