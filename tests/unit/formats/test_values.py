"""Cell rules: each check returns None for a good value and a message naming the defect otherwise."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from airflow_provider_metrika.formats import values as v


@pytest.mark.parametrize(
    ("check", "good", "bad", "fragment"),
    [
        (v.check_digits, "123", "12a", "digits only"),
        (v.check_digits, "0", "²", "digits only"),
        (v.check_unix_seconds, "1732300000", "1.5", "integer unix seconds"),
        (v.check_decimal, "1500.50", "1500,50", "use '.'"),
        (v.check_decimal, "10", "-10", "must not be negative"),
        (v.check_decimal, "0.5", "1e5", "not a decimal number"),
        (v.check_decimal, "7", ".5", "not a decimal number"),
        (v.check_currency, "RUB", "rub", "ISO 4217"),
        (v.check_flag, "1", "2", "0 or 1"),
        (v.check_non_negative_int, "0", "-1", "non-negative integer"),
        (v.check_call_phone, "+70123456789", "8 999", "+digits"),
        (v.check_email, "mail@yandex.ru", "mail@yandex", "not an email"),
        (v.check_email, "First.Last+tag@sub.example.com", "почта@yandex.ru", "not an email"),
        (v.check_phone, "79995551111", "+79995551111", "digits with country code"),
        (v.check_phone, "1234567", "123456", "digits with country code"),
        (v.check_md5, "3c56ff8fef0f6c65b36b2d25720fe276", "3C56FF8FEF0F6C65B36B2D25720FE276", "hex MD5"),
        (v.check_attribute_id, "PAID", "paid now", "may hold only"),
        (v.make_max_length_check(3), "abc", "abcd", "limit is 3"),
        (v.make_equals_check("CONTACT"), "CONTACT", "contact", "must be CONTACT"),
        (v.make_max_decimal_check(100), "100", "100.5", "exceeds the maximum 100"),
        (v.make_max_decimal_check(100), "99", "x", "not a decimal"),
        (v.check_cdp_date, "01.02.1990", "1990-13-01", "is not a date"),
        (v.check_cdp_date, "01.02.90", "31.12.1969", "before 1970"),
        (v.check_cdp_datetime, "22.11.24 10:00", "2024-11-22T10:00:00", "is not a date-time"),
        (v.check_cdp_datetime, "2024-11-22", "2024-11-22 25:00", "is not a date-time"),
        (v.check_json_datetime, "2024-11-22 10:00:00", "22.11.2024 10:00", "JSON date-time"),
        (v.check_json_date, "2024-11-22", "22.11.2024", "JSON date"),
        (v.make_multi_check(v.check_digits, 2), "1,2", "1,2,3", "at most 2"),
        (v.make_multi_check(v.check_digits, 5), "1, 2", "1,,2", "empty value"),
        (v.make_multi_check(v.check_digits, 5), "1", "1,1", "duplicate"),
        (v.make_multi_check(v.check_digits, 5), "1", "1,x", "digits only"),
        (v.check_goals_cell, "g1:10.5,g2", "g1:abc", "not a decimal"),
        (v.check_goals_cell, "goal-1", ":10", "needs a name"),
        (v.check_goals_cell, "a:b:1", "bad goal", "may hold only"),
        (v.check_products_cell, "Shoes:1,Hat:2", "Shoes", "needs ':quantity'"),
        (v.check_products_cell, "Shoes:1", "Shoes:-1", "must not be negative"),
    ],
)
def test_check(check, good, bad, fragment):
    assert check(good) is None
    message = check(bad)
    assert message is not None and fragment in message


def test_event_time_check():
    check = v.make_event_time_check(1000, window_start=500)
    assert check("1000") is None and check("500") is None
    assert check("499") is v.STALE
    assert check("1001") == "1001 is in the future (now 1000)"
    assert "integer unix seconds" in check("-5")
    assert v.make_event_time_check(1000)("0") is None
    assert v.is_ascii_digits("12") and not v.is_ascii_digits("١٢")


def test_currency_list_is_current():
    assert {"RUB", "USD", "EUR", "KZT", "BYN", "CNY"} <= v.ISO_4217_CODES
    assert not {"RUR", "HRK", "CUC"} & v.ISO_4217_CODES
    assert all(len(code) == 3 and code.isupper() for code in v.ISO_4217_CODES)


def test_format_cdp_time():
    assert v.format_cdp_time(datetime(2024, 11, 22, 10, 5, 7)) == "2024-11-22 10:05:07"
    assert v.format_cdp_time(date(2024, 11, 22)) == "2024-11-22"


def test_split_multi_strips_items():
    assert v.split_multi(" a , b") == ["a", "b"]
