"""Commerce Layer assets (commercelayer://<organization>/<type>), OpenLineage facets and the dashboard link."""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest

from airflow_provider_metrika import get_provider_info
from airflow_provider_metrika.commercelayer.assets import (
    annotate_outlets,
    asset_uri,
    convert_asset_to_openlineage,
    create_asset,
    event_extra,
    parse_asset_uri,
    sanitize_uri,
)
from airflow_provider_metrika.commercelayer.lineage import completed
from airflow_provider_metrika.commercelayer.links import CommerceLayerImportLink, imports_url, remember_imports
from airflow_provider_metrika.commercelayer.operators import CommerceLayerImportOperator
from airflow_provider_metrika.commercelayer.sensors import CommerceLayerImportSensor

ORG = "acme.commercelayer.io"


def job(job_id="imp1", state="success", kind="skus", scope=ORG, **counters):
    return {
        "vendor": "commercelayer",
        "kind": kind,
        "scope": scope,
        "id": job_id,
        "status": "completed",
        "state": state,
        "counters": {"inputs_size": 10, "processed_count": 10, "errors_count": 0, **counters},
        "issues": [],
        "issues_total": 0,
        "extra": {},
    }


def result(*jobs):
    return {"vendor": "commercelayer", "ids": [j["id"] for j in jobs], "jobs": list(jobs), "warnings": []}


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("commercelayer://ACME.commercelayer.io/skus", "commercelayer://acme.commercelayer.io/skus"),
        ("commercelayer://acme.commercelayer.io/prices/", "commercelayer://acme.commercelayer.io/prices"),
        ("commercelayer://127.0.0.1:8080/stock_items", "commercelayer://127.0.0.1:8080/stock_items"),
    ],
)
def test_sanitize_normalizes(uri, expected):
    assert sanitize_uri(urlsplit(uri)).geturl() == expected


@pytest.mark.parametrize(
    "uri",
    [
        "commercelayer:///skus",
        "commercelayer://acme.commercelayer.io/",
        "commercelayer://acme.commercelayer.io/skus/extra",
        "commercelayer://acme.commercelayer.io/skus?x=1",
        "commercelayer://ac_me/skus",
        "commercelayer://acme.commercelayer.io/SKUS",
    ],
)
def test_sanitize_rejects(uri):
    with pytest.raises(ValueError, match="commercelayer://"):
        sanitize_uri(urlsplit(uri))


def test_uri_helpers_and_the_openlineage_dataset():
    assert asset_uri(ORG, "skus") == "commercelayer://acme.commercelayer.io/skus"
    assert parse_asset_uri("commercelayer://acme.commercelayer.io/skus") == (ORG, "skus")
    assert parse_asset_uri("metrika://1/calls") is None and parse_asset_uri("commercelayer://x/") is None
    asset = create_asset(organization=ORG, resource_type="prices")
    assert asset.uri == "commercelayer://acme.commercelayer.io/prices"
    dataset = convert_asset_to_openlineage(asset)
    assert (dataset.namespace, dataset.name) == ("commercelayer://acme.commercelayer.io", "prices")


def test_the_scheme_is_registered_for_assets_and_datasets():
    info = get_provider_info()
    for section in ("asset-uris", "dataset-uris"):
        (entry,) = [e for e in info[section] if e["schemes"] == ["commercelayer"]]
        assert entry["handler"] == "airflow_provider_metrika.commercelayer.assets.sanitize_uri"
    assert "airflow_provider_metrika.commercelayer.links.CommerceLayerImportLink" in info["extra-links"]


def test_event_extra_sums_counters_and_ignores_junk():
    extra = event_extra([job("a", errors_count=2), job("b", processed_count="lots"), {"id": "c", "counters": None}])
    assert extra["import_ids"] == ["a", "b", "c"] and extra["inputs"] == 20
    assert extra["processed"] == 10 and extra["errors"] == 2


@dataclasses.dataclass(frozen=True)
class Outlet:
    uri: str


def outlet(uri):
    return Outlet(uri)


def test_matching_outlets_get_the_counters_others_nothing():
    mine, prices, other_org = (
        outlet("commercelayer://acme.commercelayer.io/skus"),
        outlet("commercelayer://acme.commercelayer.io/prices"),
        outlet("commercelayer://other.commercelayer.io/skus"),
    )
    events = defaultdict(lambda: SimpleNamespace(extra={}))
    done = result(job("a"), job("b", state="partial", errors_count=1))
    assert annotate_outlets(SimpleNamespace(outlets=[mine, prices, other_org]), {"outlet_events": events}, done) is done
    assert events[mine].extra["import_ids"] == ["a", "b"] and events[mine].extra["errors"] == 1
    assert events[mine].extra["organization"] == ORG and events[mine].extra["resource_type"] == "skus"
    assert events[prices].extra == {} and events[other_org].extra == {}


def test_imports_not_finished_put_no_counters_on_the_event(caplog):
    mine = outlet("commercelayer://acme.commercelayer.io/skus")
    events = defaultdict(lambda: SimpleNamespace(extra={}))
    annotate_outlets(SimpleNamespace(outlets=[mine]), {"outlet_events": events}, result(job(state="running")))
    assert events[mine].extra == {} and "not finished" in caplog.text


def test_the_operator_reports_its_file_the_organization_and_the_import_ids(tmp_path):
    op = CommerceLayerImportOperator(task_id="imp", resource_type="skus", src=str(tmp_path / "skus.csv"))
    completed(op, {}, result(job("a"), job("b", processed_count=7)))
    lineage = op.get_openlineage_facets_on_complete(task_instance=None)
    assert [(d.namespace, d.name) for d in lineage.inputs] == [("file", str(tmp_path / "skus.csv"))]
    (output,) = lineage.outputs
    assert (output.namespace, output.name) == ("commercelayer://acme.commercelayer.io", "skus")
    assert output.outputFacets["outputStatistics"].rowCount == 17
    assert lineage.run_facets["externalQuery"].externalQueryId == "a,b"


def test_the_sensor_reports_outputs_only():
    sensor = CommerceLayerImportSensor(task_id="wait", import_id="a")
    completed(sensor, {}, result(job("a", kind="prices")))
    lineage = sensor.get_openlineage_facets_on_complete(task_instance=None)
    assert lineage.inputs == [] and [o.name for o in lineage.outputs] == ["prices"]


def test_the_link_opens_the_import_or_the_list(mocker):
    assert imports_url(ORG, ["imp1"], "test") == "https://dashboard.commercelayer.io/test/acme/apps/imports/list/imp1"
    assert (
        imports_url("127.0.0.1:9", ["a", "b"]) == "https://dashboard.commercelayer.io/live/127.0.0.1/apps/imports/list"
    )
    pushed = {}
    ti = SimpleNamespace(xcom_push=lambda key, value: pushed.update({key: value}))
    remember_imports({"ti": ti}, ORG, ["imp1"], "test")
    get_value = mocker.patch("airflow_provider_metrika.commercelayer.links.XCom.get_value")
    get_value.return_value = pushed["commercelayer_imports"]
    link = CommerceLayerImportLink().get_link(None, ti_key="key")
    assert link == "https://dashboard.commercelayer.io/test/acme/apps/imports/list/imp1"
    get_value.return_value = None
    assert CommerceLayerImportLink().get_link(None, ti_key="key") == ""
