"""MetrikaAsyncHook: the non-blocking client the trigger polls with.

Same connection parsing, retry policy, timeouts and request/response layer
(:mod:`airflow_provider_metrika.hooks.metrika_api`) as MetrikaHook, over aiohttp so the
triggerer's event loop never blocks (connection lookup included: it goes through
``get_async_connection``).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType
from typing import Any

import aiohttp

from airflow_provider_metrika.hooks.concurrency import async_request_slots
from airflow_provider_metrika.hooks.connection import (
    MetrikaConnectionSettings,
    aload_settings,
    parse_max_retries,
    parse_timeout,
    resolve_counter_id,
)
from airflow_provider_metrika.hooks.metrika_api import (
    DIALECT,
    Read,
    T,
    auth_headers,
    prepare_call,
    transport_timeout,
    uploading_read,
    uploadings_page_read,
)
from airflow_provider_metrika.hooks.rest_async import client_timeout
from airflow_provider_metrika.hooks.retry import RetryPolicy, raise_transport_failure
from airflow_provider_metrika.uploads import Uploading, UploadKind

#: Answers longer than this are decoded (JSON, and every string checked for the token) on a worker thread: a list
#: page of a thousand uploadings is tens of milliseconds of CPU, which would stall every trigger of the triggerer.
OFF_LOOP_CHARS = 64 * 1024


class MetrikaAsyncHook:
    """Reads uploadings without blocking the event loop.

    ``timeout`` bounds each attempt as a whole (seconds); without it, an attempt has the connection's
    timeouts, as with MetrikaHook: 10 s to connect, the connection's ``timeout`` extra (default 60 s)
    between reads, and their sum in all (a server that trickles bytes cannot hold a poll forever);
    ``max_retries`` overrides the connection's; ``sleep`` is injectable for tests, as is ``retry_policy`` (built from
    the connection on the first request when left None). One ``aiohttp.ClientSession``
    per hook, created lazily inside the running loop; close it with :meth:`close` or use
    ``async with``.
    """

    def __init__(
        self,
        metrika_conn_id: str = "metrika_default",
        *,
        timeout: float | None = None,
        max_retries: int | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.metrika_conn_id = metrika_conn_id
        self.timeout = None if timeout is None else parse_timeout(timeout, "timeout")
        self._max_retries = None if max_retries is None else parse_max_retries(max_retries, "max_retries")
        self._sleep = sleep
        self.retry_policy: RetryPolicy | None = None
        self._settings: MetrikaConnectionSettings | None = None
        self._session: aiohttp.ClientSession | None = None
        self._session_loop: asyncio.AbstractEventLoop | None = None

    async def settings(self) -> MetrikaConnectionSettings:
        """The parsed connection, fetched once without blocking the loop."""
        if self._settings is None:
            self._settings = await aload_settings(self.metrika_conn_id)
        return self._settings

    async def resolve_counter_id(self, counter_id: int | str | None) -> int:
        return resolve_counter_id(counter_id, await self.settings())

    async def request(self, method: str, path: str, *, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Send one API call (retried per the shared policy) and return its JSON object."""
        settings = await self.settings()
        call = prepare_call(settings, method, path, params)
        if self.retry_policy is None:
            max_retries = settings.max_retries if self._max_retries is None else self._max_retries
            self.retry_policy = RetryPolicy(max_retries=max_retries, service=DIALECT.service)

        async def attempt() -> dict[str, Any]:
            session = await self._get_session(settings)
            async with async_request_slots(call.token):
                try:
                    async with session.request(
                        call.method, call.url, params=call.query, allow_redirects=False
                    ) as response:
                        status = response.status
                        retry_after = response.headers.get("Retry-After")
                        text = await response.text(encoding="utf-8", errors="replace")
                except (TimeoutError, aiohttp.ClientError) as error:
                    raise_transport_failure(
                        error, idempotent=call.idempotent, method=call.method, path=call.path, service=DIALECT.service
                    )
            decode = functools.partial(call.read, status, text, retry_after)
            return await asyncio.to_thread(decode) if len(text) > OFF_LOOP_CHARS else decode()

        return await self.retry_policy.acall(attempt, sleep=self._sleep, what=call.what)

    async def get_uploading(
        self, kind: str | UploadKind, counter_id: int | str | None, uploading_id: int | str
    ) -> Uploading:
        return await self.read(uploading_read(kind, await self.resolve_counter_id(counter_id), uploading_id))

    async def list_uploadings(
        self,
        kind: str | UploadKind,
        counter_id: int | str | None,
        *,
        limit: int | None = None,
        offset: int | None = None,
    ) -> list[Uploading]:
        """One page of uploadings (see :meth:`MetrikaHook.list_uploadings` for the CDP caveat)."""
        return await self.read(uploadings_page_read(kind, await self.resolve_counter_id(counter_id), limit, offset))

    async def read(self, read: Read[T]) -> T:
        """Send a read of the request/response layer (as :meth:`MetrikaHook.read`) and parse its answer."""
        return read.parse(await self.request("GET", read.path, params=read.params))

    async def close(self) -> None:
        session, self._session, self._session_loop = self._session, None, None
        if session is not None and not session.closed:
            await session.close()

    async def __aenter__(self) -> MetrikaAsyncHook:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    def client_timeout(self, settings: MetrikaConnectionSettings) -> aiohttp.ClientTimeout:
        """This hook's ``timeout`` for the whole attempt, else the connection's (connect, read), as MetrikaHook's."""
        connect, read = transport_timeout(settings, None)
        return client_timeout(read, connect=connect, whole=self.timeout)

    async def _get_session(self, settings: MetrikaConnectionSettings) -> aiohttp.ClientSession:
        """This hook's session on the running loop (a session cannot outlive or change its loop)."""
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._session_loop is not loop:
            self._session = aiohttp.ClientSession(headers=auth_headers(settings), timeout=self.client_timeout(settings))
            self._session_loop = loop
        return self._session
