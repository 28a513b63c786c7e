"""FleetioAsyncHook: the imports of a Fleetio account read without blocking the event loop (for triggers).

The twin of :class:`~airflow_provider_metrika.fleetio.hooks.FleetioHook`: the same connection
parsing, headers, query building, keyset page reading (:mod:`airflow_provider_metrika.fleetio.api`),
error bodies and ``Retry-After`` handling, over aiohttp; the connection's read timeout bounds
every read. The API key and the account token are masked and withheld from every message. An import's
row results are read by :mod:`airflow_provider_metrika.fleetio.status` through :meth:`FleetioAsyncHook.request`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

from airflow_provider_metrika.fleetio import api
from airflow_provider_metrika.fleetio.hooks import FleetioHook
from airflow_provider_metrika.fleetio.pacing import paced
from airflow_provider_metrika.hooks.concurrency import token_key
from airflow_provider_metrika.hooks.rest_async import AsyncRestApiHook


class FleetioAsyncHook(AsyncRestApiHook):
    """Reads one Fleetio account's imports; nothing is read from the connection until the first call."""

    sync_hook = FleetioHook

    def __init__(
        self,
        fleetio_conn_id: str = FleetioHook.default_conn_name,
        *,
        max_retries: int | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        super().__init__(fleetio_conn_id, max_retries=max_retries, sleep=sleep)

    async def request(self, path: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """One authenticated GET, retried per the shared policy, paced to the key's rate limit (:mod:`.pacing`)."""
        settings = await self.settings()
        headers = api.auth_headers(settings.api_key, settings.account_token, settings.api_version)
        await paced(token_key(settings.api_key), settings.requests_per_minute)
        return (await self.send("GET", path, headers=headers, params=params, idempotent=True)).body

    async def imports_page(
        self, query: api.ImportQuery | None = None, *, start_cursor: str | None = None, per_page: int = 100
    ) -> api.KeysetPage:
        """One page of List Imports; ``start_cursor`` must come from a page of the same ``query``."""
        params = api.imports_params(query, start_cursor=start_cursor, per_page=per_page)
        return api.keyset_page(await self.request(api.IMPORTS_PATH, params))

    async def iter_imports(
        self, query: api.ImportQuery | None = None, *, per_page: int = 100
    ) -> AsyncIterator[api.FleetioImport]:
        """Every import matching ``query``, page by page."""

        async def fetch(cursor: str | None) -> api.KeysetPage:
            return await self.imports_page(query, start_cursor=cursor, per_page=per_page)

        async for page in self.pages(fetch):
            for record in page.records:
                yield api.FleetioImport.from_record(record)

    @staticmethod
    async def pages(fetch: Callable[[str | None], Awaitable[api.KeysetPage]]) -> AsyncIterator[api.KeysetPage]:
        """Follow ``next_cursor`` to the end (see :class:`~airflow_provider_metrika.fleetio.api.CursorWalk`)."""
        walk = api.CursorWalk()
        page = await fetch(None)
        yield page
        while (cursor := walk.after(page)) is not None:
            page = await fetch(cursor)
            yield page
