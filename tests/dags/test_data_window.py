"""The example DAGs' data window: the run's interval, or the previous UTC day for a run that has none."""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "example_dags"))

from data_window import DataWindow, data_window, file_safe

MSK = timezone(timedelta(hours=3))


def test_a_run_with_a_data_interval_loads_exactly_it(caplog):
    start, end = datetime(2026, 3, 1, tzinfo=MSK), datetime(2026, 3, 2, tzinfo=MSK)
    with caplog.at_level(logging.INFO):
        window = data_window(start, end, now=datetime(2030, 1, 1, tzinfo=UTC))
    assert window == DataWindow(start, end)
    assert caplog.records == []


def test_a_run_without_a_data_interval_loads_the_previous_utc_day_and_says_so(caplog):
    with caplog.at_level(logging.WARNING):
        window = data_window(None, None, now=datetime(2026, 3, 2, 1, 30, tzinfo=MSK))  # 2026-03-01 22:30 UTC
    assert window == DataWindow(datetime(2026, 2, 28, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC))
    assert window.label == "20260228"
    (record,) = caplog.records
    assert "no data interval" in record.getMessage() and "2026-02-28T00:00:00+00:00" in record.getMessage()


def test_half_an_interval_is_no_interval():
    window = data_window(datetime(2026, 3, 1, tzinfo=UTC), None, now=datetime(2026, 3, 5, 12, tzinfo=UTC))
    assert (window.start, window.end) == (datetime(2026, 3, 4, tzinfo=UTC), datetime(2026, 3, 5, tzinfo=UTC))


def test_sql_params_are_naive_utc_and_the_label_is_the_utc_day():
    window = DataWindow(datetime(2026, 3, 1, 2, tzinfo=MSK), datetime(2026, 3, 2, 2, tzinfo=MSK))
    assert window.sql_params() == {"start": datetime(2026, 2, 28, 23), "end": datetime(2026, 3, 1, 23)}
    assert window.label == "20260228"


def test_run_ids_become_file_names_of_their_own():
    assert file_safe("manual__2026-03-01T10:00:00.123+00:00") == "manual__2026-03-01T10_00_00.123_00_00"
    assert file_safe("../../etc/passwd") == ".._.._etc_passwd"
    assert file_safe(None) == "run"
