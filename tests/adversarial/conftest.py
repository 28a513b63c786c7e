"""Fixtures of the adversarial suite; every test collected here is marked ``adversarial``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from airflow_provider_metrika.emulator.testing import EmulatorClient, EmulatorProcess

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
