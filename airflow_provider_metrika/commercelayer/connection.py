"""Reading a ``commercelayer`` Airflow connection into validated settings.

Fields: login = client id, password = client secret, host = the organization's base
endpoint (``https://<slug>.commercelayer.io``); extras ``auth_url`` (default the global token
endpoint), ``scope`` (``market:code:europe``, ``stock_location:id:...``), ``timeout``,
``max_retries`` (https://docs.commercelayer.io/core/authentication/client-credentials).
"""

from __future__ import annotations

import dataclasses
import re

from airflow_provider_metrika.commercelayer import CONN_TYPE, DEFAULT_AUTH_URL
from airflow_provider_metrika.exceptions import MetrikaConfigError
from airflow_provider_metrika.hooks.connection import (
    ApiSettings,
    ConnectionLike,
    base_url_from_host,
    read_vendor_connection,
)

SERVICE = "Commerce Layer"
#: One or more space-separated ``<type>:<id|code>:<value>`` scopes.
_SCOPE = re.compile(r"[a-z_]+:[a-z_]+:[^\s:]+( [a-z_]+:[a-z_]+:[^\s:]+)*")

FIELDS_HINT = "the client id as login, the client secret as password and the base endpoint as host"


@dataclasses.dataclass(frozen=True, kw_only=True)
class CommerceLayerSettings(ApiSettings):
    """Everything the hook needs; the client secret is kept out of ``repr``."""

    client_id: str
    client_secret: str = dataclasses.field(repr=False)
    auth_url: str = DEFAULT_AUTH_URL
    scope: str | None = None


def settings_from_connection(
    conn: ConnectionLike, conn_id: str, *, described_as: str | None = None
) -> CommerceLayerSettings:
    """Validate a connection object (no network); errors name the field, never its secret value."""
    read = read_vendor_connection(
        conn,
        conn_id,
        conn_type=CONN_TYPE,
        service=SERVICE,
        default_host=None,
        host_hint="the organization's base endpoint (https://<slug>.commercelayer.io)",
        described_as=described_as,
    )
    scope = read.value("scope")
    if scope is not None and (not isinstance(scope, str) or not _SCOPE.fullmatch(scope.strip())):
        raise MetrikaConfigError(f"the scope of {read.what} must be text like 'market:code:europe'")
    return CommerceLayerSettings(
        **read.api_fields(),
        client_id=read.credential(getattr(conn, "login", None), "client id (login)"),
        client_secret=read.credential(conn.password, "client secret (password)"),
        auth_url=base_url_from_host(read.value("auth_url"), default=DEFAULT_AUTH_URL, service=SERVICE),
        scope=scope.strip() if scope else None,
    )
