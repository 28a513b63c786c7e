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
    extra_of,
    extra_value,
    require_credential,
    transport_options,
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
    what = described_as or f"connection {conn_id!r}"
    extra = extra_of(conn, what)
    scheme = extra_value(extra, "scheme", CONN_TYPE)
    if not (conn.host or "").strip():
        raise MetrikaConfigError(
            f"{what} has no host: set it to the organization's base endpoint (https://<slug>.commercelayer.io)"
        )
    timeout, max_retries = transport_options(extra, CONN_TYPE)
    scope = extra_value(extra, "scope", CONN_TYPE)
    if scope is not None and (not isinstance(scope, str) or not _SCOPE.fullmatch(scope.strip())):
        raise MetrikaConfigError(f"the scope of {what} must be text like 'market:code:europe'")
    return CommerceLayerSettings(
        conn_id=conn_id,
        base_url=base_url_from_host(conn.host, conn.port, scheme=scheme, default=None, service=SERVICE),
        client_id=require_credential(getattr(conn, "login", None), "client id (login)", what),
        client_secret=require_credential(conn.password, "client secret (password)", what),
        auth_url=base_url_from_host(
            extra_value(extra, "auth_url", CONN_TYPE), default=DEFAULT_AUTH_URL, service=SERVICE
        ),
        scope=scope.strip() if scope else None,
        timeout=timeout,
        max_retries=max_retries,
    )
