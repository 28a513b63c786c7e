"""CommerceLayerAsyncHook: what a trigger needs from Commerce Layer, without blocking the event loop.

The same token cache as the sync hook (per process and per (client id, scope), dropped on a
401), the same request documents and error reading; over aiohttp, with the connection's read
timeout (https://docs.commercelayer.io/core/v/api-reference/imports).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any

from airflow_provider_metrika.commercelayer import api
from airflow_provider_metrika.commercelayer.auth import (
    TOKENS,
    BearerAttempts,
    TokenCache,
    read_token,
    token_key,
)
from airflow_provider_metrika.commercelayer.hooks import CommerceLayerHook
from airflow_provider_metrika.exceptions import MetrikaClientError
from airflow_provider_metrika.hooks.rest_async import AsyncRestApiHook
from airflow_provider_metrika.version_compat import amask_secret


class CommerceLayerAsyncHook(AsyncRestApiHook):
    """Reads imports (many in one request) and interrupts one; ``token_cache`` is injectable for tests."""

    sync_hook = CommerceLayerHook

    def __init__(
        self,
        commercelayer_conn_id: str = CommerceLayerHook.default_conn_name,
        *,
        max_retries: int | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        token_cache: TokenCache = TOKENS,
    ) -> None:
        super().__init__(commercelayer_conn_id, max_retries=max_retries, sleep=sleep)
        self._tokens = token_cache

    async def access_token(self) -> str:
        """The process's cached token for this (client id, scope), else a fresh one."""
        return await self._tokens.aget(token_key(await self.settings()), self._fetch_token)

    async def _fetch_token(self) -> tuple[str, float]:
        path, options = self.sync_hook.token_call(await self.settings())
        token, lifetime = read_token((await self.send("POST", path, idempotent=True, **options)).body)
        await amask_secret(token)
        return token, lifetime

    async def request(
        self, method: str, path: str, *, params: Mapping[str, Any] | None = None, body: Any = None
    ) -> dict[str, Any]:
        """One JSON:API call with a bearer token; on 401 the token is dropped and the call sent once more."""
        method = method.upper()
        attempts = BearerAttempts(self._tokens, token_key(await self.settings()))
        while True:
            options = attempts.options(await self.access_token(), params, body)
            try:
                answer = await self.send(method, path, idempotent=method != "POST", **options)
            except MetrikaClientError as error:
                if not attempts.again(error):
                    raise
                continue
            return answer.body

    async def get_import(self, import_id: str, fields: Sequence[str] = api.STATUS_FIELDS) -> api.CommerceLayerImport:
        path, params = api.read_request(import_id, fields)
        return api.import_from_document(await self.request("GET", path, params=params))

    async def imports_by_id(
        self, import_ids: Iterable[str], fields: Sequence[str] = api.STATUS_FIELDS
    ) -> dict[str, api.CommerceLayerImport]:
        """The imports among ``import_ids`` that exist, by id: one ``filter[q][id_in]`` request per 25 ids."""
        found: dict[str, api.CommerceLayerImport] = {}
        for chunk in api.by_id_chunks(import_ids):
            body = await self.request("GET", api.IMPORTS_PATH, params=api.by_id_params(chunk, fields))
            found.update(api.imports_in(chunk, body))
        return found

    async def interrupt_import(self, import_id: str) -> api.CommerceLayerImport:
        """Send ``_interrupt``: an open import stops (its status becomes ``interrupted``)."""
        path, params, document = api.interrupt_request(import_id)
        return api.import_from_document(await self.request("PATCH", path, params=params, body=document))
