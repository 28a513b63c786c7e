"""Reading a ``fleetio`` Airflow connection into validated settings.

Fields: password = API key (sent as ``Authorization: Token <key>``), login = account token
(``Account-Token``), host = base URL (default ``https://secure.fleetio.com``); extras
``api_version`` (``X-Api-Version``, default and minimum 2024-01-01), ``timeout``,
``max_retries`` (https://developer.fleetio.com/docs/overview/quick-start).
"""

from __future__ import annotations

import dataclasses
import re

from airflow_provider_metrika.exceptions import MetrikaConfigError
from airflow_provider_metrika.fleetio import CONN_TYPE, DEFAULT_HOST, MIN_API_VERSION
from airflow_provider_metrika.hooks.connection import (
    ApiSettings,
    ConnectionLike,
    base_url_from_host,
    extra_of,
    extra_value,
    require_credential,
    transport_options,
)

SERVICE = "Fleetio"
_DATE_VERSION = re.compile(r"\d{4}-\d{2}-\d{2}")

FIELDS_HINT = "the API key as password and the account token as login"


@dataclasses.dataclass(frozen=True, kw_only=True)
class FleetioSettings(ApiSettings):
    """Everything the hook needs; the credentials are kept out of ``repr``."""

    api_key: str = dataclasses.field(repr=False)
    account_token: str = dataclasses.field(repr=False)
    api_version: str = MIN_API_VERSION


def settings_from_connection(conn: ConnectionLike, conn_id: str, *, described_as: str | None = None) -> FleetioSettings:
    """Validate a connection object (no network); errors name the field, never its value when secret."""
    what = described_as or f"connection {conn_id!r}"
    extra = extra_of(conn, what)
    version = extra_value(extra, "api_version", CONN_TYPE) or MIN_API_VERSION
    if not isinstance(version, str) or not _DATE_VERSION.fullmatch(version.strip()):
        raise MetrikaConfigError(f"api_version of {what} must be a date version like {MIN_API_VERSION}")
    if version.strip() < MIN_API_VERSION:
        raise MetrikaConfigError(
            f"api_version of {what} is {version}; List Imports with cursors needs {MIN_API_VERSION} or later"
        )
    timeout, max_retries = transport_options(extra, CONN_TYPE)
    return FleetioSettings(
        conn_id=conn_id,
        base_url=base_url_from_host(
            conn.host, conn.port, scheme=extra_value(extra, "scheme", CONN_TYPE), default=DEFAULT_HOST, service=SERVICE
        ),
        api_key=require_credential(conn.password, "API key (password)", what),
        account_token=require_credential(getattr(conn, "login", None), "account token (login)", what),
        api_version=version.strip(),
        timeout=timeout,
        max_retries=max_retries,
    )
