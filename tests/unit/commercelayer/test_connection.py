"""Reading a commercelayer connection."""

from __future__ import annotations

import json
import types

import pytest

from airflow_provider_metrika.commercelayer import DEFAULT_AUTH_URL
from airflow_provider_metrika.commercelayer.connection import settings_from_connection
from airflow_provider_metrika.commercelayer.hooks import CommerceLayerHook
from airflow_provider_metrika.exceptions import MetrikaConfigError
from airflow_provider_metrika.version_compat import AirflowNotFoundException

SECRET = "cl-unit-secret-value"


def conn(**fields):
    values = {"host": "https://acme.commercelayer.io", "login": "client", "password": SECRET, "port": None}
    values.update(fields)
    values.setdefault("extra", None)
    return types.SimpleNamespace(**values)


def test_defaults_and_extras():
    settings = settings_from_connection(conn(), "cl")
    assert (settings.base_url, settings.client_id, settings.auth_url) == (
        "https://acme.commercelayer.io",
        "client",
        DEFAULT_AUTH_URL,
    )
    assert settings.scope is None and SECRET not in repr(settings)
    extra = {"auth_url": "https://acme.commercelayer.io/oauth/token", "scope": "market:code:europe", "timeout": "30"}
    custom = settings_from_connection(conn(extra=json.dumps(extra), host="acme.commercelayer.io"), "cl")
    assert custom.auth_url == extra["auth_url"] and custom.scope == "market:code:europe" and custom.timeout == 30.0
    assert custom.base_url == "https://acme.commercelayer.io"
    legacy = settings_from_connection(conn(extra={"extra__commercelayer__scope": "stock_location:id:ABC"}), "cl")
    assert legacy.scope == "stock_location:id:ABC"


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"host": ""}, "no host"),
        ({"login": ""}, "client id"),
        ({"password": " "}, "client secret"),
        ({"password": "two words"}, "whitespace"),
        ({"extra": '{"scope": "everything"}'}, "scope"),
        ({"extra": '{"scope": 5}'}, "scope"),
        ({"extra": '{"auth_url": "ftp://x"}'}, "http"),
        ({"extra": "not json"}, "not valid JSON"),
        ({"extra": '{"max_retries": 99}'}, "max_retries"),
    ],
)
def test_bad_fields_are_named_and_secrets_are_not(fields, match):
    with pytest.raises(MetrikaConfigError, match=match) as caught:
        settings_from_connection(conn(**fields), "cl")
    assert SECRET not in str(caught.value)


def test_a_missing_connection_says_how_to_create_one(mocker):
    hook = CommerceLayerHook("nowhere")
    mocker.patch.object(hook, "get_connection", side_effect=AirflowNotFoundException("nowhere"))
    with pytest.raises(MetrikaConfigError, match="client id as login"):
        assert hook.settings is None  # never reached


def test_the_settings_register_the_secret_with_the_masker(mocker, monkeypatch):
    masked = mocker.patch("airflow_provider_metrika.hooks.rest.mask_secret")
    conn = {"conn_type": "commercelayer", "host": "https://acme.commercelayer.io", "login": "c", "password": SECRET}
    monkeypatch.setenv("AIRFLOW_CONN_CL_MASK", json.dumps(conn))
    assert CommerceLayerHook("cl_mask").settings.client_secret == SECRET
    masked.assert_called_once_with(SECRET)
