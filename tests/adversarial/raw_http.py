"""Requests written byte by byte over a plain socket, and their answers read back strictly.

HTTP client libraries refuse to send what a hostile client sends (an unknown method, a
broken ``Content-Length``, raw non-ASCII bytes in a header, a body cut short), so the
emulator-abuse tests speak HTTP/1.1 themselves. :func:`exchange` sends one request on a
fresh connection and parses the answer (RFC 9112: status line, headers, a body of
``Content-Length`` bytes), failing on anything malformed, and on no answer in time.
"""

from __future__ import annotations

import dataclasses
import json
import socket
import struct
import time
from collections.abc import Callable, Iterable
from typing import Any

from airflow_provider_metrika.uploads import UPLOAD_KINDS

ANSWER_TIMEOUT = 20.0
BOUNDARY = "b0undary"
MULTIPART = f"Content-Type: multipart/form-data; boundary={BOUNDARY}"
END = f"--{BOUNDARY}--\r\n".encode()


def route(kind: str, endpoint: str, counter_id: object = 12345, **kwargs: object) -> str:
    """A real route of the provider's kind table (``endpoint``: upload_path, list_path, ...)."""
    upload_kind = UPLOAD_KINDS[kind]
    return upload_kind.path(getattr(upload_kind, endpoint), counter_id, **kwargs)


def file_part(content: bytes, name: str = "file", filename: str | None = "data.csv") -> bytes:
    """One multipart part (delimited by :data:`BOUNDARY`); end the body with :data:`END`."""
    disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename is not None else "")
    head = f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\nContent-Type: text/csv\r\n\r\n"
    return head.encode() + content + b"\r\n"


@dataclasses.dataclass(frozen=True)
class RawAnswer:
    status: int
    headers: dict[str, str]
    body: bytes
    seconds: float

    def json(self) -> Any:
        return json.loads(self.body)


def request_bytes(
    method: str | bytes,
    target: str | bytes,
    headers: Iterable[str | bytes] = (),
    body: bytes = b"",
    *,
    token: str | bytes | None = "adversarial-token",
    content_length: bool = True,
) -> bytes:
    """One HTTP/1.1 request; ``headers`` are raw ``Name: value`` lines, sent as given."""
    lines = [_bytes(method) + b" " + _bytes(target) + b" HTTP/1.1", b"Host: 127.0.0.1", b"Connection: close"]
    if token is not None:
        lines.append(b"Authorization: OAuth " + _bytes(token))
    if content_length:
        lines.append(b"Content-Length: %d" % len(body))
    lines += [_bytes(line) for line in headers]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def connect(port: int, timeout: float = ANSWER_TIMEOUT) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=timeout)


def exchange(port: int, data: bytes, timeout: float = ANSWER_TIMEOUT) -> RawAnswer:
    """Send ``data`` on a new connection and read one answer; AssertionError if it is not well-formed HTTP."""
    with connect(port, timeout) as sock:
        started = time.monotonic()
        sock.sendall(data)
        return read_answer(sock, started)


def read_answer(sock: socket.socket, started: float | None = None) -> RawAnswer:
    """Read one answer from ``sock`` (its timeout bounds each wait)."""
    started = time.monotonic() if started is None else started
    buffer = b""
    while True:
        while b"\r\n\r\n" not in buffer:
            chunk = _recv(sock)
            assert chunk, f"connection closed before a complete answer head: {buffer[:200]!r}"
            buffer += chunk
        head, _, body = buffer.partition(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 1"):  # skip interim answers (100 Continue)
            break
        buffer = body
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    version, _, rest = status_line.partition(" ")
    assert version in ("HTTP/1.0", "HTTP/1.1"), f"not an HTTP status line: {status_line!r}"
    code = rest.split(" ", 1)[0]
    assert code.isdigit() and len(code) == 3, f"bad status code in {status_line!r}"
    headers: dict[str, str] = {}
    for line in header_lines:
        name, sep, value = line.partition(":")
        assert sep and name and name == name.strip(), f"malformed header line {line!r}"
        headers[name.lower()] = value.strip()
    assert "transfer-encoding" not in headers, "the emulator answers with Content-Length"
    length = int(headers["content-length"])
    while len(body) < length:
        chunk = _recv(sock)
        assert chunk, f"connection closed after {len(body)} of {length} body bytes"
        body += chunk
    assert len(body) == length, f"{len(body) - length} bytes beyond Content-Length"
    return RawAnswer(int(code), headers, body, time.monotonic() - started)


def _recv(sock: socket.socket) -> bytes:
    try:
        return sock.recv(65536)
    except TimeoutError:
        raise AssertionError("no answer in time: the connection hangs") from None


def _bytes(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else value.encode("utf-8")


def assert_metrika_error(answer: RawAnswer, status: int | None = None, error_type: str | None = None) -> dict:
    """The answer is a 4xx with Metrika's error body (``errors[0].error_type/message``, ``code``, ``message``)."""
    assert 400 <= answer.status < 500, f"expected a 4xx, got {answer.status}: {answer.body[:300]!r}"
    assert answer.headers.get("content-type", "").startswith("application/json"), answer.headers
    body = answer.json()
    assert set(body) == {"errors", "code", "message"}, body
    assert body["code"] == answer.status
    assert isinstance(body["errors"], list) and body["errors"], body
    first = body["errors"][0]
    assert isinstance(first.get("error_type"), str) and first["error_type"], body
    assert isinstance(first.get("message"), str) and first["message"] == body["message"], body
    if status is not None:
        assert answer.status == status, body
    if error_type is not None:
        assert first["error_type"] == error_type, body
    return body


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    """Poll ``condition`` (a server-side effect of a closed or stalled connection); fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.01)


def reset_connection(sock: socket.socket) -> None:
    """Close with RST (``SO_LINGER`` 0), as a crashed client or a middlebox does."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()
