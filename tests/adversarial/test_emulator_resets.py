"""Resets at every byte boundary: an upload whose connection dies anywhere still yields exactly one uploading.

A loopback proxy (:mod:`.cutting_proxy`) sits between the provider and the emulator. For N
across a small upload's request, and again across its answer, it resets the connection after
N bytes: mid request line, mid headers, mid multipart body, one byte short; then after the
server stored the upload but before, inside or one byte short of the answer. By default N
takes every byte around each line break (where the parsers change state) and every
``STRIDE``-th byte in between; ``METRIKA_RESETS_EVERY_BYTE=1`` takes every byte (about 1,100
cuts, minutes on a shared machine).
Each time one task try runs the operators' exactly-once step (fingerprint search, upload,
search again when the answer was lost); when it fails, the failure must be a clear provider
error naming the request (never a bare socket or parser error, never with the token), and the
retry — the way Airflow runs the task again — must complete. Afterwards the emulator holds
exactly one uploading for that data: never none, never two.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from airflow_provider_metrika.emulator.testing import TEST_TOKEN, EmulatorClient, EmulatorProcess
from airflow_provider_metrika.exceptions import MetrikaError
from airflow_provider_metrika.hooks.metrika import MetrikaHook
from airflow_provider_metrika.jobs.fingerprint import fingerprint
from airflow_provider_metrika.jobs.record import JobRecord
from airflow_provider_metrika.jobs.sending import Part
from airflow_provider_metrika.operators.upload import MetrikaUploadOfflineConversionsOperator
from tests.adversarial.cutting_proxy import CuttingProxy

CONN_ID = "metrika_behind_cutting_proxy"
STRIDE = 23
FIRST_COUNTER = 700_000


@dataclasses.dataclass(frozen=True)
class _TaskInstance:
    dag_id: str = "resets"
    task_id: str = "upload"
    run_id: str = "every-byte"
    map_index: int = -1


@dataclasses.dataclass(frozen=True)
class _Source:
    """What the operator's exactly-once step reads of a prepared input: its name."""

    name: str


@pytest.fixture
def proxy(emulator: EmulatorClient, emulator_process: EmulatorProcess, monkeypatch) -> Iterator[CuttingProxy]:
    with CuttingProxy(emulator_process.port) as cutting:
        conn = {"conn_type": "yandex_metrika", "host": cutting.url, "password": TEST_TOKEN}
        monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps(conn))
        yield cutting


def test_a_reset_at_any_byte_of_the_upload_exchange_never_duplicates_or_loses_it(
    proxy: CuttingProxy, emulator: EmulatorClient, tmp_path: Path
):
    data = tmp_path / "conversions.csv"
    data.write_bytes(b"ClientId,Target,DateTime\n1,paid,1600000000\n")
    operator = MetrikaUploadOfflineConversionsOperator(
        task_id="upload", src=str(data), metrika_conn_id=CONN_ID, comment="crm"
    )
    operator.__dict__["hook"] = MetrikaHook(CONN_ID, sleep=lambda seconds: None)
    mark = fingerprint({"ti": _TaskInstance()}, "digest")
    counters = iter(range(FIRST_COUNTER, FIRST_COUNTER + 10_000))

    def task_try(counter_id: int) -> JobRecord:
        """One try of the operators' exactly-once step (search, upload, search again after a lost answer)."""
        operator.__dict__["counter"] = counter_id
        return operator.send_once(Part(0, 1, _Source(data.name), data, mark))

    task_try(next(counters))
    request, response = proxy.last_exchange
    assert request.startswith(b"POST ") and response.startswith(b"HTTP/1.1 200"), proxy.last_exchange

    failures: dict[str, int] = {}
    for direction, sent in (("request", request), ("response", response)):
        for after in cut_points(sent):
            counter_id = next(counters)
            fired = proxy.fired
            proxy.arm(direction, after)
            try:
                uploading = task_try(counter_id)
            except MetrikaError as error:  # this try fails; Airflow runs the task again
                assert_clear(error, f"cut after {after} {direction} bytes")
                failures[type(error).__name__] = failures.get(type(error).__name__, 0) + 1
                proxy.disarm()
                uploading = task_try(counter_id)
            assert proxy.fired == fired + 1, f"the {direction} was shorter than {after + 1} bytes"

            stored = emulator.uploadings(counter_id=counter_id)
            assert [item["id"] for item in stored] == [int(uploading.job_id)], (
                f"cut after {after} {direction} bytes: {len(stored)} uploadings"
            )
    assert failures, "no cut ever failed a try: the proxy did not cut"


def cut_points(sent: bytes) -> list[int]:
    """Where to cut ``sent``: every byte, or those around each line break and every ``STRIDE``-th."""
    if os.environ.get("METRIKA_RESETS_EVERY_BYTE") == "1":
        return list(range(len(sent)))
    points = set(range(0, len(sent), STRIDE)) | {len(sent) - 2, len(sent) - 1}
    for found in re.finditer(rb"\r\n", sent):
        points |= {found.start(), found.start() + 1, found.end()}
    return sorted(point for point in points if 0 <= point < len(sent))


def assert_clear(error: MetrikaError, where: str) -> None:
    text = str(error)
    assert TEST_TOKEN not in text, f"{where}: the token is in {text!r}"
    assert "POST" in text or "GET" in text, f"{where}: the error does not name the request: {text!r}"
