"""Reading a ``yandex_metrika`` Airflow connection into validated settings.

Both hooks (sync and async) fetch the connection differently but parse it here, so a
connection that works for an operator works for its trigger too. Parsing reads the
raw ``extra`` JSON itself instead of ``extra_dejson`` (which may call the secrets
masker, a known deadlock on the triggerer's event loop). The field readers
(``extra_of``, ``extra_value``, ``base_url_from_host``, ``parse_timeout``, ...) serve the
other vendors' connections too.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import logging
import math
import re
from collections.abc import Callable, Mapping
from typing import Any, Protocol
from urllib.parse import urlsplit

from airflow_provider_metrika import CONN_TYPE, DEFAULT_HOST
from airflow_provider_metrika.exceptions import ProviderConfigError
from airflow_provider_metrika.hooks.retry import DEFAULT_MAX_RETRIES, MAX_RETRIES_LIMIT
from airflow_provider_metrika.version_compat import (
    AirflowNotFoundException,
    BaseHook,
    amask_secret,
    get_async_connection,
    mask_secret,
)

log = logging.getLogger(__name__)

DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_READ_TIMEOUT = 300.0

_TOKEN_FORBIDDEN = re.compile(r"[\s\x00-\x1f\x7f]")


class ConnectionLike(Protocol):
    """The part of an Airflow ``Connection`` the parser reads (both Airflow 2 and 3 shapes)."""

    host: str | None
    password: str | None
    port: int | None
    extra: Any


@dataclasses.dataclass(frozen=True)
class MetrikaConnectionSettings:
    """Everything a hook needs from the connection; the token is kept out of ``repr``."""

    conn_id: str
    base_url: str
    token: str = dataclasses.field(repr=False)
    counter_id: int | None = None
    timeout: float = DEFAULT_READ_TIMEOUT
    max_retries: int = DEFAULT_MAX_RETRIES


@dataclasses.dataclass(frozen=True, kw_only=True)
class ApiSettings:
    """What every vendor's connection settings hold besides credentials."""

    conn_id: str
    base_url: str
    timeout: float = DEFAULT_READ_TIMEOUT
    max_retries: int = DEFAULT_MAX_RETRIES


@dataclasses.dataclass(frozen=True)
class VendorConnection:
    """The part of a vendor's connection every vendor reads alike, read once by :func:`read_vendor_connection`."""

    conn_id: str
    conn_type: str
    #: How error messages name the connection (``connection 'x'`` or "the tested connection").
    what: str
    extra: Mapping[str, Any]
    base_url: str
    timeout: float
    max_retries: int

    def value(self, key: str) -> Any:
        """An extra (or its Airflow-2 ``extra__<type>__<key>`` form); None when absent or blank."""
        return extra_value(self.extra, key, self.conn_type)

    def credential(self, value: str | None, field: str) -> str:
        """A required credential; errors name ``field``, never the value."""
        return require_credential(value, field, self.what)

    def api_fields(self) -> dict[str, Any]:
        """The :class:`ApiSettings` fields, to spread into a vendor's settings class."""
        return {
            "conn_id": self.conn_id,
            "base_url": self.base_url,
            "timeout": self.timeout,
            "max_retries": self.max_retries,
        }


def read_vendor_connection(
    conn: ConnectionLike,
    conn_id: str,
    *,
    conn_type: str,
    service: str,
    default_host: str | None,
    host_hint: str = "the API base URL",
    described_as: str | None = None,
) -> VendorConnection:
    """Read what every vendor connection has: the extra JSON, the base URL (host, port, ``scheme`` extra)
    and the ``timeout``/``max_retries`` extras. Without a host and a ``default_host``, the error says to
    set the host to ``host_hint``. No network, no secrets masker."""
    what = described_as or f"connection {conn_id!r}"
    extra = extra_of(conn, what)
    if default_host is None and not (conn.host or "").strip():
        raise ProviderConfigError(f"{what} has no host: set it to {host_hint}")
    timeout, max_retries = transport_options(extra, conn_type)
    base_url = base_url_from_host(
        conn.host, conn.port, scheme=extra_value(extra, "scheme", conn_type), default=default_host, service=service
    )
    return VendorConnection(conn_id, conn_type, what, extra, base_url, timeout, max_retries)


def settings_from_connection(
    conn: ConnectionLike, conn_id: str, *, described_as: str | None = None
) -> MetrikaConnectionSettings:
    """Validate a connection object and turn it into settings (no network, no secrets masker).

    ``described_as`` replaces ``connection '<conn_id>'`` in error messages where the id means
    nothing to the reader (the UI's Test button runs on a random temporary id).
    """
    what = described_as or f"connection {conn_id!r}"
    extra = extra_of(conn, what)
    counter_id = extra_value(extra, "counter_id")
    timeout, max_retries = transport_options(extra, CONN_TYPE)
    scheme = extra_value(extra, "scheme")
    return MetrikaConnectionSettings(
        conn_id=conn_id,
        base_url=base_url_from_host(conn.host, conn.port, scheme=scheme),
        token=_token_of(conn, what),
        counter_id=None if counter_id is None else parse_counter_id(counter_id, "counter_id (connection extra)"),
        timeout=timeout,
        max_retries=max_retries,
    )


def load_settings(
    conn_id: str, get_connection: Callable[[str], ConnectionLike] = BaseHook.get_connection
) -> MetrikaConnectionSettings:
    """Fetch the connection through Airflow (sync hook, task side), parse it, and mask its token in logs."""
    try:
        conn = get_connection(conn_id)
    except AirflowNotFoundException:
        raise _connection_not_found(conn_id) from None
    settings = settings_from_connection(conn, conn_id)
    mask_secret(settings.token)
    return settings


async def aload_settings(conn_id: str) -> MetrikaConnectionSettings:
    """Fetch the connection without blocking the event loop (async hook, triggerer side); mask its token."""
    try:
        conn = await get_async_connection(conn_id)
    except AirflowNotFoundException:
        raise _connection_not_found(conn_id) from None
    settings = settings_from_connection(conn, conn_id)
    await amask_secret(settings.token)
    return settings


def _connection_not_found(conn_id: str) -> ProviderConfigError:
    return ProviderConfigError(
        f"Airflow connection {conn_id!r} is not defined; create a {CONN_TYPE!r} connection "
        f"(or set AIRFLOW_CONN_{conn_id.upper()}) with the OAuth token as its password"
    )


def resolve_counter_id(value: int | str | None, settings: MetrikaConnectionSettings) -> int:
    """The counter id to use: the explicit value, else the connection's default."""
    if value is None or (isinstance(value, str) and not value.strip()):
        if settings.counter_id is None:
            raise ProviderConfigError(
                f"no counter id: pass counter_id or set counter_id in the extra of connection {settings.conn_id!r}"
            )
        return settings.counter_id
    return parse_counter_id(value, "counter_id")


def parse_counter_id(value: Any, name: str) -> int:
    """A Metrika counter id: a positive integer, given as int or digit string."""
    return require_int(value, name, minimum=1)


def parse_timeout(value: Any, name: str) -> float:
    """A positive number of seconds."""
    number = _as_number(value, name, float)
    if not math.isfinite(number) or number <= 0:
        raise ProviderConfigError(f"{name} must be a positive number of seconds, got {value!r}")
    return number


def parse_max_retries(value: Any, name: str) -> int:
    return require_int(value, name, minimum=0, maximum=MAX_RETRIES_LIMIT)


def require_int(value: Any, name: str, *, minimum: int, maximum: int | None = None) -> int:
    """An integer within bounds, accepting digit strings; the error names the parameter."""
    number = _as_number(value, name, int)
    if number < minimum or (maximum is not None and number > maximum):
        bounds = f"between {minimum} and {maximum}" if maximum is not None else f">= {minimum}"
        raise ProviderConfigError(f"{name} must be an integer {bounds}, got {value!r}")
    return number


def base_url_from_host(
    host: str | None,
    port: int | None = None,
    *,
    scheme: Any = None,
    default: str | None = DEFAULT_HOST,
    service: str = "Metrika",
) -> str:
    """``default`` (Metrika's ``https://api-metrika.yandex.net``) unless the connection says otherwise.

    A host without a scheme gets the ``scheme`` extra, else https. The extra exists for the
    URI form, where ``yandex-metrika://:TOKEN@127.0.0.1:8081?scheme=http`` reads naturally
    (Airflow's own alternative is the double scheme ``yandex-metrika://http://:TOKEN@127.0.0.1:8081``).
    """
    wanted = _parse_scheme(scheme)
    host = (host or "").strip()
    if not host:
        if default is None:
            raise ProviderConfigError(f"the {service} connection needs a host (the API base URL)")
        if wanted == "http":
            raise ProviderConfigError(f"extra scheme='http' needs a host: the {service} API itself is https only")
        return default
    if "://" not in host:
        host = f"{wanted or 'https'}://{host}"
    elif wanted is not None and not host.lower().startswith(f"{wanted}://"):
        raise ProviderConfigError(f"connection host {host!r} and extra scheme={wanted!r} disagree: drop one of them")
    parts = urlsplit(host)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ProviderConfigError(f"connection host must be an http(s) URL or a host name, got {host!r}")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ProviderConfigError("connection host must not carry credentials, a query or a fragment")
    netloc = parts.netloc
    if port and parts.port is None:
        netloc = f"{netloc}:{port}"
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        log.warning("%s connection uses plain http to %s: credentials are sent unencrypted", service, parts.hostname)
    return f"{parts.scheme}://{netloc}{parts.path.rstrip('/')}"


def _parse_scheme(value: Any) -> str | None:
    if value is None:
        return None
    scheme = str(value).strip().lower().removesuffix("://")
    if scheme not in ("http", "https"):
        raise ProviderConfigError(f"extra scheme must be 'http' or 'https', got {value!r}")
    return scheme


def _is_loopback(hostname: str) -> bool:
    if hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


def _token_of(conn: ConnectionLike, what: str) -> str:
    token = (conn.password or "").strip()
    if not token:
        raise ProviderConfigError(
            f"{what} has no OAuth token: the password field (labelled 'OAuth token' in the form) is empty"
        )
    if _TOKEN_FORBIDDEN.search(token):
        raise ProviderConfigError(f"the OAuth token of {what} contains whitespace or control characters")
    if not token.isascii():
        # An HTTP header carries Latin-1 at most and OAuth tokens are ASCII: a typographic character or
        # a stray letter pasted into the password field would otherwise fail deep in the HTTP client.
        raise ProviderConfigError(
            f"the OAuth token of {what} contains non-ASCII characters; "
            "an OAuth token is ASCII letters, digits and punctuation: paste it again into the password field"
        )
    return token


def extra_of(conn: ConnectionLike, what: str) -> Mapping[str, Any]:
    raw = conn.extra
    if raw is None or raw == "":
        return {}
    if isinstance(raw, Mapping):
        return raw
    try:
        extra = json.loads(raw)
    except (TypeError, ValueError):
        raise ProviderConfigError(f"the extra of {what} is not valid JSON") from None
    if not isinstance(extra, Mapping):
        raise ProviderConfigError(f"the extra of {what} must be a JSON object")
    return extra


def extra_value(extra: Mapping[str, Any], key: str, conn_type: str = CONN_TYPE) -> Any:
    """The value of ``key`` or its Airflow-2 form ``extra__<conn_type>__<key>``; blanks count as absent."""
    for candidate in (key, f"extra__{conn_type}__{key}"):
        value = extra.get(candidate)
        if value is not None and not (isinstance(value, str) and not value.strip()):
            return value
    return None


def _as_number(value: Any, name: str, kind: type[int] | type[float]) -> Any:
    if isinstance(value, bool):
        raise ProviderConfigError(f"{name} must be a number, got {value!r}")
    if isinstance(value, str):
        text = value.strip()
        try:
            return kind(text)
        except ValueError:
            raise ProviderConfigError(f"{name} must be a number, got {value!r}") from None
    if isinstance(value, int) or (kind is float and isinstance(value, float)):
        return kind(value)
    if kind is int and isinstance(value, float) and value.is_integer():
        return int(value)
    raise ProviderConfigError(f"{name} must be a number, got {value!r}")


def fetch_connection(
    conn_id: str, get_connection: Callable[[str], ConnectionLike], conn_type: str, fields_hint: str
) -> ConnectionLike:
    """The Airflow connection ``conn_id``; a config error saying how to create it when it is not defined."""
    try:
        return get_connection(conn_id)
    except AirflowNotFoundException:
        raise connection_not_defined(conn_id, conn_type, fields_hint) from None


async def afetch_connection(conn_id: str, conn_type: str, fields_hint: str) -> ConnectionLike:
    """:func:`fetch_connection` without blocking the event loop (async hooks, triggerer side)."""
    try:
        return await get_async_connection(conn_id)
    except AirflowNotFoundException:
        raise connection_not_defined(conn_id, conn_type, fields_hint) from None


def connection_not_defined(conn_id: str, conn_type: str, fields_hint: str) -> ProviderConfigError:
    return ProviderConfigError(
        f"Airflow connection {conn_id!r} is not defined; create a {conn_type!r} connection with {fields_hint}"
    )


def require_credential(value: str | None, field: str, what: str) -> str:
    """A non-empty credential without whitespace or control characters; errors name the field, never the value."""
    text = (value or "").strip()
    if not text:
        raise ProviderConfigError(f"{what} has no {field}")
    if _TOKEN_FORBIDDEN.search(text):
        raise ProviderConfigError(f"the {field} of {what} contains whitespace or control characters")
    return text


def transport_options(extra: Mapping[str, Any], conn_type: str) -> tuple[float, int]:
    """The ``timeout`` (read, seconds) and ``max_retries`` extras of a connection, defaults when absent."""
    timeout = extra_value(extra, "timeout", conn_type)
    max_retries = extra_value(extra, "max_retries", conn_type)
    if timeout is not None:
        timeout = parse_timeout(timeout, "timeout (connection extra)")
    if max_retries is not None:
        max_retries = parse_max_retries(max_retries, "max_retries (connection extra)")
    return (
        DEFAULT_READ_TIMEOUT if timeout is None else timeout,
        DEFAULT_MAX_RETRIES if max_retries is None else max_retries,
    )
