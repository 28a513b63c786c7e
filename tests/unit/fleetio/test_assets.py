"""fleetio:// assets: the URI check, asset events on the sensor's success, the sensor's OpenLineage facets."""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest

from airflow_provider_metrika import get_provider_info
from airflow_provider_metrika.fleetio.assets import (
    asset_uri,
    completed,
    convert_asset_to_openlineage,
    create_asset,
    parse_asset_uri,
    sanitize_uri,
)
from airflow_provider_metrika.fleetio.sensors import FleetioImportSensor


def job(import_id="5", kind="MeterEntryImport", scope="acme", status="complete", error_rows=None):
    return {
        "vendor": "fleetio",
        "kind": kind,
        "scope": scope,
        "id": import_id,
        "status": status,
        "state": "success",
        "counters": {} if error_rows is None else {"error_rows": error_rows},
        "issues": [],
        "issues_total": 0,
        "extra": {"file_name": f"{import_id}.csv"},
    }


def result(*jobs):
    return {"vendor": "fleetio", "ids": [j["id"] for j in jobs], "jobs": list(jobs), "warnings": []}


@dataclasses.dataclass(frozen=True)
class Outlet:
    uri: str


def outlet_events():
    return defaultdict(lambda: SimpleNamespace(extra={}))


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("fleetio://acme/VehicleImport", "fleetio://acme/VehicleImport"),
        ("fleetio://ACME/MeterEntryImport/", "fleetio://acme/MeterEntryImport"),
    ],
)
def test_sanitize_normalizes(uri, expected):
    assert sanitize_uri(urlsplit(uri)).geturl() == expected


@pytest.mark.parametrize(
    ("uri", "match"),
    [
        ("fleetio://acme/", "import type"),
        ("fleetio://acme/vehicle import", "import type"),
        ("fleetio:///VehicleImport", "account name"),
        ("fleetio://user:pw@acme/VehicleImport", "account name"),
        ("fleetio://acme/VehicleImport?x=1", "no query"),
    ],
)
def test_sanitize_rejects(uri, match):
    with pytest.raises(ValueError, match=match):
        sanitize_uri(urlsplit(uri))


def test_uri_helpers_and_registration():
    assert asset_uri("acme", "VehicleImport") == "fleetio://acme/VehicleImport"
    assert parse_asset_uri("fleetio://acme/VehicleImport") == ("acme", "VehicleImport")
    assert parse_asset_uri("metrika://1/calls") is None and parse_asset_uri("fleetio://acme/x y") is None
    assert create_asset(account="acme", import_type="VehicleImport").uri == "fleetio://acme/VehicleImport"
    dataset = convert_asset_to_openlineage(SimpleNamespace(uri="fleetio://acme/VehicleImport"))
    assert (dataset.namespace, dataset.name) == ("fleetio://acme", "VehicleImport")
    with pytest.raises(ValueError, match="not a fleetio:// asset"):
        convert_asset_to_openlineage(SimpleNamespace(uri="s3://b/k"))
    for section in ("asset-uris", "dataset-uris"):
        (entry,) = [e for e in get_provider_info()[section] if e["schemes"] == ["fleetio"]]
        assert entry["handler"] == "airflow_provider_metrika.fleetio.assets.sanitize_uri"


def test_success_marks_matching_outlets_only(caplog):
    meters, vehicles = Outlet("fleetio://acme/MeterEntryImport"), Outlet("fleetio://acme/VehicleImport")
    events = outlet_events()
    task = SimpleNamespace(outlets=[meters, vehicles, Outlet("s3://bucket/key")])
    done = result(job("5", error_rows=2), job("6"))
    assert completed(task, {"outlet_events": events}, done) is done
    assert events[meters].extra == {
        "import_ids": ["5", "6"],
        "statuses": ["complete"],
        "file_names": ["5.csv", "6.csv"],
        "error_rows": 2,
        "account": "acme",
        "import_type": "MeterEntryImport",
    }
    assert events[vehicles].extra == {} and "saw no VehicleImport import" in caplog.text


def test_the_sensor_reports_the_imports_it_saw_as_inputs():
    sensor = FleetioImportSensor(task_id="wait", import_id=5)
    assert sensor.get_openlineage_facets_on_complete(None).inputs == []  # never finished: nothing claimed
    completed(sensor, {}, result(job("5"), job("7")))
    lineage = sensor.get_openlineage_facets_on_complete(None)
    assert [(d.namespace, d.name) for d in lineage.inputs] == [("fleetio://acme", "MeterEntryImport")]
    assert lineage.outputs == [] and lineage.run_facets["externalQuery"].externalQueryId == "5,7"
