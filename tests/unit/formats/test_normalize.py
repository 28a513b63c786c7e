from __future__ import annotations

import pytest

from airflow_provider_metrika.formats.normalize import (
    ContactValueError,
    hash_contact_fields,
    md5_hex,
    normalize_email,
    normalize_phone,
)


def test_doc_vectors():
    assert md5_hex("mail@yandex.ru") == "3c56ff8fef0f6c65b36b2d25720fe276"
    assert md5_hex("79995551111") == "f09f2c3d48f31e2a802944ade2e5aec5"


def test_normalize_email():
    assert normalize_email("  Mail@Yandex.RU ") == "mail@yandex.ru"
    with pytest.raises(ValueError, match="not an email"):
        normalize_email("mail.yandex.ru")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+7 (999) 555-11-11", "79995551111"),
        ("8 999 555 11 11", "79995551111"),
        ("9995551111", "79995551111"),
        ("79995551111", "79995551111"),
        (79995551111, "79995551111"),
        ("+1 212 555 0100", "12125550100"),
        ("+375 29 123-45-67", "375291234567"),
    ],
)
def test_normalize_phone(raw, expected):
    assert normalize_phone(raw) == expected


def test_normalize_phone_other_country_code():
    assert normalize_phone("2125550100", default_country_code="1") == "12125550100"
    assert normalize_phone("82125550100", default_country_code="1") == "82125550100"


@pytest.mark.parametrize("raw", ["12-34", "+7 999 abc 11 11", ""])
def test_normalize_phone_rejects(raw):
    with pytest.raises(ContactValueError, match="digits with country code"):
        normalize_phone(raw)


def test_hash_contact_fields_replaces_plain_values():
    row = {"uniq_id": "c1", "emails": ["Mail@Yandex.ru", "mail@yandex.ru "], "phones": "+7 (999) 555-11-11"}
    hashed = hash_contact_fields(row)
    assert hashed == {
        "uniq_id": "c1",
        "emails_md5": ["3c56ff8fef0f6c65b36b2d25720fe276"],
        "phones_md5": ["f09f2c3d48f31e2a802944ade2e5aec5"],
    }
    assert row["emails"] == ["Mail@Yandex.ru", "mail@yandex.ru "]  # input untouched


def test_hash_contact_fields_keep_plain_and_merge_existing_hashes():
    hashed = hash_contact_fields({"emails": None, "phones": [79995551111], "phones_md5": ["abc"]}, keep_plain=True)
    assert hashed["emails_md5"] == []
    assert hashed["phones_md5"] == ["abc", "f09f2c3d48f31e2a802944ade2e5aec5"]
    assert hashed["phones"] == [79995551111]


def test_hash_contact_fields_without_contacts_is_a_copy():
    row = {"uniq_id": "c1"}
    assert hash_contact_fields(row) == row
