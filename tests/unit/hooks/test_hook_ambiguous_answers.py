"""A failed answer to an upload POST that may follow a stored upload is ambiguous: never resent blindly."""

from __future__ import annotations

import pytest

from airflow_provider_metrika.exceptions import (
    MetrikaAmbiguousResponseError,
    MetrikaClientError,
    MetrikaRetryableError,
)
from airflow_provider_metrika.hooks.metrika_api import DIALECT as METRIKA
from airflow_provider_metrika.hooks.metrika_async import MetrikaAsyncHook
from airflow_provider_metrika.hooks.retry import RetryPolicy, decode_response, maybe_processed
from tests.unit.hooks.conftest import error_body, response
from tests.unit.hooks.test_metrika_async_hook import api  # noqa: F401 - fixture


@pytest.mark.parametrize(
    ("status", "expected"),
    [(500, True), (502, True), (504, True), (503, False), (429, False), (420, False), (400, False)],
)
def test_which_answers_may_follow_a_processed_request(status, expected):
    assert maybe_processed(status) is expected


@pytest.mark.parametrize("status", [500, 502, 504])
def test_decode_turns_them_ambiguous_only_for_non_idempotent_requests(status):
    body = '{"errors": [{"error_type": "backend_error", "message": "gateway"}]}'
    with pytest.raises(MetrikaRetryableError):
        decode_response(status, body, method="GET", path="/x", dialect=METRIKA)
    with pytest.raises(MetrikaAmbiguousResponseError, match=f"POST /x was answered with HTTP {status}") as info:
        decode_response(status, body, method="POST", path="/x", dialect=METRIKA, idempotent=False)
    assert isinstance(info.value.__cause__, MetrikaRetryableError)


def test_decode_keeps_refusals_and_client_errors_typed():
    with pytest.raises(MetrikaRetryableError):
        decode_response(503, "", method="POST", path="/x", dialect=METRIKA, idempotent=False)
    with pytest.raises(MetrikaClientError):
        decode_response(400, "", method="POST", path="/x", dialect=METRIKA, idempotent=False)


@pytest.mark.parametrize("status", [500, 502, 504])
def test_sync_upload_post_is_not_resent_after_a_gateway_error(hook, answer, delays, status):
    send = answer(response(status, error_body(status, "backend_error", "gateway")), response(200, {}))
    with pytest.raises(MetrikaAmbiguousResponseError):
        hook.request("POST", "/upload", json={"a": 1})
    assert send.call_count == 1 and delays == []


@pytest.mark.parametrize("status", [429, 503])
def test_sync_upload_post_is_resent_after_a_refusal(hook, answer, delays, status):
    send = answer(response(status, error_body(status, "quota_parallel_requests", "slow")), response(200, {"ok": 1}))
    assert hook.request("POST", "/upload", json={"a": 1}) == {"ok": 1}
    assert send.call_count == 2


async def test_async_post_is_not_resent_after_a_gateway_error(api):  # noqa: F811
    for method in ("POST", "GET"):
        api.on(method, "/x", (502, error_body(502, "backend_error", "gateway")), (200, {}))
    slept = []

    async def sleep(seconds):
        slept.append(seconds)

    async_hook = MetrikaAsyncHook(sleep=sleep, timeout=5)
    async_hook.retry_policy = RetryPolicy(max_retries=3, jitter=lambda: 1.0)
    try:
        with pytest.raises(MetrikaAmbiguousResponseError, match="HTTP 502"):
            await async_hook.request("POST", "/x")
        assert api.count("POST", "/x") == 1 and slept == []
        assert await async_hook.request("GET", "/x") == {}  # the same answer to a GET is retried
    finally:
        await async_hook.close()
    assert slept == [1.0]
