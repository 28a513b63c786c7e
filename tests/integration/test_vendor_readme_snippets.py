"""The README's Commerce Layer and Fleetio examples run against the emulators as written."""

from __future__ import annotations

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


def test_the_commerce_layer_example_runs(commercelayer, commercelayer_conn, capsys):
    exec(snippet("Commerce Layer imports"), {})
    assert "pending 0 {}" in capsys.readouterr().out.splitlines()  # Airflow 2 also logs to stdout
    assert commercelayer.call("GET", "commercelayer/imports")["imports"][0]["attributes"]["reference"]


def test_the_fleetio_example_runs(fleetio, fleetio_conn, capsys):
    rows = [{"status": "created"}, {"status": "error", "message": "VIN already taken"}]
    fleetio.call("POST", "fleetio/imports", json={"type": "VehicleImport", "file_name": "v.csv", "rows": rows})
    fleetio.advance(15)
    exec(snippet("Fleetio imports"), {})
    assert "VehicleImport v.csv partially_complete ['VIN already taken']" in capsys.readouterr().out
