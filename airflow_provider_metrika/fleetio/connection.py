"""Reading a ``fleetio`` Airflow connection into validated settings.

Fields: password = API key (sent as ``Authorization: Token <key>``), login = account token
(``Account-Token``), host = base URL (default ``https://secure.fleetio.com``); extras
``api_version`` (``X-Api-Version``, default and minimum 2024-01-01), ``account`` (the account's name in
asset URIs and job records; default the connection id), ``requests_per_minute`` (the API key's rate limit,
which the process keeps to; default 20, https://developer.fleetio.com/docs/overview/rate-limiting),
``timeout``, ``max_retries`` (https://developer.fleetio.com/docs/overview/quick-start).
"""

from __future__ import annotations

import dataclasses
import re

from airflow_provider_metrika.exceptions import MetrikaConfigError
from airflow_provider_metrika.fleetio import CONN_TYPE, DEFAULT_HOST, MIN_API_VERSION
from airflow_provider_metrika.fleetio.pacing import DEFAULT_REQUESTS_PER_MINUTE
from airflow_provider_metrika.hooks.connection import ApiSettings, ConnectionLike, read_vendor_connection, require_int

SERVICE = "Fleetio"
_DATE_VERSION = re.compile(r"\d{4}-\d{2}-\d{2}")
#: What an account name may be: it is the host part of ``fleetio://`` asset URIs.
ACCOUNT_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]{0,99}")

FIELDS_HINT = "the API key as password and the account token as login"


@dataclasses.dataclass(frozen=True, kw_only=True)
class FleetioSettings(ApiSettings):
    """Everything the hook needs; the credentials are kept out of ``repr``."""

    api_key: str = dataclasses.field(repr=False)
    account_token: str = dataclasses.field(repr=False)
    api_version: str = MIN_API_VERSION
    #: The account's name in job records, logs and asset URIs (``fleetio://<account>/<import type>``).
    account: str = ""
    #: The API key's rate limit: this process sends it no more requests a minute.
    requests_per_minute: int = DEFAULT_REQUESTS_PER_MINUTE


def settings_from_connection(conn: ConnectionLike, conn_id: str, *, described_as: str | None = None) -> FleetioSettings:
    """Validate a connection object (no network); errors name the field, never its value when secret."""
    read = read_vendor_connection(
        conn, conn_id, conn_type=CONN_TYPE, service=SERVICE, default_host=DEFAULT_HOST, described_as=described_as
    )
    version = read.value("api_version") or MIN_API_VERSION
    if not isinstance(version, str) or not _DATE_VERSION.fullmatch(version.strip()):
        raise MetrikaConfigError(f"api_version of {read.what} must be a date version like {MIN_API_VERSION}")
    if version.strip() < MIN_API_VERSION:
        raise MetrikaConfigError(
            f"api_version of {read.what} is {version}; List Imports with cursors needs {MIN_API_VERSION} or later"
        )
    account = read.value("account") or conn_id
    if not isinstance(account, str) or not ACCOUNT_NAME.fullmatch(account.strip().lower()):
        raise MetrikaConfigError(
            f"account of {read.what} must be a short name of lowercase letters, digits, '.', '_' or '-' "
            f"(it names the account in fleetio:// asset URIs), got {account!r}"[:300]
        )
    per_minute = read.value("requests_per_minute")
    return FleetioSettings(
        **read.api_fields(),
        requests_per_minute=DEFAULT_REQUESTS_PER_MINUTE
        if per_minute is None
        else require_int(per_minute, f"requests_per_minute of {read.what}", minimum=1, maximum=100_000),
        account=account.strip().lower(),
        api_key=read.credential(conn.password, "API key (password)"),
        account_token=read.credential(getattr(conn, "login", None), "account token (login)"),
        api_version=version.strip(),
    )
