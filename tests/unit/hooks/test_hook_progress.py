"""Upload progress lines: throttled by a fake clock, always a final line."""

from __future__ import annotations

import logging
from types import SimpleNamespace

from airflow_provider_metrika.hooks.progress import UploadProgressLogger


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_logs_at_most_every_interval_and_at_the_end(caplog):
    clock = FakeClock()
    progress = UploadProgressLogger(
        50_000_000, label="upload x", interval=10, clock=clock, logger=logging.getLogger("progress-test")
    )
    with caplog.at_level(logging.INFO, logger="progress-test"):
        clock.now = 105
        progress.update(10_000_000)  # too soon
        clock.now = 110
        progress.update(20_000_000)  # 10 s passed
        clock.now = 115
        progress.update(30_000_000)  # too soon again
        clock.now = 120
        progress.update(50_000_000)  # done: always logged
        clock.now = 140
        progress.update(50_000_000)  # after the end: silent
    lines = [record.getMessage() for record in caplog.records]
    assert lines == [
        "upload x: sending 20.0 of 50.0 MB (40%) in 10.0 s, 2.00 MB/s",
        "upload x: sent 50.0 of 50.0 MB (100%) in 20.0 s, 2.50 MB/s",
    ]


def test_monitor_callback_reads_bytes_read(caplog):
    clock = FakeClock()
    progress = UploadProgressLogger(10, clock=clock, logger=logging.getLogger("progress-test"))
    with caplog.at_level(logging.INFO, logger="progress-test"):
        progress.monitor_callback(SimpleNamespace(bytes_read=10))
    assert "sent 0.0 of 0.0 MB (100%)" in caplog.text


def test_empty_body_counts_as_complete(caplog):
    progress = UploadProgressLogger(0, clock=FakeClock(), logger=logging.getLogger("progress-test"))
    with caplog.at_level(logging.INFO, logger="progress-test"):
        progress.update(0)
    assert "(100%)" in caplog.text
