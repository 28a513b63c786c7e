"""Streaming uploads against a real loopback HTTP server (no mocks between the hook and the socket)."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import queue
import re
import socket
import threading
import tracemalloc
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from airflow_provider_metrika.exceptions import MetrikaAmbiguousResponseError, MetrikaConfigError, MetrikaError
from airflow_provider_metrika.hooks.metrika import MetrikaHook
from airflow_provider_metrika.hooks.retry import RetryPolicy
from tests.unit.hooks.conftest import TOKEN, set_connection

FILE_SIZE = 20 * 1024 * 1024
OK = (200, {"uploading": {"id": 501, "status": "UPLOADED", "comment": "t"}})


class Recorder:
    """What the server saw: one entry per request, bodies spooled to disk (the server must not inflate memory)."""

    def __init__(self, spool: Path) -> None:
        self.spool = spool
        self.answers: list[tuple[int, dict] | str] = []
        self.requests: list[dict] = []
        self.finished: queue.Queue[dict] = queue.Queue()
        self.release = threading.Event()


def make_handler(recorder: Recorder):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = 10

        def log_message(self, *args):
            pass

        def do_GET(self):
            self.handle_request()

        def do_POST(self):
            self.handle_request()

        def handle_request(self):
            expected = int(self.headers.get("Content-Length", 0))
            body_file = recorder.spool / f"body-{len(recorder.requests)}.bin"
            received = 0
            with open(body_file, "wb") as sink:
                while received < expected:
                    try:
                        chunk = self.rfile.read(min(256 * 1024, expected - received))
                    except OSError:
                        chunk = b""
                    if not chunk:
                        break
                    sink.write(chunk)
                    received += len(chunk)
            seen = {
                "method": self.command,
                "path": urlsplit(self.path).path,
                "query": parse_qs(urlsplit(self.path).query),
                "headers": dict(self.headers),
                "expected": expected,
                "received": received,
                "body_file": body_file,
            }
            recorder.requests.append(seen)
            answer = recorder.answers.pop(0) if recorder.answers else OK
            if received < expected:
                recorder.finished.put(seen)
                self.close_connection = True
                return
            if answer == "hang":
                recorder.release.wait(5)
                recorder.finished.put(seen)
                self.close_connection = True
                return
            status, payload = answer
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            recorder.finished.put(seen)

    return Handler


@pytest.fixture
def server(tmp_path, monkeypatch):
    recorder = Recorder(tmp_path)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(recorder))
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    set_connection(monkeypatch, host=f"http://127.0.0.1:{httpd.server_port}", extra={"counter_id": 42})
    yield recorder
    recorder.release.set()
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def delays():
    return []


@pytest.fixture
def hook(server, delays):
    hook = MetrikaHook(sleep=delays.append, timeout=(2, 10))
    hook.retry_policy = RetryPolicy(max_retries=2, jitter=lambda: 1.0)
    yield hook
    hook.close()


@pytest.fixture(scope="module")
def big_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("upload") / "conversions.csv"
    with open(path, "wb") as out:
        out.write(b"ClientId,Target,DateTime\n")
        row = 0
        while out.tell() < FILE_SIZE:
            out.write(
                b"".join(b"%d,goal_%d,17000%05d\n" % (row + i, (row + i) % 7, (row + i) % 99999) for i in range(5000))
            )
            row += 5000
    return path


def file_part(seen: dict) -> tuple[str, bytes]:
    """The headers and content of the single multipart part the server received."""
    boundary = re.search(r"boundary=(\S+)", seen["headers"]["Content-Type"]).group(1).encode()
    body = seen["body_file"].read_bytes()
    opening, closing = b"--" + boundary + b"\r\n", b"\r\n--" + boundary + b"--\r\n"
    assert body.startswith(opening) and body.endswith(closing)
    headers, _, content = body[len(opening) : -len(closing)].partition(b"\r\n\r\n")
    return headers.decode(), content


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_streams_a_large_file_as_part_file_with_bounded_memory(hook, server, big_file):
    tracemalloc.start()
    try:
        uploading = hook.upload_file("offline_conversions", None, big_file, params={"comment": "crm 1"})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB for a {FILE_SIZE / 1e6:.0f} MB file"
    assert (uploading.uploading_id, uploading.counter_id, uploading.kind) == ("501", 42, "offline_conversions")
    [seen] = server.requests
    assert (seen["method"], seen["path"]) == ("POST", "/management/v1/counter/42/offline_conversions/upload")
    assert seen["query"] == {"comment": ["crm 1"]}
    assert seen["headers"]["Authorization"] == f"OAuth {TOKEN}"
    assert seen["received"] == seen["expected"]
    headers, content = file_part(seen)
    assert 'Content-Disposition: form-data; name="file"; filename="data.csv"' in headers
    assert "Content-Type: text/csv" in headers
    assert digest(content) == digest(big_file.read_bytes())


def test_encoder_and_file_are_rebuilt_on_retry(hook, server, big_file, delays):
    server.answers = [(503, {"errors": [{"error_type": "backend_error", "message": "busy"}]}), OK]
    opened = []

    def source():
        handle = open(big_file, "rb")  # noqa: SIM115 - the hook closes it
        opened.append(handle)
        return handle

    uploading = hook.upload_file("calls", 42, source, file_name="calls.csv", log_progress=False)
    assert uploading.uploading_id == "501"
    assert len(opened) == 2 and all(handle.closed for handle in opened)
    assert delays == [1.0]
    expected = digest(big_file.read_bytes())
    assert len(server.requests) == 2
    for seen in server.requests:
        assert seen["path"] == "/management/v1/counter/42/offline_conversions/upload_calls"
        assert seen["received"] == seen["expected"]
        headers, content = file_part(seen)
        assert 'filename="calls.csv"' in headers and digest(content) == expected


class Rejected(Exception):
    pass


class RejectedOSError(OSError):
    """urllib3 wraps OSErrors raised mid-body; the hook must still surface the original."""


@pytest.mark.parametrize("error_class", [Rejected, RejectedOSError])
def test_chunk_filter_aborts_mid_body(hook, server, big_file, delays, error_class):
    sent = []

    def chunk_filter(chunk: bytes) -> None:
        sent.append(len(chunk))
        if sum(sent) > 5 * 1024 * 1024:
            raise error_class("row 81234: bad DateTime")

    with pytest.raises(error_class, match="row 81234") as info:
        hook.upload_file("offline_conversions", 42, big_file, chunk_filter=chunk_filter)
    assert type(info.value) is error_class
    seen = server.finished.get(timeout=10)
    assert 0 < seen["received"] < seen["expected"]
    assert len(server.requests) == 1 and delays == []


def test_chunk_filter_sees_every_file_byte(hook, server, tmp_path):
    path = tmp_path / "small.csv"
    path.write_bytes(os.urandom(3 * 1024 * 1024 + 17))
    chunks: list[bytes] = []
    hook.upload_file("user_params", 42, str(path), params={"action": "update"}, chunk_filter=chunks.append)
    assert b"".join(chunks) == path.read_bytes()
    assert server.requests[0]["query"] == {"action": ["update"]}


def test_cdp_csv_upload_and_progress_lines(hook, server, tmp_path, caplog):
    server.answers = [(200, {"uploading": {"uploading_id": "x1", "api_validation_status": "PASSED"}})]
    path = tmp_path / "contacts.csv"
    path.write_bytes(b"uniq_id,name\n1,A\n")
    with caplog.at_level(logging.INFO):
        uploading = hook.upload_file("contacts", 42, path, params={"merge_mode": "SAVE", "columns_mapping": '"a":"b"'})
    assert (uploading.uploading_id, uploading.status) == ("x1", "PASSED")
    assert server.requests[0]["path"] == "/cdp/api/v1/counter/42/data/contacts/csv"
    assert server.requests[0]["query"] == {"merge_mode": ["SAVE"], "columns_mapping": ['"a":"b"']}
    assert "Metrika contacts upload of data.csv: sent" in caplog.text and "(100%)" in caplog.text
    assert TOKEN not in caplog.text


def test_read_timeout_on_upload_is_ambiguous_and_not_resent(server, big_file, delays):
    server.answers = ["hang"]
    hook = MetrikaHook(sleep=delays.append, timeout=(2, 0.3))
    try:
        with pytest.raises(MetrikaAmbiguousResponseError, match="POST /management/v1/counter/42"):
            hook.upload_file("offline_conversions", 42, big_file, log_progress=False)
    finally:
        server.release.set()
        hook.close()
    seen = server.finished.get(timeout=10)
    assert seen["received"] == seen["expected"]
    assert len(server.requests) == 1 and delays == []


def test_read_timeout_on_get_is_retried(server, delays):
    server.answers = ["hang", "hang"]
    hook = MetrikaHook(sleep=delays.append, timeout=0.3, max_retries=1)
    try:
        with pytest.raises(requests.ReadTimeout):
            hook.get_uploading("offline_conversions", 42, 1)
    finally:
        server.release.set()
        hook.close()
    assert len(server.requests) == 2 and len(delays) == 1


def test_refused_connection_retries_even_an_upload(monkeypatch, tmp_path, delays):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    set_connection(monkeypatch, host=f"http://127.0.0.1:{port}")
    opened = []
    path = tmp_path / "f.csv"
    path.write_bytes(b"a\n1\n")

    def source():
        opened.append(1)
        return open(path, "rb")

    hook = MetrikaHook(sleep=delays.append, max_retries=2)
    with pytest.raises(requests.ConnectionError):
        hook.upload_file("offline_conversions", 42, source)
    assert len(opened) == 3 and len(delays) == 2


class Unseekable(io.RawIOBase):
    def readable(self):
        return True

    def read(self, size=-1):
        return b""


class Shrinking(io.BytesIO):
    """Claims 1 MB but has nothing to read: the upload must fail, not spin."""

    def seek(self, offset, whence=0):
        return 1_000_000 if whence == os.SEEK_END else 0

    def read(self, size=-1):
        return b""


class ValidatingStream:
    """Like the operators' in-flight validator: announces ``len``, cannot seek, judges the file at EOF."""

    def __init__(self, path: Path) -> None:
        self._raw = open(path, "rb")  # noqa: SIM115 - closed by close()
        self.len = path.stat().st_size
        self.fed = 0

    def read(self, size: int = -1) -> bytes:
        chunk = self._raw.read(size)
        self.fed += len(chunk)
        if not chunk:
            raise Rejected(f"row 3 of {self.fed} bytes: bad Target")
        return chunk

    def close(self) -> None:
        self._raw.close()


def test_a_reader_that_fails_at_end_of_file_never_completes_the_body(hook, server, big_file, delays):
    streams = []

    def source():
        streams.append(ValidatingStream(big_file))
        return streams[-1]

    with pytest.raises(Rejected, match="bad Target"):
        hook.upload_file("offline_conversions", 42, source, log_progress=False)
    seen = server.finished.get(timeout=10)
    assert seen["received"] < seen["expected"]
    assert streams[0].fed == big_file.stat().st_size
    assert len(server.requests) == 1 and delays == []


class Growing(io.BytesIO):
    len = 4  # announces fewer bytes than it holds


@pytest.mark.parametrize(
    ("source", "error", "match"),
    [
        (lambda: Unseekable(), MetrikaConfigError, "seekable"),
        (lambda: io.TextIOWrapper(io.BytesIO(b"a\n")), MetrikaConfigError, "binary mode"),
        (lambda: Shrinking(), MetrikaError, "ended 1000000 bytes before"),
        (lambda: Growing(b"a,b\n1,2\n"), MetrikaError, "grew beyond"),
    ],
)
def test_bad_sources(hook, server, source, error, match):
    with pytest.raises(error, match=match):
        hook.upload_file("offline_conversions", 42, source)


def test_missing_file(hook, server, tmp_path):
    with pytest.raises(FileNotFoundError):
        hook.upload_file("offline_conversions", 42, tmp_path / "nope.csv")
    assert server.requests == []
