"""Emulator abuse over time: clients that stall mid-body or vanish must not hold slots or leave files.

A request holds one of its token's parallel-request slots (3 by default, like Metrika) for as
long as its handler runs. A client that sends headers and then nothing would hold it forever;
the emulator's body timeout (``body_timeout_seconds``, set small here) answers 408 instead.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from airflow_provider_metrika.emulator.testing import EmulatorClient
from airflow_provider_metrika.uploads import MANAGEMENT
from tests.adversarial.raw_http import (
    END,
    MULTIPART,
    assert_metrika_error,
    connect,
    exchange,
    file_part,
    read_answer,
    request_bytes,
    reset_connection,
    route,
    wait_until,
)

COUNTER = MANAGEMENT.format(counter_id=12345)
UPLOAD = route("offline_conversions", "upload_path")
CONTACTS_JSON = route("contacts", "json_path") + "?merge_mode=SAVE"
PART = file_part(b"ClientId,Target,DateTime\r\n1,paid,1600000000\r\n")
BODY_TIMEOUT = 0.3

STALLS = {
    "multipart upload, inside the file part": (UPLOAD, MULTIPART, (PART + END)[:60]),
    "multipart upload, before the closing boundary": (UPLOAD, MULTIPART, PART),
    "CDP JSON upload": (CONTACTS_JSON, "Content-Type: application/json", b'{"contacts": ['),
}


def in_flight(emulator: EmulatorClient) -> int:
    return int(emulator.request_stats()["in_flight"])


def start_stalled(port: int, path: str, content_type: str, sent: bytes):
    """Headers announcing 1000 body bytes more than ``sent``, then silence: the open socket."""
    head = request_bytes("POST", path, [content_type, f"Content-Length: {len(sent) + 1000}"], b"", content_length=False)
    sock = connect(port, timeout=10.0)
    sock.sendall(head + sent)
    return sock


@pytest.mark.parametrize("path, content_type, sent", STALLS.values(), ids=STALLS.keys())
def test_a_stalled_body_gets_408_and_frees_the_tokens_slot(
    path: str, content_type: str, sent: bytes, emulator: EmulatorClient, emulator_port: int, spool_dir: Path
):
    emulator.configure(parallel_limit=1, body_timeout_seconds=BODY_TIMEOUT)
    with start_stalled(emulator_port, path, content_type, sent) as stalled:
        wait_until(lambda: in_flight(emulator) == 1, "the stalled request holds its slot")
        refused = exchange(emulator_port, request_bytes("GET", COUNTER))
        assert_metrika_error(refused, 429, "quota_parallel_requests")

        answer = read_answer(stalled)

    assert_metrika_error(answer, 408, "timeout")
    assert in_flight(emulator) == 0
    assert exchange(emulator_port, request_bytes("GET", COUNTER)).status == 200
    assert os.listdir(spool_dir) == []
    assert emulator.uploadings() == []


def test_a_slow_but_steady_body_is_not_cut_by_the_timeout(emulator: EmulatorClient, emulator_port: int):
    """The timeout is on silence, not on the whole body: bytes every half-timeout keep it alive."""
    emulator.configure(body_timeout_seconds=BODY_TIMEOUT)
    body = PART + END
    head = request_bytes("POST", UPLOAD, [MULTIPART, f"Content-Length: {len(body)}"], b"", content_length=False)
    pieces = [body[i : i + 16] for i in range(0, len(body), 16)]
    assert len(pieces) * BODY_TIMEOUT / 2 > 2 * BODY_TIMEOUT, "the whole body must outlast the timeout"
    with connect(emulator_port) as sock:
        sock.sendall(head)
        for piece in pieces:
            sock.sendall(piece)
            _pause(BODY_TIMEOUT / 2)
        answer = read_answer(sock)

    assert answer.status == 200, answer.body
    assert len(emulator.uploadings()) == 1


def _pause(seconds: float) -> None:
    """The client's own pacing (real time is what the body timeout measures)."""
    time.sleep(seconds)


@pytest.mark.parametrize("how", ["close", "reset"])
def test_a_client_that_vanishes_mid_body_leaves_no_spool_file_and_no_held_slot(
    how: str, emulator: EmulatorClient, emulator_port: int, spool_dir: Path
):
    sock = start_stalled(emulator_port, UPLOAD, MULTIPART, PART)
    wait_until(lambda: in_flight(emulator) == 1 and len(os.listdir(spool_dir)) == 1, "the upload is being spooled")

    if how == "reset":
        reset_connection(sock)
    else:
        sock.close()

    wait_until(lambda: in_flight(emulator) == 0, "the emulator notices the client is gone")
    wait_until(lambda: os.listdir(spool_dir) == [], "the spooled part is removed")
    assert emulator.uploadings() == []
    assert exchange(emulator_port, request_bytes("GET", COUNTER)).status == 200


def test_the_body_timeout_must_be_positive(emulator: EmulatorClient):
    for bad in (0, -1, "1", None):
        with pytest.raises(Exception, match="400"):
            emulator.configure(body_timeout_seconds=bad)
    assert emulator.configure(body_timeout_seconds=2.5)["body_timeout_seconds"] == 2.5
