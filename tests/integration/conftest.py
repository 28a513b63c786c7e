from __future__ import annotations

import pytest

from airflow_provider_metrika.jobs import waiting


class FakeTaskInstance:
    """Just what the upload operators read from ``context["ti"]``."""

    def __init__(self, dag_id="dag", task_id="task", run_id="run1", map_index=-1):
        self.dag_id, self.task_id, self.run_id, self.map_index = dag_id, task_id, run_id, map_index
        self.xcom: dict[str, object] = {}

    def xcom_push(self, key, value):
        self.xcom[key] = value


@pytest.fixture
def context():
    return {"ti": FakeTaskInstance()}


@pytest.fixture
def emulated_waits(emulator, monkeypatch):
    """Worker-side waits advance the emulator's clock instead of sleeping."""
    waited: list[float] = []

    def advance(seconds: float) -> None:
        waited.append(seconds)
        emulator.advance(seconds)

    monkeypatch.setattr(waiting, "pause", advance)
    return waited
