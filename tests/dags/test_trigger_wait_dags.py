"""The DAGs of scripts/trigger_wait_test.py parse on both lines (the script runs only on Airflow 3.3, in CI)."""

from __future__ import annotations

import runpy
from pathlib import Path

from airflow_provider_metrika.jobs.trigger_start import TRIGGER_RENDERS_TEMPLATES

FOLDER = Path(__file__).parent / "trigger_wait_dags"


def test_every_wait_starts_in_the_triggerer_where_airflow_renders_its_ids():
    # Read as the DAG processor reads a file (DagBag itself refuses end_from_trigger while listeners, such as the
    # OpenLineage provider's in this test process, are registered: see docs/waiting.md).
    dags = [
        runpy.run_path(str(FOLDER / f"{name}.py"))["dag"]
        for name in ("metrika_trigger_only_wait", "vendors_trigger_only_wait")
    ]
    waits = {task.task_id: task for dag in dags for task in dag.tasks if task.task_id.startswith("wait")}
    assert sorted(waits) == ["wait", "wait_commercelayer", "wait_fleetio"]
    for task in waits.values():
        assert bool(task.start_from_trigger) is TRIGGER_RENDERS_TEMPLATES
        assert task.end_from_trigger is TRIGGER_RENDERS_TEMPLATES
    if TRIGGER_RENDERS_TEMPLATES:
        kwargs = waits["wait_commercelayer"].start_trigger_args.trigger_kwargs
        assert "task_ids='import_skus'" in kwargs["job_ids"] and kwargs["scope"] == ""
