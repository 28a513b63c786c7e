"""The three ways people write a connection (URI, JSON, the UI form's fields) all reach the emulator.

The URI goes through Airflow's own parser (``AIRFLOW_CONN_<ID>``), on the worker side
(``MetrikaHook``) and the triggerer side (``aload_settings``), on both Airflow lines.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest

from airflow_provider_metrika.emulator.testing import TEST_TOKEN
from airflow_provider_metrika.hooks.connection import aload_settings
from airflow_provider_metrika.hooks.metrika import MetrikaHook
from tests.conftest import TEST_COUNTER_ID

pytestmark = pytest.mark.integration
CONN_ID = "metrika_forms"


def uri_forms(url: str) -> dict[str, str]:
    netloc = urlsplit(url).netloc
    return {
        "uri-scheme-extra": f"yandex-metrika://:{TEST_TOKEN}@{netloc}?counter_id={TEST_COUNTER_ID}&scheme=http",
        "uri-double-scheme": f"yandex-metrika://http://:{TEST_TOKEN}@{netloc}?counter_id={TEST_COUNTER_ID}",
        "json": json.dumps(
            {
                "conn_type": "yandex_metrika",
                "host": url,
                "password": TEST_TOKEN,
                "extra": {"counter_id": TEST_COUNTER_ID},
            }
        ),
        # What the Airflow 2 form saves: host and port apart, prefixed extra fields.
        "ui-form": json.dumps(
            {
                "conn_type": "yandex_metrika",
                "host": f"http://{urlsplit(url).hostname}",
                "port": urlsplit(url).port,
                "password": TEST_TOKEN,
                "extra": {"extra__yandex_metrika__counter_id": str(TEST_COUNTER_ID)},
            }
        ),
    }


@pytest.mark.parametrize("form", ["uri-scheme-extra", "uri-double-scheme", "json", "ui-form"])
async def test_every_connection_form_reaches_the_emulator(form, emulator, emulator_process, monkeypatch):
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", uri_forms(emulator_process.url)[form])
    hook = MetrikaHook(CONN_ID)
    ok, message = hook.test_connection()
    assert ok, message
    assert hook.settings.base_url == emulator_process.url
    assert hook.settings.counter_id == TEST_COUNTER_ID
    settings = await aload_settings(CONN_ID)
    assert (settings.base_url, settings.counter_id) == (emulator_process.url, TEST_COUNTER_ID)
    assert settings.token == TEST_TOKEN


def test_a_uri_without_a_scheme_means_https(emulator_process, monkeypatch):
    """No silent downgrade: without ``scheme=http`` the URI form is https (and the emulator speaks http)."""
    netloc = urlsplit(emulator_process.url).netloc
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", f"yandex-metrika://:{TEST_TOKEN}@{netloc}")
    hook = MetrikaHook(CONN_ID)
    assert hook.settings.base_url == f"https://{netloc}"
    ok, message = hook.test_connection()
    assert not ok and TEST_TOKEN not in message
