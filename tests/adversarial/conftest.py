"""Fixtures of the adversarial suite (every test collected here is marked ``adversarial``).

Hostile-server tests get one hostile server per module, a connection to it and an exposure check.
"""

from __future__ import annotations

import json
import logging
import os
import traceback
from collections.abc import Iterator
from pathlib import Path

import pytest

from airflow_provider_metrika.emulator.testing import EmulatorClient, EmulatorProcess
from tests.adversarial.hostile_server import TOKEN, HostileServer, leaked

_HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _HERE in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.adversarial)


@pytest.fixture
def emulator_port(emulator: EmulatorClient, emulator_process: EmulatorProcess) -> int:
    """The (freshly reset) session emulator's port, for raw-socket clients."""
    return emulator_process.port


@pytest.fixture
def spool_dir(emulator: EmulatorClient, emulator_process: EmulatorProcess) -> Path:
    """Where the emulator keeps uploaded files until linkage is counted (empty after the reset)."""
    path = Path(emulator_process.db_path + ".spool")
    assert os.listdir(path) == [], "the reset left spool files behind"
    return path


CONN_ID = "metrika_default"
COUNTER = 12345


@pytest.fixture(scope="module")
def hostile_server() -> Iterator[HostileServer]:
    with HostileServer() as server:
        yield server


@pytest.fixture
def hostile(hostile_server: HostileServer, monkeypatch: pytest.MonkeyPatch) -> HostileServer:
    """The module's hostile server, its plan reset, with ``metrika_default`` pointing at it (no retries)."""
    hostile_server.seen.clear()
    hostile_server.plan = lambda seen: pytest.fail(f"unexpected request {seen.method} {seen.path}")
    point_at(monkeypatch, hostile_server.url)
    return hostile_server


def point_at(monkeypatch: pytest.MonkeyPatch, url: str, token: str = TOKEN, **extra: object) -> None:
    conn = {
        "conn_type": "yandex_metrika",
        "host": url,
        "password": token,
        "extra": {"counter_id": COUNTER, "max_retries": 0, "timeout": 10, **extra},
    }
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps(conn))


class Exposure:
    """Everything a test shows a user; on teardown none of it, nor any log record, may show the token."""

    def __init__(self, caplog: pytest.LogCaptureFixture) -> None:
        self.caplog = caplog
        self.texts: list[tuple[str, str]] = []
        self.sent: list[str] = []

    def add(self, where: str, *texts: object) -> None:
        for text in texts:
            self.texts.append((where, text if isinstance(text, str) else repr(text)))

    def add_json(self, where: str, value: object) -> None:
        self.add(where, json.dumps(value, default=repr, ensure_ascii=False), repr(value))

    def check(self) -> None:
        records = self.caplog.get_records("setup") + self.caplog.get_records("call")
        for record in records:
            text = record.getMessage()
            if record.exc_info:
                text += "".join(traceback.format_exception(*record.exc_info))
            self.texts.append((f"log record {record.name}", text))
        assert self.texts, "nothing was exposed: the test proves nothing"
        for where, text in self.texts:
            found = leaked(text)
            assert found is None, f"the token leaked ({found}) into {where}: {text[:300]!r}"
            for sent in self.sent:
                assert len(sent) < 16 or sent not in text, f"the server's quote leaked into {where}: {text[:300]!r}"


@pytest.fixture
def exposure(caplog: pytest.LogCaptureFixture) -> Iterator[Exposure]:
    caplog.set_level(logging.DEBUG)
    seen = Exposure(caplog)
    yield seen
    seen.check()
