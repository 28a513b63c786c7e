"""An input that is None through XCom skips the upload (``if_empty="skip"``), on a real DAG run.

The extract task returns ``None``; the upload operators' ``rows`` is its XComArg. Airflow
resolves it to ``None`` when it renders the templated fields, and the operators must
read that as "no rows" (skip), not iterate the XComArg (``TypeError``). Run with
``airflow dags test`` on the Airflow line of the running interpreter; the connection
points at a closed port, so a request would fail the run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.dags

DAGS = Path(__file__).parent / "none_input_dag"
SKIPPED = "rows: None (the upstream task returned nothing): no rows to upload; skipping (if_empty='skip')"


def test_none_from_xcom_skips_both_uploads(tmp_path):
    airflow = str(Path(sys.executable).with_name("airflow"))
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(tmp_path / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW_CONN_METRIKA_DEFAULT": json.dumps(
            {"conn_type": "yandex_metrika", "host": "http://127.0.0.1:9", "password": "none-input-token"}
        ),
    }
    migrated = subprocess.run([airflow, "db", "migrate"], env=env, capture_output=True, text=True)
    assert migrated.returncode == 0, migrated.stdout[-3000:] + migrated.stderr[-3000:]
    run = subprocess.run([airflow, "dags", "test", "none_input", "2026-01-02"], env=env, capture_output=True, text=True)
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-5000:]
    assert "TypeError" not in output and "XComArg" not in output, output[-5000:]
    for task_id in ("upload_conversions", "upload_orders"):
        assert task_id in output
    assert output.count(SKIPPED) >= 2, output[-5000:]
