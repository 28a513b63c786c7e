"""The connection fields every vendor reads alike (read_vendor_connection)."""

from __future__ import annotations

import types

import pytest

from airflow_provider_metrika.exceptions import MetrikaConfigError
from airflow_provider_metrika.hooks.connection import read_vendor_connection


def conn(**fields):
    values = {"host": None, "port": None, "login": "id", "password": "secret-value", "extra": None}
    values.update(fields)
    return types.SimpleNamespace(**values)


def read(connection, **options):
    options.setdefault("default_host", "https://api.example.com")
    return read_vendor_connection(connection, "c1", conn_type="vendorx", service="Vendor X", **options)


def test_defaults_extras_and_airflow2_extra_names():
    found = read(conn(extra='{"timeout": "12", "extra__vendorx__max_retries": 2, "flavour": " "}'))
    assert found.api_fields() == {
        "conn_id": "c1",
        "base_url": "https://api.example.com",
        "timeout": 12.0,
        "max_retries": 2,
    }
    assert found.what == "connection 'c1'" and found.value("flavour") is None


def test_host_port_and_scheme_extra():
    found = read(conn(host="127.0.0.1", port=8080, extra={"scheme": "http"}))
    assert found.base_url == "http://127.0.0.1:8080"


def test_missing_host_without_default_names_what_to_set():
    with pytest.raises(MetrikaConfigError, match="the tested connection has no host: set it to the shop URL"):
        read(conn(), default_host=None, host_hint="the shop URL", described_as="the tested connection")


def test_credential_errors_name_the_field_never_the_value():
    found = read(conn())
    with pytest.raises(MetrikaConfigError, match="no API key") as caught:
        found.credential("  ", "API key")
    with pytest.raises(MetrikaConfigError, match="whitespace") as spaced:
        found.credential("secret value", "API key")
    assert "secret" not in str(caught.value) + str(spaced.value)
