"""Shared pytest fixtures: one Metrika emulator process per session, reset for every test.

``scripts/test.sh`` runs the suite on two pytest-xdist workers (``--dist loadgroup``): every session fixture
(the emulators) exists once per worker, each worker has its own Airflow home, and the slow end-to-end tests
(``dags``, ``benchmarks``, ``reliability`` marks) are collected first so that they start early and the quick
ones fill in around them. Tests that share something outside their own temporary directory and emulators
carry one ``@pytest.mark.xdist_group("<what they share>")``: one worker runs them (tests/README.md).
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from airflow_provider_metrika.emulator.testing import TEST_TOKEN, EmulatorClient, EmulatorProcess, MetrikaTestApi

if TYPE_CHECKING:
    from airflow_provider_metrika.commercelayer.hooks import CommerceLayerHook
    from airflow_provider_metrika.fleetio.hooks import FleetioHook

# Nothing above imports airflow; it is imported (and reads AIRFLOW_HOME) when the first test module is collected.
if os.environ.get("PYTEST_XDIST_WORKER"):
    # Before anything imports airflow: two workers must not write one airflow.cfg or airflow.db at the same time.
    _airflow_home = tempfile.mkdtemp(prefix=f"metrika-tests-{os.environ['PYTEST_XDIST_WORKER']}-airflow-")
    os.environ["AIRFLOW_HOME"] = _airflow_home
    atexit.register(shutil.rmtree, _airflow_home, ignore_errors=True)

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
    settle_in_flight(emulator_process.client)
    yield emulator_process.client


def settle_in_flight(client: EmulatorClient, bound: float = 10.0) -> None:
    """Let requests an earlier test left held (a dropped answer is held for its ``seconds``) finish first.

    The emulator counts such a request against Metrika's three requests in flight per token until it ends, and
    a reset does not end it: the next test's first burst would be refused with ``quota_parallel_requests``.
    """
    deadline = time.monotonic() + bound
    while client.request_stats()["in_flight"] and time.monotonic() < deadline:
        time.sleep(0.05)


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


# -- Commerce Layer and Fleetio emulators (one process per vendor, like the real hosts) ---------------

CL_CONN_ID = "commercelayer_default"
CL_CLIENT_ID = "cl-test-client-id"
CL_CLIENT_SECRET = "cl-test-client-secret-0123456789"
FLEETIO_CONN_ID = "fleetio_default"
FLEETIO_API_KEY = "fleetio-test-api-key-0123456789"
FLEETIO_ACCOUNT = "fleetio-test-account"


def _vendor_process(tmp_path_factory: pytest.TempPathFactory, vendor: str) -> Iterator[EmulatorProcess]:
    db_path = str(tmp_path_factory.mktemp(f"{vendor}-emulator") / "state.db")
    with EmulatorProcess(db_path, "--vendor", vendor) as process:
        yield process


def _fresh(process: EmulatorProcess) -> EmulatorClient:
    if not process.running:
        process.restart()
    process.client.reset()
    return process.client


@pytest.fixture(scope="session")
def commercelayer_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    yield from _vendor_process(tmp_path_factory, "commercelayer")


@pytest.fixture
def commercelayer(commercelayer_process: EmulatorProcess) -> Iterator[EmulatorClient]:
    """The session's Commerce Layer emulator, reset (and the process's token cache emptied)."""
    from airflow_provider_metrika.commercelayer.auth import TOKENS

    TOKENS.clear()
    yield _fresh(commercelayer_process)
    TOKENS.clear()


@pytest.fixture
def commercelayer_conn(commercelayer_process: EmulatorProcess, monkeypatch: pytest.MonkeyPatch) -> str:
    conn = {
        "conn_type": "commercelayer",
        "host": commercelayer_process.url,
        "login": CL_CLIENT_ID,
        "password": CL_CLIENT_SECRET,
        "extra": {"auth_url": commercelayer_process.url + "/oauth/token"},
    }
    monkeypatch.setenv(f"AIRFLOW_CONN_{CL_CONN_ID.upper()}", json.dumps(conn))
    return CL_CONN_ID


@pytest.fixture
def commercelayer_hook(commercelayer: EmulatorClient, commercelayer_conn: str) -> Iterator[CommerceLayerHook]:
    """A ``CommerceLayerHook`` on the emulator whose waits move the emulator's clock."""
    from airflow_provider_metrika.commercelayer.hooks import CommerceLayerHook

    hook = CommerceLayerHook(commercelayer_conn, sleep=commercelayer.advance)
    yield hook
    hook.close()


@pytest.fixture(scope="session")
def fleetio_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    yield from _vendor_process(tmp_path_factory, "fleetio")


@pytest.fixture
def fleetio(fleetio_process: EmulatorProcess) -> EmulatorClient:
    return _fresh(fleetio_process)


@pytest.fixture
def fleetio_conn(fleetio_process: EmulatorProcess, monkeypatch: pytest.MonkeyPatch) -> str:
    conn = {
        "conn_type": "fleetio",
        "host": fleetio_process.url,
        "login": FLEETIO_ACCOUNT,
        "password": FLEETIO_API_KEY,
    }
    monkeypatch.setenv(f"AIRFLOW_CONN_{FLEETIO_CONN_ID.upper()}", json.dumps(conn))
    return FLEETIO_CONN_ID


@pytest.fixture
def fleetio_hook(fleetio: EmulatorClient, fleetio_conn: str) -> Iterator[FleetioHook]:
    """A ``FleetioHook`` on the emulator whose waits move the emulator's clock."""
    from airflow_provider_metrika.fleetio.hooks import FleetioHook

    hook = FleetioHook(fleetio_conn, sleep=fleetio.advance)
    yield hook
    hook.close()


# -- Order and parallel runs ---------------------------------------------------------------------------

#: Marks of the tests that take tens of seconds each (real Airflow runs, benchmark runs, soaks): they go first.
SLOW_MARKS = ("dags", "benchmarks", "reliability")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Slow tests first, each group in its collected order (a module's tests stay together)."""
    items.sort(key=lambda item: not any(item.get_closest_marker(mark) for mark in SLOW_MARKS))
