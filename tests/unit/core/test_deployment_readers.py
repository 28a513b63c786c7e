"""The deployment test's readers of what Airflow wrote: trigger log lines of both lines, upload XCom shapes."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
sys.path[:0] = [str(ROOT / "scripts"), str(ROOT / "example_dags")]

from deployment_cluster import as_ids  # noqa: E402
from deployment_test import FIRED, log_record  # noqa: E402


def test_log_record_reads_an_airflow3_json_line():
    line = '{"timestamp": "2026-12-02T02:50:00.1Z", "event": "Trigger fired event", "level": "info"}'
    assert log_record(line) == {"timestamp": "2026-12-02T02:50:00.1Z", "event": "Trigger fired event", "level": "info"}


def test_log_record_reads_an_airflow2_text_line():
    line = "[2026-12-02T02:39:21.986+0000] {triggerer_job_runner.py:631} INFO - Trigger dag/run/task (ID 2) fired: x"
    assert log_record(line) == {
        "timestamp": "2026-12-02T02:39:21.986+0000",
        "event": "Trigger dag/run/task (ID 2) fired: x",
    }


@pytest.mark.parametrize("line", ["", "not a log line", "[1, 2]", '"a json string"', "{broken json"])
def test_log_record_skips_other_lines(line):
    assert log_record(line) is None


@pytest.mark.parametrize(
    ("event", "fired"),
    [
        ("Trigger fired event", True),  # Airflow 3
        ("Trigger dag/run/task/-1/1 (ID 2) fired: TriggerEvent<{}>", True),  # Airflow 2
        ("trigger dag/run/task/-1/1 (ID 2) starting", False),
        ("Waiting 1s; 2: UPLOADED", False),
    ],
)
def test_fired_matches_the_fired_line_of_both_lines(event, fired):
    assert bool(FIRED.match(event)) is fired


@pytest.mark.parametrize(
    ("value", "ids"),
    [
        (None, []),
        ("7", ["7"]),
        (7, ["7"]),
        (["7", 8], ["7", "8"]),
        ({"vendor": "metrika", "ids": ["7"], "jobs": []}, ["7"]),  # a JobsResult
        ({"uploading_id": "7", "status": "PROCESSED"}, ["7"]),  # one uploading's summary
        ({"status": "PROCESSED"}, []),
    ],
)
def test_as_ids_reads_every_upload_xcom_shape(value, ids):
    assert as_ids(value) == ids
