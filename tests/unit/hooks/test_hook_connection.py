"""Connection parsing: every branch of settings_from_connection, load_settings and resolve_counter_id."""

from __future__ import annotations

import json
import logging
from types import SimpleNamespace

import pytest

from airflow_provider_metrika.exceptions import MetrikaConfigError
from airflow_provider_metrika.hooks.connection import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_READ_TIMEOUT,
    aload_settings,
    base_url_from_host,
    load_settings,
    parse_timeout,
    require_int,
    resolve_counter_id,
    settings_from_connection,
)
from airflow_provider_metrika.hooks.retry import DEFAULT_MAX_RETRIES
from airflow_provider_metrika.version_compat import AirflowNotFoundException
from tests.unit.hooks.conftest import TOKEN, set_connection


def conn(host="https://api-metrika.yandex.net", password=TOKEN, extra=None, port=None):
    return SimpleNamespace(host=host, password=password, extra=extra, port=port)


def test_defaults_when_extra_is_empty():
    settings = settings_from_connection(conn(host=None, extra=None), "m")
    assert settings.base_url == "https://api-metrika.yandex.net"
    assert settings.token == TOKEN
    assert settings.counter_id is None
    assert settings.timeout == DEFAULT_READ_TIMEOUT
    assert settings.max_retries == DEFAULT_MAX_RETRIES
    assert DEFAULT_CONNECT_TIMEOUT == 10.0


@pytest.mark.parametrize(
    "extra",
    [
        {"counter_id": "123", "timeout": "45", "max_retries": "2"},
        {"counter_id": 123, "timeout": 45, "max_retries": 2},
        json.dumps({"counter_id": 123, "timeout": 45.0, "max_retries": 2}),
        {
            "extra__yandex_metrika__counter_id": "123",
            "extra__yandex_metrika__timeout": "45",
            "extra__yandex_metrika__max_retries": "2",
        },
        {"counter_id": "", "extra__yandex_metrika__counter_id": "123", "timeout": 45, "max_retries": 2},
    ],
    ids=["strings", "ints", "json-string", "airflow2-prefixed", "blank-falls-back-to-prefixed"],
)
def test_extra_forms(extra):
    settings = settings_from_connection(conn(extra=extra), "m")
    assert (settings.counter_id, settings.timeout, settings.max_retries) == (123, 45.0, 2)


@pytest.mark.parametrize(
    ("host", "port", "expected"),
    [
        (None, None, "https://api-metrika.yandex.net"),
        ("", None, "https://api-metrika.yandex.net"),
        ("api-metrika.yandex.net", None, "https://api-metrika.yandex.net"),
        ("https://api-metrika.yandex.net/", None, "https://api-metrika.yandex.net"),
        ("http://127.0.0.1:8080", None, "http://127.0.0.1:8080"),
        ("127.0.0.1", 8080, "https://127.0.0.1:8080"),
        ("http://localhost:9000/prefix/", None, "http://localhost:9000/prefix"),
    ],
)
def test_base_url(host, port, expected):
    assert base_url_from_host(host, port) == expected


@pytest.mark.parametrize("host", ["ftp://example.com", "https://", "https://user:pw@example.com", "https://h?x=1"])
def test_bad_host(host):
    with pytest.raises(MetrikaConfigError, match="connection host"):
        base_url_from_host(host)


def test_plain_http_to_remote_host_warns(caplog):
    with caplog.at_level(logging.WARNING):
        assert base_url_from_host("http://metrika.example.com") == "http://metrika.example.com"
    assert "unencrypted" in caplog.text


@pytest.mark.parametrize("password", [None, "", "   "])
def test_missing_token(password):
    with pytest.raises(MetrikaConfigError, match="no OAuth token"):
        settings_from_connection(conn(password=password), "m")


def test_token_with_inner_whitespace_rejected_without_echo():
    bad = "y0_secret part\nsecond"
    with pytest.raises(MetrikaConfigError, match="whitespace") as info:
        settings_from_connection(conn(password=bad), "m")
    assert "secret" not in str(info.value)


def test_token_is_stripped_and_hidden_from_repr():
    settings = settings_from_connection(conn(password=f"  {TOKEN}\n"), "m")
    assert settings.token == TOKEN
    assert TOKEN not in repr(settings)


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        ({"counter_id": "abc"}, "counter_id"),
        ({"counter_id": 0}, "counter_id"),
        ({"counter_id": True}, "counter_id"),
        ({"timeout": "-1"}, "timeout"),
        ({"timeout": "nan"}, "timeout"),
        ({"timeout": [1]}, "timeout"),
        ({"max_retries": 21}, "max_retries"),
        ({"max_retries": "1.5"}, "max_retries"),
        ("{not json", "not valid JSON"),
        ("[1, 2]", "JSON object"),
    ],
)
def test_bad_extra(extra, match):
    with pytest.raises(MetrikaConfigError, match=match):
        settings_from_connection(conn(extra=extra), "m")


def test_require_int_accepts_integral_float_and_bounds():
    assert require_int(3.0, "limit", minimum=1) == 3
    with pytest.raises(MetrikaConfigError, match="limit must be an integer between 1 and 10"):
        require_int(11, "limit", minimum=1, maximum=10)
    with pytest.raises(MetrikaConfigError, match="limit must be a number"):
        require_int(2.5, "limit", minimum=1)
    assert parse_timeout(" 2.5 ", "timeout") == 2.5


class TestResolveCounterId:
    settings = settings_from_connection(conn(extra={"counter_id": 7}), "m")
    no_default = settings_from_connection(conn(), "m")

    @pytest.mark.parametrize(("value", "expected"), [(None, 7), ("", 7), (" ", 7), (15, 15), (" 16 ", 16)])
    def test_explicit_or_default(self, value, expected):
        assert resolve_counter_id(value, self.settings) == expected

    @pytest.mark.parametrize("value", ["12a", -3, 0, "0", 1.5, False])
    def test_invalid_value_names_counter_id(self, value):
        with pytest.raises(MetrikaConfigError, match="counter_id"):
            resolve_counter_id(value, self.settings)

    def test_no_counter_anywhere(self):
        with pytest.raises(MetrikaConfigError, match=r"no counter id.*'m'"):
            resolve_counter_id(None, self.no_default)


def test_load_settings_from_environment(monkeypatch):
    set_connection(monkeypatch, "metrika_env", host="api-metrika.yandex.net", extra={"counter_id": "99"})
    settings = load_settings("metrika_env")
    assert (settings.conn_id, settings.base_url, settings.token, settings.counter_id) == (
        "metrika_env",
        "https://api-metrika.yandex.net",
        TOKEN,
        99,
    )


def test_load_settings_with_extra_as_json_string(monkeypatch):
    set_connection(monkeypatch, "metrika_str", extra=json.dumps({"extra__yandex_metrika__counter_id": "5"}))
    assert load_settings("metrika_str").counter_id == 5


def test_load_settings_missing_connection_names_conn_id(mocker):
    lookup = mocker.Mock(side_effect=AirflowNotFoundException("The conn_id `nope` isn't defined"))
    with pytest.raises(MetrikaConfigError, match="'nope' is not defined") as info:
        load_settings("nope", lookup)
    assert info.value.__cause__ is None


async def test_aload_settings_from_environment(monkeypatch):
    set_connection(monkeypatch, "metrika_async", extra={"counter_id": 8, "timeout": 30})
    settings = await aload_settings("metrika_async")
    assert (settings.counter_id, settings.timeout, settings.token) == (8, 30.0, TOKEN)


async def test_aload_settings_missing_connection(mocker):
    mocker.patch(
        "airflow_provider_metrika.hooks.connection.get_async_connection",
        side_effect=AirflowNotFoundException("missing"),
    )
    with pytest.raises(MetrikaConfigError, match="'gone' is not defined"):
        await aload_settings("gone")


@pytest.mark.parametrize(
    ("host", "port", "scheme", "expected"),
    [
        ("127.0.0.1", 8080, "http", "http://127.0.0.1:8080"),
        ("127.0.0.1", 8080, "HTTP", "http://127.0.0.1:8080"),
        ("api-metrika.yandex.net", None, "https", "https://api-metrika.yandex.net"),
        ("http://127.0.0.1:8080", None, "http", "http://127.0.0.1:8080"),
        (None, None, "https", "https://api-metrika.yandex.net"),
    ],
)
def test_scheme_extra(host, port, scheme, expected):
    settings = settings_from_connection(conn(host=host, port=port, extra={"scheme": scheme}), "m")
    assert settings.base_url == expected


@pytest.mark.parametrize(
    ("host", "scheme", "match"),
    [
        ("127.0.0.1", "ftp", "extra scheme must be 'http' or 'https'"),
        ("https://127.0.0.1", "http", "disagree"),
        (None, "http", "needs a host"),
    ],
)
def test_bad_scheme_extra(host, scheme, match):
    with pytest.raises(MetrikaConfigError, match=match):
        settings_from_connection(conn(host=host, extra={"scheme": scheme}), "m")


def test_errors_can_describe_the_connection_without_its_id():
    with pytest.raises(MetrikaConfigError) as raised:
        settings_from_connection(conn(password=""), "riIdETig", described_as="the tested connection")
    assert "riIdETig" not in str(raised.value)
    assert str(raised.value).startswith("the tested connection has no OAuth token: the password field")
    with pytest.raises(MetrikaConfigError, match="the extra of the tested connection is not valid JSON"):
        settings_from_connection(conn(extra="{"), "riIdETig", described_as="the tested connection")
