"""Shared fixtures of the hook tests: a connection in the environment and canned HTTP answers."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
from requests.structures import CaseInsensitiveDict

from airflow_provider_metrika.hooks.metrika import MetrikaHook
from airflow_provider_metrika.hooks.retry import RetryPolicy

TOKEN = "y0_AgAAAAHookTestSecretToken0123456789"
BASE_URL = "http://127.0.0.1:8999"


def set_connection(monkeypatch: pytest.MonkeyPatch, conn_id: str = "metrika_default", **fields: Any) -> None:
    """Define an Airflow connection through ``AIRFLOW_CONN_<ID>`` (JSON form, works without a DB)."""
    conn = {"conn_type": "yandex_metrika", "host": BASE_URL, "password": TOKEN, "extra": {"counter_id": 42}}
    conn.update(fields)
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))


@pytest.fixture
def metrika_conn(monkeypatch: pytest.MonkeyPatch) -> None:
    set_connection(monkeypatch)


@pytest.fixture
def delays() -> list[float]:
    """What the ``hook`` fixture waited (its sleep records instead of sleeping)."""
    return []


@pytest.fixture
def hook(metrika_conn: None, delays: list[float]):
    """A ``MetrikaHook`` on the test connection: 3 retries, no jitter, waits recorded in ``delays``."""
    hook = MetrikaHook(sleep=delays.append)
    hook.retry_policy = RetryPolicy(max_retries=3, jitter=lambda: 1.0)
    yield hook
    hook.close()


@pytest.fixture
def answer(hook, mocker):
    """Queue answers (responses or exceptions) for the session of the test module's ``hook``; returns the mock."""

    def queue(*outcomes):
        return mocker.patch.object(hook.session, "request", side_effect=list(outcomes))

    return queue


def response(status: int = 200, body: Any = None, *, text: str | None = None, headers: dict | None = None):
    """A real ``requests.Response`` with the given status and JSON (or raw text) body."""
    resp = requests.Response()
    resp.status_code = status
    raw = text if text is not None else ("" if body is None else json.dumps(body))
    resp._content = raw.encode()
    resp.headers = CaseInsensitiveDict(headers or {})
    resp.encoding = "utf-8"
    return resp


def error_body(status: int, error_type: str, message: str) -> dict:
    return {"errors": [{"error_type": error_type, "message": message}], "code": status, "message": message}
