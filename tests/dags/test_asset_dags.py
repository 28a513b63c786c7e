"""A metrika:// outlet in a real Airflow run: the asset event carries Metrika's counters, the consumer is queued.

`airflow dags test` runs the producer (upload + wait against the emulator); the Airflow database
then holds the asset (dataset, on Airflow 2) event with its extra and a queued run of the DAG
scheduled on the asset.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from airflow_provider_metrika.emulator.testing import EmulatorProcess

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "example_dags"))

from demo_runner import airflow_cli, airflow_env, migrate, run_dag  # noqa: E402

pytestmark = pytest.mark.dags

QUERY = """
import json
from airflow.utils.session import create_session
try:
    from airflow.models.asset import AssetDagRunQueue as Queue, AssetEvent as Event
except ImportError:  # Airflow 2: datasets
    from airflow.models.dataset import DatasetDagRunQueue as Queue, DatasetEvent as Event
with create_session() as session:
    print(json.dumps({
        "events": [event.extra for event in session.query(Event).all()],
        "queued": [row.target_dag_id for row in session.query(Queue).all()],
    }))
"""


def test_the_asset_event_carries_the_counters_and_queues_the_consumer(tmp_path):
    now = int(time.time()) - 3600
    csv_path = tmp_path / "conversions.csv"
    csv_path.write_text("ClientId,Target,DateTime\n" + "".join(f"{1000 + i},paid,{now - i}\n" for i in range(20)))
    with EmulatorProcess(str(tmp_path / "emulator.db"), "--clock", "real", "--speed", "600") as emu:
        env = airflow_env(tmp_path, emu.url, tmp_path / "unused.db")
        env["AIRFLOW__CORE__DAGS_FOLDER"] = str(Path(__file__).parent / "asset_dags")
        env["METRIKA_ASSET_TEST_CSV"] = str(csv_path)
        env["AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"] = "False"  # a paused consumer is not queued
        migrate(env)
        subprocess.run([*airflow_cli(), "dags", "reserialize"], env=env, capture_output=True, check=True)
        result = run_dag("metrika_asset_producer", env)
        assert result.returncode == 0, result.output[-5000:]
        (stored,) = emu.client.uploadings(kind="offline_conversions")
    found = subprocess.run([sys.executable, "-c", QUERY], env=env, capture_output=True, text=True, check=True)
    state = json.loads(found.stdout.strip().splitlines()[-1])
    (extra,) = state["events"]
    assert extra["uploading_ids"] == [str(stored["id"])]
    assert extra["counter_id"] == 12345 and extra["kind"] == "offline_conversions"
    assert extra["rows_sent"] == extra["rows_accepted"] == 20
    assert 0 < extra["rows_linked"] <= 20 and extra["linked_ratio"] == round(extra["rows_linked"] / 20, 4)
    assert state["queued"] == ["metrika_asset_consumer"]
