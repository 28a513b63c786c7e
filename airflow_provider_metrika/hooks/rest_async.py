"""The asynchronous twin of :class:`~airflow_provider_metrika.hooks.rest.RestApiHook`, for triggers.

Same connection parsing, dialect, retry policy and secret handling as the vendor's sync hook
(:meth:`~airflow_provider_metrika.hooks.rest.RestApiHook.prepare` builds the request and reads the
answer for both), over aiohttp so the triggerer's event loop never blocks. Every async hook of the
provider (this base and Metrika's) bounds an attempt by one rule, :func:`client_timeout`
(https://docs.aiohttp.org/en/stable/client_quickstart.html#timeouts).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, ClassVar, Unpack

import aiohttp

from airflow_provider_metrika.hooks.connection import DEFAULT_CONNECT_TIMEOUT, afetch_connection, parse_max_retries
from airflow_provider_metrika.hooks.rest import Answer, Dialect, RequestOptions, RestApiHook
from airflow_provider_metrika.hooks.retry import RetryPolicy
from airflow_provider_metrika.version_compat import amask_secret


def client_timeout(read: float, *, connect: float = DEFAULT_CONNECT_TIMEOUT, whole: float | None = None) -> Any:
    """An attempt's ``aiohttp.ClientTimeout``, as the sync hooks' ``requests`` (connect, read) timeout bounds it.

    ``whole`` (a hook's own timeout) bounds the attempt as a whole; without it ``connect`` seconds to
    connect, ``read`` (the connection's timeout) between reads and their sum in all, so a server that
    trickles bytes cannot hold a poll forever.
    """
    if whole is not None:
        return aiohttp.ClientTimeout(total=whole, connect=min(whole, connect))
    return aiohttp.ClientTimeout(total=connect + read, connect=connect, sock_read=read)


class AsyncRestApiHook:
    """A vendor's async hook: ``sync_hook`` says how its connection reads and which dialect it speaks.

    Nothing is read from the connection until the first request. One ``aiohttp.ClientSession``
    per hook and event loop, created lazily; close it with :meth:`close` or ``async with``.
    """

    sync_hook: ClassVar[type[RestApiHook]]

    def __init__(
        self,
        conn_id: str,
        *,
        max_retries: int | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.conn_id = conn_id
        self._max_retries = None if max_retries is None else parse_max_retries(max_retries, "max_retries")
        self._sleep = sleep
        self._settings: Any = None
        self._session: aiohttp.ClientSession | None = None
        self._session_loop: asyncio.AbstractEventLoop | None = None

    @property
    def dialect(self) -> Dialect:
        return self.sync_hook.dialect

    async def settings(self) -> Any:
        """The parsed connection, fetched once without blocking the loop; its secrets masked."""
        if self._settings is None:
            hook = self.sync_hook
            conn = await afetch_connection(self.conn_id, hook.conn_type, hook.fields_hint)
            settings = hook.parse_settings(conn, self.conn_id)
            for secret in hook.secrets_of(settings):
                await amask_secret(secret)
            self._settings = settings
        return self._settings

    async def retry_policy(self) -> RetryPolicy:
        return self.sync_hook.policy_for(await self.settings(), self._max_retries)

    async def send(self, method: str, path: str, *, idempotent: bool, **options: Unpack[RequestOptions]) -> Answer:
        """One request (retried per the shared policy), decoded; every credential withheld from errors."""
        settings = await self.settings()
        call = self.sync_hook.prepare(settings, method, path, idempotent=idempotent, **options)

        async def attempt() -> Answer:
            session = self._get_session(settings.timeout)
            try:
                async with session.request(call.request.method, call.url, **call.wire) as response:
                    status, answer_headers = response.status, response.headers
                    text = await response.text(encoding="utf-8", errors="replace")
            except (TimeoutError, aiohttp.ClientError) as error:
                call.transport_failed(error)
            return call.read(status, text, answer_headers)

        policy = await self.retry_policy()
        return await policy.acall(attempt, sleep=self._sleep, what=call.what)

    async def close(self) -> None:
        session, self._session, self._session_loop = self._session, None, None
        if session is not None and not session.closed:
            await session.close()

    async def __aenter__(self) -> AsyncRestApiHook:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    def _get_session(self, read_timeout: float) -> aiohttp.ClientSession:
        """This hook's session on the running loop (a session cannot outlive or change its loop)."""
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._session_loop is not loop:
            self._session = aiohttp.ClientSession(timeout=client_timeout(read_timeout))
            self._session_loop = loop
        return self._session
