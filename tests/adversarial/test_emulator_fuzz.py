"""Emulator abuse, property-based: random raw requests under the real route prefixes never get a 500.

Hypothesis writes requests byte by byte (see :mod:`.raw_http`): methods known and unknown,
the provider's own route templates with ids of any size and shape, query parameters the
handlers read with hostile values, Authorization and Content-Type variants, extra header
lines, and bodies that are multipart, JSON, or noise — with a Content-Length that is right,
short or long. Whatever comes, the answer must be well-formed HTTP within a bounded time,
never a 5xx, Metrika's error shape for every 4xx, and the emulator must keep serving.
"""

from __future__ import annotations

import json
import urllib.parse

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_provider_metrika.emulator.testing import EmulatorClient
from airflow_provider_metrika.uploads import CDP, MANAGEMENT, UPLOAD_KINDS
from tests.adversarial.raw_http import BOUNDARY, END, assert_metrika_error, exchange, file_part, request_bytes

BODY_TIMEOUT = 0.1
ANSWER_BOUND = 10.0  # seconds; generous (a shared machine), far below "hangs"
ENDPOINTS = {
    "upload_path": b"POST",
    "list_path": b"GET",
    "get_path": b"GET",
    "confirm_path": b"POST",
    "json_path": b"POST",
}
ROUTES = sorted(
    {(MANAGEMENT, b"GET"), (CDP + "/last_uploadings", b"GET")}
    | {
        (template, method)
        for kind in UPLOAD_KINDS.values()
        for endpoint, method in ENDPOINTS.items()
        if (template := getattr(kind, endpoint, None))
    }
)
MULTIPART_TYPE = f"multipart/form-data; boundary={BOUNDARY}"
QUERY_NAMES = (
    "limit",
    "offset",
    "comment",
    "type",
    "action",
    "merge_mode",
    "columns_mapping",
    "delimiter_type",
    "datetime_offset",
    "source",
    "new_goal_name",
    "client_id_type",
)
CSV_HEADERS = (b"ClientId,Target,DateTime", b"UserId,key", b"uniq_id,name", b"id,client_uniq_id", b"", b"\xef\xbb\xbf,")

BOUNDARY_IDS = ["0", "-1", str(2**31), str(2**63 - 1), str(2**63), str(2**64), "9" * 19, "9" * 40, "1e3", "%FF", ""]
ids = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.sampled_from(BOUNDARY_IDS),
    st.sampled_from(BOUNDARY_IDS),
    st.text(alphabet=st.characters(codec="utf-8", exclude_characters="/?#"), max_size=12).map(
        lambda text: urllib.parse.quote(text, safe="")
    ),
)
values = st.one_of(
    ids,
    st.sampled_from(["BASIC", "CALLS", "SAVE", "APPEND", "COMMA", "SEMICOLON", "update", "API", "2020-02-10 10:00:00"]),
    st.text(max_size=40),
)


def valid_query(template: str) -> str:
    """What the route needs to get as far as reading its body."""
    if template.startswith(CDP) and "columns_mapping" not in template and template.endswith("/csv"):
        return "merge_mode=SAVE&columns_mapping=%22uniq_id%22:%22uniq_id%22,%22id%22:%22id%22"
    if template.startswith(CDP) and not template.endswith("last_uploadings"):
        return "merge_mode=SAVE"
    if "user_params" in template and template.endswith("upload"):
        return "action=update"
    return ""


def multipart(content: bytes, filename: str | None = "data.csv") -> bytes:
    return file_part(content, filename=filename) + END


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)
csv_files = st.builds(
    lambda header, rows: header + b"\r\n" + b"\r\n".join(rows),
    st.sampled_from(CSV_HEADERS),
    st.lists(st.binary(max_size=30), max_size=4),
)
bodies = st.one_of(
    st.just((b"", None)),
    st.binary(max_size=200).map(lambda raw: (raw, None)),
    csv_files.map(lambda csv: (multipart(csv), MULTIPART_TYPE)),
    csv_files.map(lambda csv: (multipart(csv, filename=None), MULTIPART_TYPE)),
    csv_files.map(lambda csv: (multipart(csv)[:-5], MULTIPART_TYPE)),
    json_values.map(lambda value: (json.dumps({"contacts": value}).encode(), "application/json")),
    json_values.map(lambda value: (json.dumps(value).encode(), "application/json")),
)
content_types = st.one_of(
    st.none(),
    st.sampled_from(
        ["multipart/form-data", "multipart/form-data; boundary=", "application/json", "text/csv", "multipart/mixed"]
    ),
    st.text(max_size=30),
)
authorizations = st.one_of(
    st.just(b"Authorization: OAuth fuzz-token"),
    st.just(b"Authorization: OAuth fuzz-token"),
    st.just(b"Authorization: OAuth fuzz-token"),
    st.just(b""),
    st.sampled_from([b"Authorization: Bearer fuzz-token", b"Authorization: OAuth", b"Authorization: OAuth a b"]),
    st.binary(max_size=24).map(lambda raw: b"Authorization: OAuth " + raw),
)
header_lines = st.lists(
    st.one_of(
        st.just(b"User-Agent: fuzz"),
        st.just(b"Accept: */*"),
        st.binary(min_size=1, max_size=40),
        st.tuples(st.from_regex(r"[A-Za-z][A-Za-z-]{0,15}", fullmatch=True), st.binary(max_size=40)).map(
            lambda pair: pair[0].encode() + b": " + pair[1]
        ),
        st.sampled_from(
            [
                b"Transfer-Encoding: chunked",
                b"Content-Encoding: gzip",
                b"Expect: 100-continue",
                b"Connection: keep-alive",
            ]
        ),
    ),
    max_size=3,
)
methods = st.one_of(
    st.sampled_from([b"GET", b"POST", b"PUT", b"DELETE", b"PATCH", b"OPTIONS"]),
    st.from_regex(rb"[A-Z]{1,10}", fullmatch=True),
    st.binary(min_size=1, max_size=8),
)


HOSTILE = ("counter", "uploading", "path", "query", "method", "auth", "headers", "content_type", "body", "length")
VALID_CSV = b"ClientId,Target,DateTime,uniq_id,id,UserId,key\r\n1,paid,1600000000,1,1,1,v\r\n"


@st.composite
def raw_requests(draw: st.DrawFn) -> bytes:
    """A request a real route would accept, with one or two of its parts made hostile."""
    template, method = draw(st.sampled_from(ROUTES))
    hostile = draw(st.sets(st.sampled_from(HOSTILE), min_size=1, max_size=2))

    def pick(part: str, strategy: st.SearchStrategy, valid: object) -> object:
        return draw(strategy) if part in hostile else valid

    path = template.format(counter_id=pick("counter", ids, "12345"), uploading_id=pick("uploading", ids, "1"))
    path += pick("path", st.sampled_from([".json", "/", "/extra", "//", "/..", "%00"]), "")
    pairs = pick("query", st.lists(st.tuples(st.sampled_from(QUERY_NAMES), values), min_size=1, max_size=4), [])
    query = "&".join(filter(None, [valid_query(template), urllib.parse.urlencode(pairs)]))
    target = path.encode() + (b"?" + query.encode() if query else b"")
    if "path" in hostile and draw(st.booleans()):  # raw bytes no client would send unencoded
        target += draw(st.binary(min_size=1, max_size=8))
    if template.endswith(("upload", "csv", "simple_orders", "upload_calls")):
        valid_body = (multipart(VALID_CSV), MULTIPART_TYPE)
    elif "json" in template:
        valid_body = (b'{"contacts": [{"uniq_id": "1"}], "orders": []}', "application/json")
    else:
        valid_body = (b"", None)
    body, body_type = pick("body", bodies, valid_body)
    content_type = pick("content_type", content_types, body_type)
    lines = [pick("auth", authorizations, b"Authorization: OAuth fuzz-token")]
    if content_type is not None:
        lines.append(b"Content-Type: " + content_type.encode("utf-8", "surrogateescape"))
    lines += pick("headers", header_lines, [])
    length = len(body) + pick("length", st.sampled_from([-1, 1, 5, -len(body)]), 0)
    lines.append(b"Content-Length: %d" % max(length, 0))
    method = pick("method", methods, method)
    return request_bytes(method, target, [line for line in lines if line], body, token=None, content_length=False)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    print_blob=True,
)
@given(data=raw_requests())
def test_any_request_gets_a_well_formed_answer_and_never_a_5xx(
    data: bytes, emulator: EmulatorClient, emulator_port: int
):
    emulator.configure(body_timeout_seconds=BODY_TIMEOUT)

    answer = exchange(emulator_port, data, timeout=ANSWER_BOUND)

    assert answer.status < 500, f"{answer.status} for {data[:300]!r}: {answer.body[:300]!r}"
    assert answer.seconds < ANSWER_BOUND
    if answer.status >= 400:
        assert_metrika_error(answer)
    assert emulator.health()
