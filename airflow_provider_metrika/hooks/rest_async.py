"""The asynchronous twin of :class:`~airflow_provider_metrika.hooks.rest.RestApiHook`, for triggers.

Same connection parsing, dialect, retry policy and secret handling as the vendor's sync hook
(:func:`~airflow_provider_metrika.hooks.rest.outgoing` and
:func:`~airflow_provider_metrika.hooks.rest.decode_answer` are shared), over aiohttp so the
triggerer's event loop never blocks; the connection's read timeout bounds every read, as
``requests``' (connect, read) timeout does for the sync hook
(https://docs.aiohttp.org/en/stable/client_quickstart.html#timeouts).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from types import TracebackType
from typing import Any, ClassVar

import aiohttp

from airflow_provider_metrika.hooks.connection import DEFAULT_CONNECT_TIMEOUT, afetch_connection, parse_max_retries
from airflow_provider_metrika.hooks.rest import Answer, Dialect, RestApiHook, decode_answer, outgoing
from airflow_provider_metrika.hooks.retry import RetryPolicy, raise_transport_failure
from airflow_provider_metrika.version_compat import amask_secret


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
        settings = await self.settings()
        retries = settings.max_retries if self._max_retries is None else self._max_retries
        return RetryPolicy(max_retries=retries, service=self.dialect.service)

    async def send(
        self,
        method: str,
        path: str,
        *,
        idempotent: bool,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        secrets: Sequence[str] = (),
        base_url: str | None = None,
        dialect: Dialect | None = None,
    ) -> Answer:
        """One request (retried per the shared policy), decoded; every credential withheld from errors."""
        settings = await self.settings()
        dialect = dialect or self.dialect
        request = outgoing(dialect, method, headers=headers, params=params, body=body)
        url = (settings.base_url if base_url is None else base_url) + path
        withheld = (*secrets, *self.sync_hook.secrets_of(settings))

        async def attempt() -> Answer:
            session = self._get_session(settings.timeout)
            try:
                async with session.request(
                    request.method,
                    url,
                    params=request.query,
                    data=request.data,
                    headers=request.headers,
                    allow_redirects=False,
                ) as response:
                    status, answer_headers = response.status, response.headers
                    text = await response.text(encoding="utf-8", errors="replace")
            except (TimeoutError, aiohttp.ClientError) as error:
                raise_transport_failure(
                    error, idempotent=idempotent, method=request.method, path=path, service=dialect.service
                )
            return decode_answer(
                dialect, request, path, status, text, answer_headers, secrets=withheld, idempotent=idempotent
            )

        policy = await self.retry_policy()
        return await policy.acall(attempt, sleep=self._sleep, what=f"{request.method} {path}")

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
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(
                    total=None, sock_connect=min(DEFAULT_CONNECT_TIMEOUT, read_timeout), sock_read=read_timeout
                )
            )
            self._session_loop = loop
        return self._session
