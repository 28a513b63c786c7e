"""MetrikaAsyncHook against a loopback aiohttp server: reads, retries, error mapping, limits, lifecycle.

(aioresponses 0.7.9 cannot build responses for aiohttp 3.14 — ``ClientResponse`` gained a
required ``stream_writer`` — so a real in-process server stands in; it is also more faithful.)
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from airflow_provider_metrika.exceptions import (
    MetrikaAmbiguousResponseError,
    MetrikaClientError,
    MetrikaConfigError,
    MetrikaRetryableError,
)
from airflow_provider_metrika.hooks import connection as connection_module
from airflow_provider_metrika.hooks.concurrency import MAX_REQUESTS_IN_FLIGHT, async_request_slots
from airflow_provider_metrika.hooks.metrika_async import MetrikaAsyncHook
from airflow_provider_metrika.hooks.retry import RetryPolicy
from airflow_provider_metrika.uploads import UploadState
from airflow_provider_metrika.version_compat import AirflowNotFoundException
from tests.unit.hooks.conftest import TOKEN, error_body, set_connection

GET_PATH = "/management/v1/counter/42/offline_conversions/uploading/7"
UPLOADING = {"uploading": {"id": 7, "status": "MATCHED"}}

Answer = tuple | str | Callable[[web.Request], Awaitable[Any]]


class FakeApi:
    """Answers queued per (method, path); the last answer repeats. Records every request."""

    def __init__(self) -> None:
        self.answers: dict[tuple[str, str], list[Answer]] = {}
        self.requests: list[dict[str, Any]] = []
        self.release = asyncio.Event()
        self.host = ""

    def on(self, method: str, path: str, *answers: Answer) -> None:
        self.answers.setdefault((method, path), []).extend(answers)

    def count(self, method: str, path: str) -> int:
        return sum(1 for r in self.requests if (r["method"], r["path"]) == (method, path))

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(
            {"method": request.method, "path": request.path, "query": dict(request.query), "headers": request.headers}
        )
        queue = self.answers.get((request.method, request.path)) or [(404, error_body(404, "not_found", "no"))]
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        if callable(answer):
            answer = await answer(request)
        if answer == "truncate":  # headers promise 100 bytes, the connection dies after 10
            response = web.StreamResponse(status=200)
            response.content_length = 100
            await response.prepare(request)
            await response.write(b'{"uploadi')
            request.transport.close()
            return response
        if answer == "hang":
            await self.release.wait()
            return web.json_response({})
        status, payload, *rest = answer
        headers = rest[0] if rest else None
        if isinstance(payload, str):
            return web.Response(status=status, text=payload, content_type="text/html", headers=headers)
        return web.json_response(payload, status=status, headers=headers)


@pytest.fixture
async def api(monkeypatch):
    fake = FakeApi()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", fake.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    fake.host = f"http://127.0.0.1:{server.port}"
    set_connection(monkeypatch, host=fake.host)
    yield fake
    fake.release.set()
    await server.close()


@pytest.fixture
def delays():
    return []


@pytest.fixture
async def hook(api, delays):
    async def sleep(seconds):
        delays.append(seconds)

    hook = MetrikaAsyncHook(sleep=sleep, timeout=5)
    hook.retry_policy = RetryPolicy(max_retries=3, jitter=lambda: 1.0)
    yield hook
    await hook.close()


async def test_get_uploading(hook, api):
    api.on("GET", GET_PATH, (200, UPLOADING))
    uploading = await hook.get_uploading("offline_conversions", None, "7")
    assert (uploading.uploading_id, uploading.counter_id, uploading.state) == ("7", 42, UploadState.RUNNING)
    [seen] = api.requests
    assert seen["headers"]["Authorization"] == f"OAuth {TOKEN}"
    assert seen["headers"]["User-Agent"].startswith("airflow-provider-metrika/")
    assert hook._session.timeout.total == 5 and hook._session.timeout.connect == 5


async def test_default_timeouts_are_the_connections(metrika_conn):
    hook = MetrikaAsyncHook()
    session = await hook._get_session(await hook.settings())
    timeout = session.timeout
    assert (timeout.connect, timeout.sock_read, timeout.total) == (10.0, 300.0, 310.0)  # as MetrikaHook: (10, 300)
    await hook.close()


async def test_the_connections_timeout_extra_bounds_a_stalling_server(api, monkeypatch, delays):
    """A server that accepts the request and never answers: the connection's ``timeout`` ends each attempt."""
    set_connection(monkeypatch, host=api.host, extra={"counter_id": 42, "timeout": 0.2, "max_retries": 1})
    api.on("GET", GET_PATH, "hang")

    async def sleep(seconds):
        delays.append(seconds)

    hook = MetrikaAsyncHook(sleep=sleep)
    async with asyncio.timeout(20):  # without the connection's timeout an attempt would last 310 s
        with pytest.raises(asyncio.TimeoutError):
            await hook.get_uploading("offline_conversions", 42, 7)
    session_timeout = hook._session.timeout
    await hook.close()
    assert (session_timeout.sock_read, session_timeout.total) == (0.2, 10.2)
    assert api.count("GET", GET_PATH) == 2 and len(delays) == 1  # retried once, as a read may be


async def test_settings_are_fetched_once_through_the_async_lookup(metrika_conn, mocker):
    lookup = mocker.patch.object(
        connection_module, "get_async_connection", wraps=connection_module.get_async_connection
    )
    hook = MetrikaAsyncHook("metrika_default")
    lookup.assert_not_called()
    first, second = await hook.settings(), await hook.settings()
    assert first is second and first.counter_id == 42
    lookup.assert_called_once_with("metrika_default")


async def test_list_uploadings(hook, api):
    path = "/management/v1/counter/42/user_params/uploadings"
    api.on(
        "GET", path, (200, {"uploadings": [{"id": 1, "status": "processed"}, {"id": 2, "status": "linkage_failure"}]})
    )
    result = await hook.list_uploadings("user_params", 42, limit=10, offset=5)
    assert [(u.uploading_id, u.state) for u in result] == [("1", UploadState.SUCCESS), ("2", UploadState.FAILURE)]
    assert api.requests[0]["query"] == {"limit": "10", "offset": "5"}


async def test_list_uploadings_cdp(hook, api):
    api.on(
        "GET",
        "/cdp/api/v1/counter/42/last_uploadings",
        (200, {"uploadings": [{"uploading_id": "a", "api_validation_status": "PASSED"}]}),
    )
    [uploading] = await hook.list_uploadings("contacts", 42, limit=3)
    assert uploading.state is UploadState.SUCCESS
    assert api.requests[0]["query"] == {"limit": "3"}


async def test_list_uploadings_validation(hook):
    with pytest.raises(MetrikaConfigError, match="offset"):
        await hook.list_uploadings("orders", 42, offset=3)


@pytest.mark.parametrize("status", [420, 429, 500, 503])
async def test_retryable_statuses_are_retried(hook, api, delays, status):
    api.on("GET", GET_PATH, (status, error_body(status, "backend_error", "busy")), (status, {}), (200, UPLOADING))
    assert (await hook.get_uploading("offline_conversions", 42, 7)).uploading_id == "7"
    assert delays == [1.0, 2.0] and api.count("GET", GET_PATH) == 3


async def test_retry_after_is_honoured(hook, api, delays):
    api.on("GET", GET_PATH, (429, {}, {"Retry-After": "7"}), (200, UPLOADING))
    await hook.get_uploading("offline_conversions", 42, 7)
    assert delays == [7.0]


async def test_truncated_answer_is_retried_for_reads(hook, api, delays):
    api.on("GET", GET_PATH, "truncate", (200, UPLOADING))
    await hook.get_uploading("offline_conversions", 42, 7)
    assert delays == [1.0]


async def test_timeouts_are_retried_for_reads_then_surface(api, delays):
    async def sleep(seconds):
        delays.append(seconds)

    api.on("GET", GET_PATH, "hang")
    hook = MetrikaAsyncHook(sleep=sleep, timeout=0.2, max_retries=1)
    with pytest.raises(asyncio.TimeoutError):
        await hook.get_uploading("offline_conversions", 42, 7)
    await hook.close()
    assert len(delays) == 1 and api.count("GET", GET_PATH) == 2


async def test_retries_are_bounded(hook, api, delays):
    api.on("GET", GET_PATH, (503, error_body(503, "backend_error", "down")))
    with pytest.raises(MetrikaRetryableError) as info:
        await hook.get_uploading("offline_conversions", 42, 7)
    assert info.value.error_type == "backend_error" and delays == [1.0, 2.0, 4.0]
    assert api.count("GET", GET_PATH) == 4


@pytest.mark.parametrize(
    ("status", "error_type"),
    [(400, "invalid_parameter"), (401, "unauthorized"), (403, "access_denied"), (404, "not_found")],
)
async def test_client_errors_are_not_retried(hook, api, delays, status, error_type):
    api.on("GET", GET_PATH, (status, error_body(status, error_type, "no")))
    with pytest.raises(MetrikaClientError) as info:
        await hook.get_uploading("offline_conversions", 42, 7)
    assert (info.value.status, info.value.error_type) == (status, error_type)
    assert delays == [] and api.count("GET", GET_PATH) == 1


async def test_non_json_error_body(hook, api):
    api.on("GET", GET_PATH, (404, "<html><body>Not here</body></html>"))
    with pytest.raises(MetrikaClientError) as info:
        await hook.get_uploading("offline_conversions", 42, 7)
    assert (info.value.error_type, info.value.message) == ("unknown", "Not here")


async def test_ambiguous_post_is_not_resent(hook, api, delays):
    api.on("POST", "/x", "truncate", (200, {}))
    with pytest.raises(MetrikaAmbiguousResponseError, match="POST /x"):
        await hook.request("post", "x")
    assert delays == [] and api.count("POST", "/x") == 1


async def test_connect_failure_is_retried_even_for_post(monkeypatch, delays):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    set_connection(monkeypatch, host=f"http://127.0.0.1:{port}")

    async def sleep(seconds):
        delays.append(seconds)

    hook = MetrikaAsyncHook(sleep=sleep, max_retries=2)
    with pytest.raises(aiohttp.ClientConnectorError):
        await hook.request("POST", "/x")
    await hook.close()
    assert len(delays) == 2


async def test_query_parameters(hook, api):
    api.on("GET", "/q", (200, {"ok": 1}))
    assert await hook.request("GET", "/q", params={"a": None, "b": 2, "c": False}) == {"ok": 1}
    assert api.requests[0]["query"] == {"b": "2", "c": "false"}


async def test_token_never_leaks(hook, api, caplog):
    api.on(
        "GET",
        GET_PATH,
        (503, error_body(503, "backend_error", f"echo {TOKEN}")),
        (401, error_body(401, "unauthorized", f"echo {TOKEN}")),
    )
    with caplog.at_level(logging.DEBUG), pytest.raises(MetrikaClientError) as info:
        await hook.get_uploading("offline_conversions", 42, 7)
    assert "retry 1 of 3" in caplog.text
    assert TOKEN not in str(info.value) and TOKEN not in caplog.text and TOKEN not in repr(hook)


async def test_requests_are_capped_per_token(hook, api):
    release = asyncio.Event()
    state = {"inside": 0, "peak": 0}

    async def held(request):
        state["inside"] += 1
        state["peak"] = max(state["peak"], state["inside"])
        await release.wait()
        state["inside"] -= 1
        return (200, UPLOADING)

    api.on("GET", GET_PATH, held)
    tasks = [asyncio.create_task(hook.get_uploading("offline_conversions", 42, 7)) for _ in range(5)]
    async with asyncio.timeout(10):
        while state["inside"] < MAX_REQUESTS_IN_FLIGHT:
            await asyncio.sleep(0.01)
    assert async_request_slots(TOKEN).locked()
    release.set()
    results = await asyncio.gather(*tasks)
    assert len(results) == 5 and state["peak"] == MAX_REQUESTS_IN_FLIGHT


async def test_session_lifecycle(api):
    api.on("GET", GET_PATH, (200, UPLOADING))
    async with MetrikaAsyncHook(timeout=5, max_retries=0) as hook:
        await hook.get_uploading("offline_conversions", 42, 7)
        session = hook._session
        await hook.get_uploading("offline_conversions", 42, 7)
        assert hook._session is session
        assert hook.retry_policy.max_retries == 0
    assert session.closed and hook._session is None
    await hook.close()  # closing twice is harmless


async def test_max_retries_from_the_connection(api, monkeypatch):
    set_connection(monkeypatch, host=api.host, extra={"counter_id": 42, "max_retries": 1})
    api.on("GET", GET_PATH, (503, {}))

    async def no_sleep(_):
        return None

    hook = MetrikaAsyncHook(sleep=no_sleep)
    with pytest.raises(MetrikaRetryableError):
        await hook.get_uploading("offline_conversions", None, 7)
    await hook.close()
    assert hook.retry_policy.max_retries == 1 and api.count("GET", GET_PATH) == 2


@pytest.mark.parametrize(("kwargs", "match"), [({"timeout": 0}, "timeout"), ({"max_retries": 99}, "max_retries")])
def test_bad_constructor_arguments(kwargs, match):
    with pytest.raises(MetrikaConfigError, match=match):
        MetrikaAsyncHook(**kwargs)


async def test_missing_connection(mocker):
    mocker.patch.object(connection_module, "get_async_connection", side_effect=AirflowNotFoundException("missing"))
    with pytest.raises(MetrikaConfigError, match="'absent' is not defined"):
        await MetrikaAsyncHook("absent").get_uploading("calls", 42, 1)


async def test_a_long_answer_is_decoded_off_the_event_loop_a_short_one_on_it(hook, api, mocker):
    from airflow_provider_metrika.hooks import metrika_api

    threads = []
    real = metrika_api.decode_response

    def decode(*args, **kwargs):
        threads.append(threading.current_thread() is threading.main_thread())
        return real(*args, **kwargs)

    mocker.patch.object(metrika_api, "decode_response", side_effect=decode)
    path = "/management/v1/counter/42/offline_conversions/uploadings"
    page = [
        {"id": n, "status": "PROCESSED", "comment": f"c{n}", "create_time": "2026-01-01T00:00:00Z"} for n in range(2000)
    ]
    api.on("GET", path, (200, {"uploadings": page}))
    assert len(await hook.list_uploadings("offline_conversions", None)) == 2000
    api.on("GET", GET_PATH, (200, UPLOADING))
    await hook.get_uploading("offline_conversions", None, "7")
    assert threads == [False, True]  # the 100 KB page on a worker thread, the small answer on the loop's
