"""The README's Commerce Layer and Fleetio examples run against the emulators as written."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
README = Path(__file__).resolve().parents[2] / "README.md"


def snippet(section: str) -> str:
    text = README.read_text(encoding="utf-8")
    body = text.split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
    (code,) = re.findall(r"```python\n(.*?)```", body, re.S)
    return code


def test_the_commerce_layer_example_runs(commercelayer, commercelayer_conn, monkeypatch):
    from airflow_provider_metrika.jobs import waiting
    from tests.integration.conftest import FakeTaskInstance

    monkeypatch.setattr(waiting, "pause", commercelayer.advance)
    namespace: dict = {}
    exec(snippet("Commerce Layer imports"), namespace)
    operator = namespace["import_skus"]
    assert operator.deferrable is True and operator.max_error_ratio == 0.01
    operator.deferrable = False  # the worker-side wait: the same wait step, no triggerer needed here
    result = operator.execute({"ti": FakeTaskInstance()})
    assert [job["state"] for job in result["jobs"]] == ["success"]
    (record,) = commercelayer.call("GET", "commercelayer/records/skus")["records"]
    assert record["key"] == "TSHIRT-M"


def test_the_fleetio_example_runs(fleetio, fleetio_conn):
    namespace: dict = {}
    exec(snippet("Fleetio imports"), namespace)
    wait = namespace["wait"]
    wait.created_after = dt.datetime.fromtimestamp(fleetio.now(), dt.UTC).isoformat()  # as the template renders
    assert not wait.poke({}).is_done  # nobody has imported the file yet
    fleetio.advance(60)
    rows = [{"status": "created"}, {"status": "error", "message": "Meter value too low"}]
    fleetio.call(
        "POST", "fleetio/imports", json={"type": "MeterEntryImport", "file_name": "meters_1.csv", "rows": rows}
    )
    fleetio.advance(15)
    result = wait.poke({}).xcom_value
    assert result["jobs"][0]["status"] == "partially_complete" and result["jobs"][0]["issues"] == [
        "row 2: Meter value too low"
    ]
