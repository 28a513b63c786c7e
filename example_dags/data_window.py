"""Which CRM rows a run of the example DAGs loads (not a DAG; listed in .airflowignore).

A scheduled run loads its data interval. A run triggered by hand on Airflow 3 without a logical
date has no data interval at all (https://airflow.apache.org/docs/apache-airflow/stable/
core-concepts/dag-run.html#data-interval): such a run loads the previous UTC day and says so
in the task log, instead of failing on a missing interval.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DataWindow:
    """A half-open interval ``[start, end)`` of CRM time (aware datetimes)."""

    start: datetime
    end: datetime

    @property
    def label(self) -> str:
        """``YYYYMMDD`` of the window's first day (UTC): names files and Metrika comments."""
        return self.start.astimezone(UTC).strftime("%Y%m%d")

    def sql_params(self) -> dict[str, datetime]:
        """``:start`` and ``:end`` as naive UTC datetimes: the CRM stores UTC without a zone."""
        return {
            "start": self.start.astimezone(UTC).replace(tzinfo=None),
            "end": self.end.astimezone(UTC).replace(tzinfo=None),
        }


def data_window(
    data_interval_start: datetime | None, data_interval_end: datetime | None, *, now: datetime | None = None
) -> DataWindow:
    """The run's data interval, or the previous UTC day when the run has none."""
    if data_interval_start is not None and data_interval_end is not None:
        return DataWindow(data_interval_start, data_interval_end)
    end = (now or datetime.now(UTC)).astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    window = DataWindow(end - timedelta(days=1), end)
    log.warning(
        "This run has no data interval (triggered without a logical date): loading the previous day, %s to %s (UTC)",
        window.start.isoformat(),
        window.end.isoformat(),
    )
    return window


def file_safe(run_id: str | None) -> str:
    """A run id as part of a file name: runs of the same window, in parallel, must not share a file."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", run_id or "run")
