from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from airflow_provider_metrika.exceptions import MetrikaConfigError
from airflow_provider_metrika.formats import ValidationOptions


def test_defaults():
    options = ValidationOptions()
    assert (options.max_problems, options.stale_rows, options.linkage_window_days) == (20, "warn", 21)
    assert options.delimiter == "," and options.delimiter_type == "COMMA"
    assert options.columns_mapping is None and options.merge_mode is None


@pytest.mark.parametrize(
    ("given", "char", "kind"), [(";", ";", "SEMICOLON"), ("SEMICOLON", ";", "SEMICOLON"), ("comma", ",", "COMMA")]
)
def test_delimiter_forms(given, char, kind):
    options = ValidationOptions(delimiter=given)
    assert (options.delimiter, options.delimiter_type) == (char, kind)


@pytest.mark.parametrize(
    "mapping",
    [
        {"uniq_id": "ID", "emails": "Email"},
        '{"uniq_id": "ID", "emails": "Email"}',
        '"uniq_id":"ID","emails":"Email"',
    ],
)
def test_columns_mapping_forms(mapping):
    assert ValidationOptions(columns_mapping=mapping).columns_mapping == {"uniq_id": "ID", "emails": "Email"}


def test_merge_mode_and_timezone_are_normalised():
    options = ValidationOptions(merge_mode="append", counter_timezone="Europe/Moscow")
    assert options.merge_mode == "APPEND"
    assert options.counter_timezone == ZoneInfo("Europe/Moscow")


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"max_problems": 0}, "max_problems"),
        ({"now": datetime(2024, 1, 1)}, "timezone-aware"),
        ({"now": 1732300000}, "timezone-aware"),
        ({"stale_rows": "ignore"}, "stale_rows='ignore'"),
        ({"linkage_window_days": -1}, "linkage_window_days"),
        ({"delimiter": "\t"}, "delimiter"),
        ({"columns_mapping": "{not json"}, "neither JSON"),
        ({"columns_mapping": {"uniq_id": ""}}, "must map"),
        ({"columns_mapping": ["uniq_id"]}, "must map"),
        ({"merge_mode": "REPLACE"}, "expected one of SAVE, UPDATE, APPEND"),
        ({"counter_timezone": "Mars/Olympus"}, "not a known time zone"),
    ],
)
def test_bad_options(kwargs, fragment):
    with pytest.raises(MetrikaConfigError, match=fragment):
        ValidationOptions(**kwargs)


def test_now_timestamp_uses_given_now():
    assert ValidationOptions(now=datetime.fromtimestamp(1000, UTC)).now_timestamp() == 1000
