"""The retry policy: what is retried, how long it waits, how error bodies become exceptions."""

from __future__ import annotations

import email.utils
import http.client
import json
import time

import aiohttp
import pytest
import requests
import urllib3.exceptions

from airflow_provider_metrika.exceptions import (
    MAX_BODY_CHARS,
    MetrikaAmbiguousResponseError,
    MetrikaApiError,
    MetrikaClientError,
    MetrikaRetryableError,
)
from airflow_provider_metrika.hooks.metrika_api import DIALECT as METRIKA
from airflow_provider_metrika.hooks.redaction import WITHHELD
from airflow_provider_metrika.hooks.retry import (
    MAX_RETRY_AFTER,
    RetryPolicy,
    decode_response,
    describe,
    error_from_response,
    is_connect_failure,
    is_retryable,
    is_retryable_status,
    parse_retry_after,
    transport_failure,
)
from tests.unit.hooks.conftest import TOKEN, error_body


@pytest.mark.parametrize(("status", "retryable"), [(420, True), (429, True), (500, True), (503, True), (504, True)])
def test_retryable_statuses(status, retryable):
    assert is_retryable_status(status) is retryable


@pytest.mark.parametrize(
    ("status", "error_type", "retryable"),
    [
        (429, "quota_parallel_requests", True),
        (420, "quota_requests_by_ip", True),
        (429, "quota_requests_by_uid", False),  # spent for the day: resets at midnight
        (420, "quota_requests_by_counter_id", False),
    ],
)
def test_daily_quotas_are_not_retried(status, error_type, retryable):
    error = error_from_response(
        status, json.dumps(error_body(status, error_type, "quota")), method="GET", path="/x", dialect=METRIKA
    )
    assert error.error_type == error_type
    assert is_retryable(error) is retryable


@pytest.mark.parametrize("status", [400, 401, 403, 404, 406, 409, 413])
def test_other_4xx_never_retryable(status):
    assert not is_retryable_status(status)
    assert not is_retryable(error_from_response(status, "", method="GET", path="/x", dialect=METRIKA))


def connection_refused() -> requests.ConnectionError:
    reason = urllib3.exceptions.NewConnectionError(None, "Failed to establish a new connection: refused")
    return requests.ConnectionError(urllib3.exceptions.MaxRetryError(None, "/x", reason))


def connection_aborted() -> requests.ConnectionError:
    return requests.ConnectionError(
        urllib3.exceptions.ProtocolError("Connection aborted.", http.client.RemoteDisconnected("closed"))
    )


@pytest.mark.parametrize(
    "error",
    [
        connection_refused(),
        connection_aborted(),
        requests.ConnectTimeout(),
        requests.ReadTimeout(),
        requests.exceptions.ChunkedEncodingError(),
        aiohttp.ServerDisconnectedError(),
        TimeoutError(),
    ],
)
def test_transport_errors_are_retryable(error):
    assert is_retryable(error)


@pytest.mark.parametrize("error", [ValueError("x"), requests.exceptions.InvalidURL(), KeyError("k")])
def test_other_errors_are_not_retryable(error):
    assert not is_retryable(error)


@pytest.mark.parametrize(
    ("error", "connect_failure"),
    [
        (connection_refused(), True),
        (requests.ConnectTimeout(), True),
        (connection_aborted(), False),
        (requests.ReadTimeout(), False),
        (requests.exceptions.ChunkedEncodingError(), False),
        (aiohttp.ServerDisconnectedError(), False),
        (aiohttp.ConnectionTimeoutError(), True),
    ],
)
def test_connect_failure_detection(error, connect_failure):
    assert is_connect_failure(error) is connect_failure


def test_connect_failure_found_through_exception_chaining():
    try:
        try:
            raise urllib3.exceptions.NewConnectionError(None, "refused")
        except urllib3.exceptions.NewConnectionError:
            raise requests.ConnectionError("wrapped") from None  # context still records the cause
    except requests.ConnectionError as error:
        assert is_connect_failure(error)


class TestTransportFailure:
    def test_idempotent_requests_keep_the_error(self):
        error = requests.ReadTimeout()
        assert transport_failure(error, idempotent=True, method="GET", path="/x", service="Metrika") is error

    def test_connect_failures_keep_the_error_even_for_post(self):
        error = connection_refused()
        assert transport_failure(error, idempotent=False, method="POST", path="/x", service="Metrika") is error

    def test_non_transient_errors_are_untouched(self):
        error = requests.exceptions.InvalidURL()
        assert transport_failure(error, idempotent=False, method="POST", path="/x", service="Metrika") is error

    @pytest.mark.parametrize(
        "error", [requests.ReadTimeout(), connection_aborted(), requests.exceptions.ChunkedEncodingError()]
    )
    def test_maybe_sent_post_becomes_ambiguous(self, error):
        failure = transport_failure(error, idempotent=False, method="POST", path="/upload", service="Metrika")
        assert isinstance(failure, MetrikaAmbiguousResponseError)
        assert "POST /upload" in str(failure) and type(error).__name__ in str(failure)
        assert not is_retryable(failure)


class TestRetryAfter:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [(None, None), ("", None), ("  ", None), ("7", 7.0), ("1.5", 1.5), ("-3", 0.0), ("1000", MAX_RETRY_AFTER)],
    )
    def test_seconds(self, value, expected):
        assert parse_retry_after(value) == expected

    def test_http_date(self):
        now = 1_700_000_000.0
        value = email.utils.formatdate(now + 30, usegmt=True)
        assert parse_retry_after(value, now=lambda: now) == 30.0

    def test_http_date_in_the_past_means_now(self):
        assert parse_retry_after(email.utils.formatdate(time.time() - 60, usegmt=True)) == 0.0

    @pytest.mark.parametrize("value", ["soon", "nan", "Mon, 99 Foo 2024"])
    def test_unreadable(self, value):
        assert parse_retry_after(value) is None


class TestErrorMapping:
    def test_metrika_error_body(self):
        error = error_from_response(
            400,
            '{"errors":[{"error_type":"invalid_uploading","message":"bad header"}],"code":400,"message":"x"}',
            method="POST",
            path="/up",
            dialect=METRIKA,
        )
        assert isinstance(error, MetrikaClientError)
        assert (error.status, error.error_type, error.message) == (400, "invalid_uploading", "bad header")
        assert str(error) == "Metrika API error 400 invalid_uploading on POST /up: bad header"

    def test_several_errors_are_joined(self):
        body = {"errors": [{"error_type": "a", "message": "one"}, {"error_type": "b", "message": "two"}]}
        error = error_from_response(400, json.dumps(body), method="GET", path="/", dialect=METRIKA)
        assert (error.error_type, error.message) == ("a", "one; two")

    def test_top_level_message_only(self):
        error = error_from_response(
            404, '{"code":404,"message":"no such counter"}', method="GET", path="/", dialect=METRIKA
        )
        assert (error.error_type, error.message) == ("unknown", "no such counter")

    def test_json_without_reason(self):
        assert error_from_response(404, "{}", method="GET", path="/", dialect=METRIKA).message == "no reason given"

    def test_html_body_from_a_proxy(self):
        html = "<html><head><title>502 Bad Gateway</title></head><body>" + "<p>nginx</p>" * 500 + "</body></html>"
        error = error_from_response(502, html, method="GET", path="/", dialect=METRIKA, retry_after="3")
        assert isinstance(error, MetrikaRetryableError)
        assert error.error_type == "unknown"
        assert error.message.startswith("502 Bad Gateway nginx")
        assert "<" not in error.message and len(error.message) <= MAX_BODY_CHARS
        assert error.retry_after == 3.0

    def test_empty_body(self):
        assert error_from_response(503, "", method="GET", path="/", dialect=METRIKA).message == "empty response body"

    def test_client_errors_ignore_retry_after(self):
        assert (
            error_from_response(400, "{}", method="GET", path="/", dialect=METRIKA, retry_after="5").retry_after is None
        )

    def test_token_is_scrubbed_from_messages(self):
        body = error_body(403, "invalid_token", f"token {TOKEN} is not valid")
        error = error_from_response(403, json.dumps(body), method="GET", path="/", dialect=METRIKA, secrets=[TOKEN])
        assert TOKEN not in str(error) and error.message == WITHHELD and error.error_type == "invalid_token"

    def test_decode_success(self):
        assert decode_response(200, '{"a": 1}', method="GET", path="/", dialect=METRIKA) == {"a": 1}
        assert decode_response(204, "", method="GET", path="/", dialect=METRIKA) == {}

    @pytest.mark.parametrize("body", ["[1]", "<html>ok</html>"])
    def test_decode_non_object_success(self, body):
        with pytest.raises(MetrikaApiError, match="invalid_response") as info:
            decode_response(200, body, method="GET", path="/", dialect=METRIKA)
        assert not is_retryable(info.value)

    def test_decode_raises_typed_errors(self):
        with pytest.raises(MetrikaRetryableError):
            decode_response(429, "{}", method="GET", path="/", dialect=METRIKA)
        with pytest.raises(MetrikaClientError):
            decode_response(301, "", method="GET", path="/", dialect=METRIKA)

    def test_describe(self):
        assert describe(error_from_response(503, "", method="GET", path="/", dialect=METRIKA)) == "HTTP 503 unknown"
        assert describe(requests.ReadTimeout()) == "ReadTimeout"


class TestRetryPolicy:
    def test_full_jitter_exponential_backoff_capped(self):
        policy = RetryPolicy(jitter=lambda: 1.0)
        assert [policy.delay(n) for n in range(1, 9)] == [1, 2, 4, 8, 16, 32, 60, 60]
        assert RetryPolicy(jitter=lambda: 0.25).delay(3) == 1.0

    def test_default_jitter_stays_within_the_ceiling(self):
        delays = [RetryPolicy().delay(4) for _ in range(200)]
        assert all(0 <= d < 8 for d in delays) and len(set(delays)) > 1

    def test_retry_after_wins_and_is_capped(self):
        policy = RetryPolicy(jitter=lambda: 1.0)
        assert policy.delay(1, MetrikaRetryableError(429, "q", "m", retry_after=12)) == 12
        assert policy.delay(1, MetrikaRetryableError(429, "q", "m", retry_after=9999)) == MAX_RETRY_AFTER

    def test_call_retries_then_succeeds(self):
        outcomes = [MetrikaRetryableError(503, "backend_error", "m"), requests.ConnectTimeout(), "ok"]
        delays: list[float] = []

        def attempt():
            outcome = outcomes.pop(0)
            if isinstance(outcome, Exception):
                raise outcome
            return outcome

        assert RetryPolicy(jitter=lambda: 1.0).call(attempt, sleep=delays.append, what="GET /x") == "ok"
        assert delays == [1.0, 2.0]

    def test_call_gives_up_after_max_retries(self, caplog):
        calls = []

        def attempt():
            calls.append(1)
            raise MetrikaRetryableError(503, "backend_error", "down")

        with pytest.raises(MetrikaRetryableError, match="backend_error"):
            RetryPolicy(max_retries=2, jitter=lambda: 0.0, service="Metrika").call(
                attempt, sleep=lambda _: None, what="GET /x"
            )
        assert len(calls) == 3
        assert "Metrika GET /x failed (HTTP 503 backend_error); retry 1 of 2" in caplog.text

    def test_zero_retries_means_one_attempt(self):
        calls = []

        def attempt():
            calls.append(1)
            raise requests.ConnectTimeout()

        with pytest.raises(requests.ConnectTimeout):
            RetryPolicy(max_retries=0).call(attempt, sleep=lambda _: None, what="GET /x")
        assert calls == [1]

    def test_call_does_not_retry_client_errors(self):
        calls = []

        def attempt():
            calls.append(1)
            raise MetrikaClientError(404, "not_found", "no")

        with pytest.raises(MetrikaClientError):
            RetryPolicy().call(attempt, sleep=lambda _: pytest.fail("slept"), what="GET /x")
        assert calls == [1]

    async def test_acall_uses_the_same_decisions(self):
        outcomes = [MetrikaRetryableError(420, "quota", "m", retry_after=5), {"ok": True}]
        delays: list[float] = []

        async def attempt():
            outcome = outcomes.pop(0)
            if isinstance(outcome, Exception):
                raise outcome
            return outcome

        async def sleep(seconds):
            delays.append(seconds)

        assert await RetryPolicy().acall(attempt, sleep=sleep, what="GET /x") == {"ok": True}
        assert delays == [5]
