"""FleetioHook: the imports of a Fleetio account, read with keyset pagination.

Fleetio's API lists imports and their per-row results but cannot create an import (a person
uploads the file in the web app). Every request sends ``Authorization: Token <key>``,
``Account-Token`` and an explicit ``X-Api-Version`` (the cursor lists need 2024-01-01 or
later, and a key is pinned to the version of its creation day:
https://developer.fleetio.com/docs/overview/versioning). A 429 waits its ``Retry-After``
(https://developer.fleetio.com/docs/overview/rate-limiting) through the shared retry policy.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from airflow_provider_metrika.fleetio import CONN_TYPE, api
from airflow_provider_metrika.fleetio.connection import FIELDS_HINT, SERVICE, FleetioSettings, settings_from_connection
from airflow_provider_metrika.hooks.connection import ConnectionLike
from airflow_provider_metrika.hooks.rest import Dialect, RestApiHook

DIALECT = Dialect(SERVICE, api.error_details, secret_name=api.SECRET_NAME)


class FleetioHook(RestApiHook):
    """Reads one Fleetio account's imports.

    Nothing is read from the connection until the first call. ``max_retries`` overrides the
    connection's; ``sleep`` is injectable for tests.
    """

    conn_name_attr = "fleetio_conn_id"
    default_conn_name = "fleetio_default"
    conn_type = CONN_TYPE
    hook_name = "Fleetio"
    dialect = DIALECT
    fields_hint = FIELDS_HINT

    def __init__(
        self,
        fleetio_conn_id: str = default_conn_name,
        *,
        max_retries: int | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(fleetio_conn_id, max_retries=max_retries, sleep=sleep)

    @classmethod
    def parse_settings(cls, conn: ConnectionLike, conn_id: str, *, described_as: str | None = None) -> FleetioSettings:
        return settings_from_connection(conn, conn_id, described_as=described_as)

    @staticmethod
    def secrets_of(settings: FleetioSettings) -> tuple[str, ...]:
        return (settings.api_key, settings.account_token)

    def probe(self) -> str:
        self.imports_page(per_page=2)
        return f"Connected to {self.settings.base_url}; the API key and account token are accepted"

    def request(self, path: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """One authenticated GET (the imports API is read-only), retried per the shared policy."""
        settings = self.settings
        headers = api.auth_headers(settings.api_key, settings.account_token, settings.api_version)
        return self.send("GET", path, headers=headers, params=params, idempotent=True).body

    # -- imports --------------------------------------------------------------------------------------

    def imports_page(
        self, query: api.ImportQuery | None = None, *, start_cursor: str | None = None, per_page: int = 100
    ) -> api.KeysetPage:
        """One page of List Imports; ``start_cursor`` must come from a page of the same ``query``."""
        params = api.imports_params(query, start_cursor=start_cursor, per_page=per_page)
        return api.keyset_page(self.request(api.IMPORTS_PATH, params))

    def iter_imports(self, query: api.ImportQuery | None = None, *, per_page: int = 100) -> Iterator[api.FleetioImport]:
        """Every import matching ``query`` (see :func:`airflow_provider_metrika.fleetio.api.import_query`)."""
        for page in self._pages(lambda cursor: self.imports_page(query, start_cursor=cursor, per_page=per_page)):
            yield from (api.FleetioImport.from_record(record) for record in page.records)

    def find_import(self, import_id: int | str) -> api.FleetioImport | None:
        """The import with this id, or None (Fleetio has no by-id read: imports are scanned newest first)."""
        wanted = api.import_id_of(import_id)
        for item in self.iter_imports(api.import_query(sort="id", direction="desc")):
            if item.id == wanted:
                return item
            if item.id < wanted:
                return None
        return None

    def results_page(
        self,
        import_id: int | str,
        *,
        statuses: tuple[str, ...] = (),
        start_cursor: str | None = None,
        per_page: int = 100,
    ) -> api.KeysetPage:
        """One page of an import's per-row results (``status`` among error, updated, created, unaffected, pending)."""
        path, params = api.results_request(import_id, statuses=statuses, start_cursor=start_cursor, per_page=per_page)
        return api.keyset_page(self.request(path, params))

    def iter_import_results(
        self, import_id: int | str, *, statuses: tuple[str, ...] = (), per_page: int = 100
    ) -> Iterator[dict[str, Any]]:
        """Every per-row result of an import, in row order."""
        for page in self._pages(
            lambda cursor: self.results_page(import_id, statuses=statuses, start_cursor=cursor, per_page=per_page)
        ):
            yield from page.records

    @staticmethod
    def _pages(fetch: Callable[[str | None], api.KeysetPage]) -> Iterator[api.KeysetPage]:
        """Follow ``next_cursor`` to the end (see :class:`~airflow_provider_metrika.fleetio.api.CursorWalk`)."""
        walk = api.CursorWalk()
        page = fetch(None)
        yield page
        while (cursor := walk.after(page)) is not None:
            page = fetch(cursor)
            yield page
