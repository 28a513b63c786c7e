"""Shared pytest fixtures: one Metrika emulator process per session, reset for every test."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from airflow_provider_metrika.emulator.testing import TEST_TOKEN, EmulatorClient, EmulatorProcess, MetrikaTestApi

METRIKA_CONN_ID = "metrika_default"
TEST_COUNTER_ID = 12345


@pytest.fixture(scope="session")
def emulator_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    """The emulator as a subprocess (frozen clock), shared by the whole session."""
    db_path = str(tmp_path_factory.mktemp("metrika-emulator") / "state.db")
    with EmulatorProcess(db_path) as process:
        yield process


@pytest.fixture
def emulator(emulator_process: EmulatorProcess) -> Iterator[EmulatorClient]:
    """The session emulator, reset to a fresh state (no data, default config, clock at now)."""
    if not emulator_process.running:
        emulator_process.restart()
    emulator_process.client.reset()
    yield emulator_process.client


@pytest.fixture
def metrika_conn(emulator_process: EmulatorProcess, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """An Airflow connection ``metrika_default`` (via env) pointing at the emulator; yields its id."""
    conn = {
        "conn_type": "yandex_metrika",
        "host": emulator_process.url,
        "password": TEST_TOKEN,
        "extra": {"counter_id": TEST_COUNTER_ID},
    }
    monkeypatch.setenv(f"AIRFLOW_CONN_{METRIKA_CONN_ID.upper()}", json.dumps(conn))
    yield METRIKA_CONN_ID


@pytest.fixture
def metrika_api(emulator: EmulatorClient, emulator_process: EmulatorProcess) -> Iterator[MetrikaTestApi]:
    """Raw HTTP access to the (freshly reset) emulator's Metrika endpoints for counter 12345."""
    api = MetrikaTestApi(emulator_process.url, counter_id=TEST_COUNTER_ID)
    yield api
    api.session.close()
