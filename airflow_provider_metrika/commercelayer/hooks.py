"""CommerceLayerHook: imports through Commerce Layer's JSON:API, with a cached OAuth2 token.

Create an import, read it with a sparse fieldset (never its ``inputs``), list imports with
``filter[q][...]`` (``reference_eq`` finds the import a retried task created before), interrupt
and delete one (https://docs.commercelayer.io/core/v/api-reference/imports). Requests go
through the provider's shared retry policy; a 429 waits one ``X-Ratelimit-Interval``; a 401
drops the cached token and the request is sent once more with a fresh one.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Unpack

from airflow_provider_metrika.commercelayer import CONN_TYPE, api
from airflow_provider_metrika.commercelayer.auth import (
    TOKENS,
    BearerAttempts,
    TokenCache,
    read_token,
    token_key,
    token_request,
)
from airflow_provider_metrika.commercelayer.connection import (
    FIELDS_HINT,
    SERVICE,
    CommerceLayerSettings,
    settings_from_connection,
)
from airflow_provider_metrika.exceptions import MetrikaClientError, MetrikaConfigError
from airflow_provider_metrika.hooks.connection import ConnectionLike
from airflow_provider_metrika.hooks.rest import Dialect, RestApiHook
from airflow_provider_metrika.version_compat import mask_secret

SECRET_NAME = "client secret or access token"
JSON_API = Dialect(SERVICE, api.error_details, api.retry_after, api.MEDIA_TYPE, SECRET_NAME)
TOKEN_DIALECT = Dialect(SERVICE, api.error_details, api.retry_after, "application/json", SECRET_NAME)


class CommerceLayerHook(RestApiHook):
    """Talks to one Commerce Layer organization.

    Nothing is read from the connection until the first call. ``max_retries`` overrides the
    connection's; ``sleep`` and ``token_cache`` are injectable for tests.
    """

    conn_name_attr = "commercelayer_conn_id"
    default_conn_name = "commercelayer_default"
    conn_type = CONN_TYPE
    hook_name = "Commerce Layer"
    dialect = JSON_API
    fields_hint = FIELDS_HINT

    def __init__(
        self,
        commercelayer_conn_id: str = default_conn_name,
        *,
        max_retries: int | None = None,
        sleep: Callable[[float], None] = time.sleep,
        token_cache: TokenCache = TOKENS,
    ) -> None:
        super().__init__(commercelayer_conn_id, max_retries=max_retries, sleep=sleep)
        self._tokens = token_cache

    @classmethod
    def parse_settings(
        cls, conn: ConnectionLike, conn_id: str, *, described_as: str | None = None
    ) -> CommerceLayerSettings:
        return settings_from_connection(conn, conn_id, described_as=described_as)

    @staticmethod
    def secrets_of(settings: CommerceLayerSettings) -> tuple[str, ...]:
        return (settings.client_secret,)

    def probe(self) -> str:
        next(self.iter_imports(page_size=1, fields=("status",)), None)
        return f"Connected to {self.settings.base_url}; the client credentials are accepted"

    # -- token ------------------------------------------------------------------------------------------

    def access_token(self) -> str:
        """A bearer token: the process's cached one for this (client id, scope), else a fresh one."""
        return self._tokens.get(token_key(self.settings), self._fetch_token)

    def _fetch_token(self) -> tuple[str, float]:
        path, options = self.token_call(self.settings)
        token, lifetime = read_token(self.send("POST", path, idempotent=True, **options).body)
        mask_secret(token)
        return token, lifetime

    @staticmethod
    def token_call(settings: CommerceLayerSettings) -> tuple[str, dict[str, Any]]:
        """Path and send options of the token request (both hooks): the auth host, plain JSON, the credentials."""
        base_url, path, body = token_request(settings)
        return path, {"base_url": base_url, "dialect": TOKEN_DIALECT, "body": body}

    # -- requests ---------------------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        idempotent: bool | None = None,
    ) -> dict[str, Any]:
        """One JSON:API call with a bearer token; on 401 the token is dropped and the call sent once more."""
        method = method.upper()
        idempotent = method != "POST" if idempotent is None else idempotent
        attempts = BearerAttempts(self._tokens, token_key(self.settings))
        while True:
            options = attempts.options(self.access_token(), params, body)
            try:
                return self.send(method, path, idempotent=idempotent, **options).body
            except MetrikaClientError as error:
                if not attempts.again(error):
                    raise
                self.log.info("Commerce Layer refused the cached token (HTTP 401); fetching a new one")

    # -- imports ------------------------------------------------------------------------------------------

    def create_import(
        self,
        resource_type: str,
        inputs: list[Any] | str,
        **options: Unpack[api.ImportOptions],
    ) -> api.CommerceLayerImport:
        """Create one import (at most 10,000 inputs); the answer is read without its inputs.

        A failure after the request may have arrived raises MetrikaAmbiguousResponseError
        instead of sending it again: look the import up by ``reference`` first. ``options`` are
        :class:`~airflow_provider_metrika.commercelayer.api.ImportOptions` (format, skip_errors, reference, ...).
        """
        document = api.create_document(resource_type, inputs, **options)
        params = {"fields[imports]": api.fields_param(api.STATUS_FIELDS)}
        return api.import_from_document(self.request("POST", api.IMPORTS_PATH, params=params, body=document))

    def get_import(self, import_id: str, fields: tuple[str, ...] = api.STATUS_FIELDS) -> api.CommerceLayerImport:
        """One import with the attributes in ``fields`` (never ``inputs``)."""
        path, params = api.read_request(import_id, fields)
        return api.import_from_document(self.request("GET", path, params=params))

    def iter_imports(
        self,
        *,
        filters: Mapping[str, Any] | None = None,
        sort: str | None = "-created_at",
        page_size: int = api.MAX_PAGE_SIZE,
        fields: tuple[str, ...] = api.STATUS_FIELDS,
    ) -> Iterator[api.CommerceLayerImport]:
        """Every import matching ``filters`` (``{"reference_eq": "x", "status_in": "pending,in_progress"}``)."""
        params = api.list_params(filters=filters, sort=sort, page_size=page_size, fields=fields)
        number = 1
        while True:
            body = self.request("GET", api.IMPORTS_PATH, params={**params, "page[number]": number})
            page = api.imports_from_document(body)
            yield from page
            pages = api.page_count(body)
            if not page or pages is None or number >= pages:
                return
            number += 1

    def count_imports(self, filters: Mapping[str, Any]) -> int:
        """How many imports match ``filters`` (``{"status_in": "pending,in_progress"}``): one request."""
        params = api.list_params(filters=filters, sort=None, page_size=1, fields=("status",))
        return api.record_count(self.request("GET", api.IMPORTS_PATH, params=params))

    def open_imports(self, limit: int = api.MAX_PAGE_SIZE) -> tuple[int, list[str]]:
        """How many imports are open (pending or in progress) and the ids of the oldest ``limit``: one request."""
        params = api.list_params(
            filters={"status_in": ",".join(api.OPEN_STATUSES)}, sort="created_at", page_size=limit, fields=("status",)
        )
        body = self.request("GET", api.IMPORTS_PATH, params=params)
        return api.record_count(body), [item.id for item in api.imports_from_document(body)]

    def imports_by_id(
        self, import_ids: Iterable[str], fields: Sequence[str] = api.STATUS_FIELDS
    ) -> dict[str, api.CommerceLayerImport]:
        """The imports among ``import_ids`` that exist, by id: one ``filter[q][id_in]`` request per 25 ids."""
        found: dict[str, api.CommerceLayerImport] = {}
        for chunk in api.by_id_chunks(import_ids):
            body = self.request("GET", api.IMPORTS_PATH, params=api.by_id_params(chunk, fields))
            found.update(api.imports_in(chunk, body))
        return found

    def find_imports(self, reference: str) -> list[api.CommerceLayerImport]:
        """The imports whose ``reference`` equals ``reference`` (how a retry finds what it created)."""
        if not isinstance(reference, str) or not reference:
            raise MetrikaConfigError("reference must be a non-empty string")
        return list(self.iter_imports(filters={"reference_eq": reference}))

    def interrupt_import(self, import_id: str) -> api.CommerceLayerImport:
        """Send ``_interrupt``: an open import stops (its status becomes ``interrupted``)."""
        path, params, document = api.interrupt_request(import_id)
        return api.import_from_document(self.request("PATCH", path, params=params, body=document))

    def delete_import(self, import_id: str) -> None:
        self.request("DELETE", f"{api.IMPORTS_PATH}/{api.path_id(import_id)}")
