"""The example DAGs: they parse cleanly, and run green end to end with `airflow dags test` on the emulator."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "example_dags"))

from demo_crm import create_crm_database  # noqa: E402
from demo_runner import (  # noqa: E402
    EXAMPLE_DAGS,
    airflow_env,
    commercelayer_env,
    fleetio_env,
    migrate,
    person_uploads_meter_readings,
    run_dag,
    run_dag_without_logical_date,
)

from airflow_provider_metrika.emulator.testing import EmulatorProcess, MetrikaTestApi  # noqa: E402

AIRFLOW_3 = int(__import__("airflow").__version__.split(".")[0]) >= 3
NO_INTERVAL_LOG = "This run has no data interval (triggered without a logical date): loading the previous day"

pytestmark = pytest.mark.dags

DEALS = 3000
CL_SKUS = 12_500  # two SKU imports (10,000 + 2,500), two price imports


def load_dagbag():
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:
        from airflow.models import DagBag
    try:
        return DagBag(dag_folder=str(EXAMPLE_DAGS), include_examples=False)  # Airflow 2 parses its own examples
    except TypeError:  # Airflow 3.3 dropped the argument
        return DagBag(dag_folder=str(EXAMPLE_DAGS))


def test_example_dags_parse_without_touching_connections(mocker):
    from airflow_provider_metrika.version_compat import BaseHook

    get_connection = mocker.patch.object(BaseHook, "get_connection", side_effect=AssertionError("parse-time lookup"))
    dagbag = load_dagbag()
    assert dagbag.import_errors == {}
    assert {
        "metrika_crm_to_offline_conversions",
        "metrika_crm_to_cdp",
        "metrika_ad_expenses",
        "commercelayer_skus_prices",
    } <= set(dagbag.dag_ids)
    assert "fleetio_wait_for_import" in dagbag.dag_ids
    assert ("fleetio_on_meter_import" in dagbag.dag_ids) == AIRFLOW_3  # AssetWatcher: Airflow 3.x only
    get_connection.assert_not_called()


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("demo")
    crm_db = create_crm_database(workdir / "crm.db", customers=500, deals=DEALS)
    with EmulatorProcess(str(workdir / "emulator.db"), "--clock", "real", "--speed", "600") as emu:
        env = airflow_env(workdir, emu.url, crm_db)
        migrate(env)
        yield emu, env


@pytest.fixture(scope="module")
def fleetio_demo(demo, tmp_path_factory):
    """The demo's Airflow with a Fleetio emulator beside it."""
    _emu, env = demo
    db = str(tmp_path_factory.mktemp("fleetio") / "state.db")
    with EmulatorProcess(db, "--vendor", "fleetio", "--clock", "real", "--speed", "600") as fleetio:
        yield fleetio, {**env, **fleetio_env(fleetio.url)}


def test_fleetio_dag_waits_for_the_days_meter_import(fleetio_demo):
    fleetio, env = fleetio_demo
    fleetio.client.call("POST", "fleetio/imports", json={"type": "VehicleImport", "file_name": "vehicles.csv"})
    upload = person_uploads_meter_readings(fleetio.client, datetime.now(UTC), rows=40, errors=2)
    result = run_dag("fleetio_wait_for_import", env)
    assert result.returncode == 0, result.output[-5000:]
    assert result.summary == {
        "imports": 1,
        "statuses": ["partially_complete"],
        "file_names": [upload["file_name"]],
        "error_rows": 2,
    }
    assert "partially complete, accepted by policy" in result.output


if AIRFLOW_3:

    def test_fleetio_asset_watcher_dag_is_scheduled_on_its_asset(fleetio_demo):
        _fleetio, env = fleetio_demo
        from fleetio_on_meter_import import METER_IMPORTS

        from airflow_provider_metrika.fleetio.watch import FleetioImportWatchTrigger

        assert METER_IMPORTS.uri == "fleetio://fleetio_default/MeterEntryImport"  # the registered sanitizer's form
        assert isinstance(METER_IMPORTS.watchers[0].trigger, FleetioImportWatchTrigger)
        assert load_dagbag().dags["fleetio_on_meter_import"].timetable.asset_condition is not None
        result = run_dag("fleetio_on_meter_import", env)
        assert result.returncode == 0, result.output[-5000:]
        assert result.summary == {"events": 0, "file_names": []}


@pytest.fixture(scope="module")
def commercelayer_demo(demo, tmp_path_factory):
    """The demo's Airflow with a Commerce Layer emulator beside it."""
    _emu, env = demo
    db = str(tmp_path_factory.mktemp("commercelayer") / "state.db")
    with EmulatorProcess(db, "--vendor", "commercelayer", "--clock", "real", "--speed", "600") as commercelayer:
        yield commercelayer, {**env, **commercelayer_env(commercelayer.url), "COMMERCELAYER_EXAMPLE_SKUS": str(CL_SKUS)}


def test_offline_conversions_dag_end_to_end(demo):
    emu, env = demo
    result = run_dag("metrika_crm_to_offline_conversions", env)
    assert result.returncode == 0, result.output[-5000:]
    summary = result.summary
    assert summary["status"] == "PROCESSED"
    assert 0 < summary["rows_extracted"] < DEALS
    assert summary["source_quantity"] == summary["line_quantity"] == summary["rows_extracted"]
    assert 0 < summary["linked_quantity"] <= summary["line_quantity"]
    uploadings = emu.client.uploadings(kind="offline_conversions")
    assert len(uploadings) == 1
    assert uploadings[0]["status"] == "PROCESSED"
    assert uploadings[0]["rows"] == summary["rows_extracted"]


def test_cdp_dag_end_to_end(demo):
    emu, env = demo
    result = run_dag("metrika_crm_to_cdp", env)
    assert result.returncode == 0, result.output[-5000:]
    summary = result.summary
    assert summary["contacts"]["status"] == "PASSED" and summary["contacts"]["elements_count"] == 500
    assert summary["orders"]["status"] == "PASSED" and summary["orders"]["elements_count"] > 0
    kinds = sorted(u["kind"] for u in emu.client.uploadings() if u["kind"] in ("contacts", "orders"))
    assert kinds == ["contacts", "orders"]
    # The orders carry the CRM's own statuses, mapped first (the emulator fails unmapped ones).
    mapped = MetrikaTestApi(emu.url).get("/cdp/api/v1/counter/{counter_id}/schema/order_statuses").json()
    assert {status["id"]: status["type"] for status in mapped["order_statuses"]} == {
        "paid": "PAID",
        "new": "IN_PROGRESS",
        "cancelled": "CANCELLED",
    }


def test_commercelayer_dag_end_to_end(commercelayer_demo):
    commercelayer, env = commercelayer_demo
    result = run_dag("commercelayer_skus_prices", env)
    assert result.returncode == 0, result.output[-5000:]
    summary = result.summary
    for name in ("skus", "prices"):
        assert summary[name] == {
            "imports": 2,
            "states": ["success"],
            "inputs_size": CL_SKUS,
            "processed_count": CL_SKUS,
            "errors_count": 0,
        }
    client = commercelayer.client
    imports = client.call("GET", "commercelayer/imports")["imports"]
    assert sorted(i["attributes"]["resource_type"] for i in imports) == ["prices", "prices", "skus", "skus"]
    assert len(client.call("GET", "commercelayer/records/skus")["records"]) == CL_SKUS
    assert len(client.call("GET", "commercelayer/records/prices")["records"]) == CL_SKUS


def test_expenses_dag_end_to_end(demo):
    emu, env = demo
    result = run_dag("metrika_ad_expenses", env)
    assert result.returncode == 0, result.output[-5000:]
    summary = result.summary
    assert summary["kind"] == "expenses" and summary["status"] == "PROCESSED" and summary["source_quantity"] == 3
    held = emu.client.expenses(12345)
    assert sorted(row["utmsource"] for row in held) == ["google", "telegram", "vk"]  # no Direct costs
    assert {row["provider"] for row in held} == {"airflow-example"}
    types = [u["uploading"]["type"] for u in emu.client.uploadings(kind="expenses")]
    assert types == ["REMOVES", "EXPENSES"]


# Only Airflow 3 has runs without a logical date (a run triggered by hand from the UI, the REST API or
# `airflow dags trigger` without one); on 2.11 every run has a data interval, and tests/dags/test_data_window.py
# covers the fallback on both lines.
if AIRFLOW_3:

    def test_offline_conversions_dag_without_logical_date_loads_the_previous_day(demo):
        emu, env = demo
        emu.client.reset()
        days = {(datetime.now(UTC) - timedelta(days=1)).strftime("%Y%m%d")}
        result = run_dag_without_logical_date("metrika_crm_to_offline_conversions", env)
        days.add((datetime.now(UTC) - timedelta(days=1)).strftime("%Y%m%d"))  # in case midnight passed
        assert result.returncode == 0, result.output[-5000:]
        assert "logical_date=None data_interval_start=None state=success" in result.output
        assert NO_INTERVAL_LOG in result.output
        summary = result.summary
        assert summary["status"] == "PROCESSED" and 0 < summary["rows_extracted"] < DEALS
        (uploading,) = emu.client.uploadings(kind="offline_conversions")
        assert uploading["rows"] == summary["rows_extracted"]
        assert uploading["comment"][len("crmdeals") :][:8] in days

    def test_cdp_dag_without_logical_date_loads_the_previous_day(demo):
        _emu, env = demo
        result = run_dag_without_logical_date("metrika_crm_to_cdp", env)
        assert result.returncode == 0, result.output[-5000:]
        assert result.output.count(NO_INTERVAL_LOG) == 2  # both extract tasks said so
        summary = result.summary
        assert summary["contacts"]["elements_count"] == 500 and summary["orders"]["elements_count"] > 0

    def test_expenses_dag_without_logical_date_replaces_the_previous_day(demo):
        emu, env = demo
        days = {(datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%d")}
        result = run_dag_without_logical_date("metrika_ad_expenses", env)
        days.add((datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%d"))
        assert result.returncode == 0, result.output[-5000:]
        assert NO_INTERVAL_LOG in result.output
        assert result.summary["status"] == "PROCESSED"
        assert {row["date"] for row in emu.client.expenses(12345)} <= days
