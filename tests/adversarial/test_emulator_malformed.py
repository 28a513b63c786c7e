"""Emulator abuse, table-driven: each hostile request gets a 4xx in Metrika's error shape, never a 500.

Every request goes over a raw socket (see :mod:`.raw_http`), so bytes no HTTP library would
send reach the server. After each one the emulator must have stored nothing, kept no spooled
file, and still answer.
"""

from __future__ import annotations

import dataclasses
import gzip
import os
from pathlib import Path

import pytest

from airflow_provider_metrika.emulator.testing import EmulatorClient
from airflow_provider_metrika.uploads import CDP as CDP_PREFIX
from airflow_provider_metrika.uploads import MANAGEMENT
from tests.adversarial.raw_http import (
    END,
    MULTIPART,
    assert_metrika_error,
    connect,
    exchange,
    read_answer,
    request_bytes,
    route,
)
from tests.adversarial.raw_http import file_part as raw_file_part

COUNTER = MANAGEMENT.format(counter_id=12345)
CDP = CDP_PREFIX.format(counter_id=12345)
UPLOAD = route("offline_conversions", "upload_path")
USER_PARAMS = route("user_params", "upload_path") + "?action=update"
CONTACTS_JSON = route("contacts", "json_path") + "?merge_mode=SAVE"
CONTACTS_CSV = route("contacts", "upload_path") + "?merge_mode=SAVE&columns_mapping=%22uniq_id%22:%22id%22"
CSV = b"ClientId,Target,DateTime\r\n1,paid,1600000000\r\n"
TWO_63 = str(2**63)


def file_part(content: bytes = CSV, name: str = "file", filename: str | None = "data.csv") -> bytes:
    return raw_file_part(content, name, filename)


def deep_json(depth: int, root: bytes = b"") -> bytes:
    nested = b"[" * depth + b"]" * depth
    return b'{"' + root + b'": ' + nested + b"}" if root else nested


@dataclasses.dataclass(frozen=True)
class Case:
    name: str
    data: bytes
    status: int | None = 400
    error_type: str | None = None


def upload(body: bytes, content_type: str = MULTIPART, path: str = UPLOAD, extra: tuple[str, ...] = ()) -> bytes:
    return request_bytes("POST", path, [content_type, *extra], body)


def get(path: str, **kwargs) -> bytes:
    return request_bytes("GET", path, **kwargs)


CASES = [
    # -- multipart bodies ----------------------------------------------------------------------
    Case(
        "multipart without boundary",
        upload(file_part() + END, "Content-Type: multipart/form-data"),
        400,
        "invalid_uploading",
    ),
    Case(
        "another boundary than declared",
        upload(file_part() + END, "Content-Type: multipart/form-data; boundary=other"),
        400,
        "invalid_uploading",
    ),
    Case(
        "empty boundary",
        upload(file_part() + END, 'Content-Type: multipart/form-data; boundary=""'),
        400,
        "invalid_uploading",
    ),
    Case(
        "boundary over 70 characters",
        upload(file_part() + END, "Content-Type: multipart/form-data; boundary=" + "b" * 71),
        400,
        "invalid_uploading",
    ),
    Case("plain body under a multipart type", upload(CSV), 400, "invalid_uploading"),
    Case("body cut before the closing boundary", upload(file_part()), 400, "invalid_uploading"),
    Case("body cut inside the file part", upload(file_part()[:-20]), 400, "invalid_uploading"),
    Case("body cut inside the part headers", upload(file_part()[:30]), 400, "invalid_uploading"),
    Case("two file parts", upload(file_part() + file_part() + END), 400, "invalid_uploading"),
    Case("empty file part", upload(file_part(b"") + END), 400, "invalid_uploading"),
    Case("file part without a filename", upload(file_part(filename=None) + END), 400, "missing_parameter"),
    Case("file part with an empty filename", upload(file_part(filename="") + END), 400, "missing_parameter"),
    Case("no file part at all", upload(file_part(name="other") + END), 400, "missing_parameter"),
    Case("only an end boundary", upload(END), 400, "missing_parameter"),
    Case(
        "an over-long _charset_ part",
        upload(file_part(b"x" * 40, name="_charset_", filename=None) + file_part() + END),
        400,
        "invalid_uploading",
    ),
    Case(
        "Content-Encoding gzip that is not gzip",
        upload(file_part() + END, extra=("Content-Encoding: gzip",)),
        400,
        "invalid_uploading",
    ),
    Case(
        "gzip body that stops early",
        upload(gzip.compress(file_part() + END)[:-12], extra=("Content-Encoding: gzip",)),
        400,
        "invalid_uploading",
    ),
    Case(
        "user params: multipart without boundary",
        upload(file_part() + END, "Content-Type: multipart/form-data", USER_PARAMS),
        400,
        "invalid_uploading",
    ),
    Case(
        "CDP CSV: body cut before the closing boundary",
        upload(file_part(b"id\r\n1\r\n"), path=CONTACTS_CSV),
        400,
        "invalid_uploading",
    ),
    Case(
        "CDP CSV: two file parts",
        upload(file_part(b"id\r\n1\r\n") * 2 + END, path=CONTACTS_CSV),
        400,
        "invalid_uploading",
    ),
    # -- ids and numbers beyond int32/int64 --------------------------------------------------
    Case("counter id 2^63", get(MANAGEMENT.format(counter_id=TWO_63)), 400, "invalid_parameter"),
    Case(
        "counter id 2^63 on a stored list",
        get(route("offline_conversions", "list_path", TWO_63)),
        400,
        "invalid_parameter",
    ),
    Case(
        "counter id 2^63 on an upload",
        upload(file_part() + END, path=route("calls", "upload_path", TWO_63)),
        400,
        "invalid_parameter",
    ),
    Case("counter id of 5000 digits", get(MANAGEMENT.format(counter_id="9" * 5000)), 400, "invalid_parameter"),
    Case(
        "CDP counter id 2^64", get(CDP_PREFIX.format(counter_id=2**64) + "/last_uploadings"), 400, "invalid_parameter"
    ),
    Case(
        "uploading id 2^63",
        get(route("offline_conversions", "get_path", uploading_id=TWO_63)),
        400,
        "invalid_parameter",
    ),
    Case(
        "calls uploading id 10^30",
        get(route("calls", "get_path", uploading_id=10**30)),
        400,
        "invalid_parameter",
    ),
    Case(
        "confirm of uploading id 2^63",
        request_bytes("POST", route("user_params", "confirm_path", uploading_id=TWO_63)),
        400,
        "invalid_parameter",
    ),
    Case("limit 2^63", get(route("offline_conversions", "list_path") + f"?limit={TWO_63}"), 400, "invalid_parameter"),
    Case("offset 2^63", get(route("offline_conversions", "list_path") + f"?offset={TWO_63}"), 400, "invalid_parameter"),
    Case("limit 2^31 (int32)", get(route("user_params", "list_path") + f"?limit={2**31}"), 400, "invalid_parameter"),
    Case("negative offset", get(route("calls", "list_path") + "?offset=-1"), 400, "invalid_parameter"),
    Case("non-numeric limit", get(route("offline_conversions", "list_path") + "?limit=ten"), 400, "invalid_parameter"),
    Case(
        "limit with underscores",
        get(route("offline_conversions", "list_path") + "?limit=1_0"),
        400,
        "invalid_parameter",
    ),
    Case(
        "limit of 5000 digits",
        get(route("offline_conversions", "list_path") + "?limit=" + "7" * 5000),
        400,
        "invalid_parameter",
    ),
    Case("CDP limit 2^63", get(f"{CDP}/last_uploadings?limit={TWO_63}"), 400, "invalid_parameter"),
    # -- tokens --------------------------------------------------------------------------------
    Case("token with raw non-UTF-8 bytes", get(COUNTER, token=b"\xff\xfe\x80abc"), 401, "unauthorized"),
    Case("token with UTF-8 non-ASCII", get(COUNTER, token="токен".encode()), 401, "unauthorized"),
    Case(
        "upload with a non-ASCII token",
        request_bytes("POST", UPLOAD, [MULTIPART], file_part() + END, token=b"\xc3\x28"),
        401,
        "unauthorized",
    ),
    # -- CDP JSON ------------------------------------------------------------------------------
    Case(
        "JSON nested 100,000 deep",
        upload(deep_json(100_000), "Content-Type: application/json", CONTACTS_JSON),
        400,
        "invalid_json",
    ),
    Case(
        "JSON nested 100,000 deep under the root key",
        upload(deep_json(100_000, b"contacts"), "Content-Type: application/json", CONTACTS_JSON),
        400,
        "invalid_json",
    ),
    Case(
        "JSON that is a number",
        upload(b"42", "Content-Type: application/json", CONTACTS_JSON),
        400,
        "invalid_parameter",
    ),
    Case(
        "JSON that is an array",
        upload(b'[{"uniq_id": "1"}]', "Content-Type: application/json", CONTACTS_JSON),
        400,
        "invalid_parameter",
    ),
    Case(
        "JSON root that is not a list",
        upload(b'{"contacts": {"uniq_id": "1"}}', "Content-Type: application/json", CONTACTS_JSON),
        400,
        "invalid_parameter",
    ),
    Case(
        "JSON that is not UTF-8",
        upload(b'{"contacts": ["\xff"]}', "Content-Type: application/json", CONTACTS_JSON),
        400,
        "invalid_json",
    ),
    Case(
        "JSON announced beyond the size limit",
        request_bytes(
            "POST",
            CONTACTS_JSON,
            ["Content-Type: application/json", f"Content-Length: {1 << 40}"],
            b"{",
            content_length=False,
        ),
        413,
        "invalid_uploading",
    ),
    # -- methods and framing -------------------------------------------------------------------
    Case("unknown method", request_bytes("FROB", COUNTER), 400),
    Case("method with a control byte", request_bytes(b"G\x01T", COUNTER), 400),
    Case("known method, no such route", request_bytes("DELETE", COUNTER), 405, "method_not_allowed"),
    Case("PATCH on the upload route", request_bytes("PATCH", UPLOAD), 405, "method_not_allowed"),
    Case(
        "non-numeric Content-Length",
        request_bytes("POST", UPLOAD, ["Content-Length: abc"], b"x", content_length=False),
        400,
    ),
    Case(
        "negative Content-Length",
        request_bytes("POST", UPLOAD, ["Content-Length: -5"], b"x", content_length=False),
        400,
    ),
    Case(
        "two Content-Lengths",
        request_bytes("POST", UPLOAD, ["Content-Length: 1", "Content-Length: 2"], b"xx", content_length=False),
        400,
    ),
    Case(
        "Content-Length overflow",
        request_bytes("POST", UPLOAD, ["Content-Length: " + "9" * 30], b"x", content_length=False),
        400,
    ),
    Case(
        "Content-Length and chunked",
        request_bytes(
            "POST", UPLOAD, ["Content-Length: 3", "Transfer-Encoding: chunked"], b"0\r\n\r\n", content_length=False
        ),
        400,
    ),
    Case(
        "bad chunk size",
        request_bytes(
            "POST", UPLOAD, [MULTIPART, "Transfer-Encoding: chunked"], b"zz\r\nabc\r\n0\r\n\r\n", content_length=False
        ),
        400,
    ),
    Case("header line over 8 KiB", get(COUNTER, headers=["X-Long: " + "a" * 9000]), None),
    Case("request target over 8 KiB", get(COUNTER + "?comment=" + "a" * 9000), None),
    Case("header without a colon", get(COUNTER, headers=["NoColonHere"]), 400),
]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_hostile_request_gets_a_metrika_4xx(case: Case, emulator_port: int, spool_dir: Path, emulator: EmulatorClient):
    answer = exchange(emulator_port, case.data)

    body = assert_metrika_error(answer, case.status, case.error_type)
    assert len(body["message"]) < 400, "error messages must not echo unbounded input"
    assert "токен" not in body["message"] and "\\udc" not in answer.body.decode("latin-1")
    assert os.listdir(spool_dir) == [], "a failed upload left its spooled file behind"
    assert emulator.uploadings() == []
    assert emulator.health()


PARSE_ERRORS_WITH_THE_TOKEN = {
    "bad Content-Length": request_bytes("POST", UPLOAD, ["Content-Length: x-secret"], b"", content_length=False),
    "over-long Authorization": get(COUNTER, token="x-secret" + "a" * 9000),
    "control byte in Authorization": get(COUNTER, token=b"x-secret\x01"),
    "token in an over-long target": get(COUNTER + "?x-secret=" + "a" * 9000),
}


@pytest.mark.parametrize("data", PARSE_ERRORS_WITH_THE_TOKEN.values(), ids=PARSE_ERRORS_WITH_THE_TOKEN.keys())
def test_the_parse_error_answer_never_quotes_the_raw_request(data: bytes, emulator_port: int):
    """aiohttp's own messages quote the offending bytes, which may carry the token; the emulator's answer does not."""
    answer = exchange(emulator_port, data)

    assert_metrika_error(answer)
    assert b"x-secret" not in answer.body and b"adversarial-token" not in answer.body


def test_a_json_body_beyond_the_limit_is_refused_while_streaming(emulator_port: int, emulator: EmulatorClient):
    """Chunked, so no Content-Length gives the size away: the emulator stops reading at its limit (64 MiB)."""
    chunk = b" " * (1 << 20)
    frame = b"%x\r\n" % len(chunk) + chunk + b"\r\n"
    head = request_bytes(
        "POST",
        CONTACTS_JSON,
        ["Content-Type: application/json", "Transfer-Encoding: chunked"],
        b"",
        content_length=False,
    )
    with connect(emulator_port) as sock:
        sock.sendall(head + b'3\r\n{"c\r\n')
        try:
            for _ in range(66):
                sock.sendall(frame)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the emulator may close once it has answered
        answer = read_answer(sock)

    assert_metrika_error(answer, 413, "invalid_uploading")
    assert emulator.uploadings() == []


def test_user_params_bodies_nested_too_deep_get_400(metrika_api, emulator_port: int):
    """Confirm (and the legacy PUT) parse a JSON body too: 100,000 levels are refused, not a RecursionError."""
    uploading = metrika_api.upload(USER_PARAMS, "ClientId,level\n1,gold\n").json()["uploading"]
    for method, endpoint in (("POST", "confirm_path"), ("PUT", "get_path")):
        path = route("user_params", endpoint, uploading_id=uploading["id"])
        answer = exchange(
            emulator_port, request_bytes(method, path, ["Content-Type: application/json"], deep_json(100_000))
        )

        assert_metrika_error(answer, 400, "invalid_json")


def test_control_bodies_nested_too_deep_get_400(emulator_port: int):
    answer = exchange(emulator_port, request_bytes("POST", "/_emulator/faults", [], deep_json(100_000), token=None))

    assert_metrika_error(answer, 400, "invalid_json")
