"""Metrika's request/response layer, without I/O: what both hooks send and how they read the answers.

The sync :class:`~airflow_provider_metrika.hooks.metrika.MetrikaHook` (``requests``) and the async
:class:`~airflow_provider_metrika.hooks.metrika_async.MetrikaAsyncHook` (``aiohttp``) differ only in how
bytes travel. Everything else is here, once: headers, paths and queries of the status and list endpoints
(https://yandex.com/dev/metrika/en/management/openapi/offline_conversion/findAllUploadings), the timeouts
a connection asks for, and how an answer becomes a dict or an :class:`~airflow_provider_metrika.uploads.Uploading`
(or the provider's exception, with the token withheld).
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.metadata
import re
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

from airflow_provider_metrika import __version__
from airflow_provider_metrika.exceptions import MetrikaApiError, MetrikaConfigError
from airflow_provider_metrika.hooks.connection import DEFAULT_CONNECT_TIMEOUT, MetrikaConnectionSettings, require_int
from airflow_provider_metrika.hooks.redaction import OAUTH_TOKEN
from airflow_provider_metrika.hooks.rest import query_params
from airflow_provider_metrika.hooks.retry import Dialect, decode_response, json_or_none, plain_text
from airflow_provider_metrika.uploads import Uploading, UploadKind, get_upload_kind

T = TypeVar("T")

#: Methods that may be resent after an ambiguous failure (HTTP semantics); POST is not among them.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
LAST_UPLOADINGS_MAX_LIMIT = 1000

_PATH_ID = re.compile(r"^[A-Za-z0-9_.:-]+$")


def error_details(body: str) -> tuple[str, str]:
    """Metrika's ``error_type`` and reason from its error body
    (https://yandex.com/dev/metrika/en/intro/errors); checked for secrets where the error is built."""
    decoded = json_or_none(body)
    if isinstance(decoded, dict):
        listed = decoded.get("errors")
        errors = [e for e in listed if isinstance(e, dict)] if isinstance(listed, list) else []
        error_type = next((str(e["error_type"]) for e in errors if e.get("error_type")), "unknown")
        messages = [str(e["message"]) for e in errors if e.get("message")]
        message = "; ".join(messages) or str(decoded.get("message") or "")
        return error_type, message or "no reason given"
    return "unknown", plain_text(body) or "empty response body"


#: How Metrika's answers read: its error body, ``Retry-After``, and its OAuth token withheld by that name.
DIALECT = Dialect("Metrika", error_details, secret_name=OAUTH_TOKEN)


@dataclasses.dataclass(frozen=True)
class ApiCall:
    """One request, ready for either transport: method, URL, query, and whether it may be resent."""

    method: str
    path: str
    url: str
    query: Any
    idempotent: bool
    token: str

    @property
    def what(self) -> str:
        return f"{self.method} {self.path}"

    def read(self, status: int, text: str, retry_after: str | None) -> dict[str, Any]:
        """The answer's JSON object, or the provider's exception (the token never quoted)."""
        return decode_response(
            status,
            text,
            method=self.method,
            path=self.path,
            retry_after=retry_after,
            secrets=(self.token,),
            idempotent=self.idempotent,
            dialect=DIALECT,
        )


def prepare_call(
    settings: MetrikaConnectionSettings,
    method: str,
    path: str,
    params: Mapping[str, Any] | None = None,
    *,
    idempotent: bool | None = None,
) -> ApiCall:
    """The request both hooks send for ``method path?params`` (GET is idempotent by default, POST is not)."""
    method = method.upper()
    path = api_path(path)
    return ApiCall(
        method=method,
        path=path,
        url=settings.base_url + path,
        query=query_params(params),
        idempotent=method in IDEMPOTENT_METHODS if idempotent is None else idempotent,
        token=settings.token,
    )


def transport_timeout(settings: MetrikaConnectionSettings, override: tuple[float, float] | None) -> tuple[float, float]:
    """(connect, read) seconds: the hook's own when given, else 10 s and the connection's read timeout."""
    return override or (DEFAULT_CONNECT_TIMEOUT, settings.timeout)


def user_agent() -> str:
    """``airflow-provider-metrika/<ver> (apache-airflow/<ver>)``, read without importing Airflow."""
    try:
        airflow_version = importlib.metadata.version("apache-airflow")
    except importlib.metadata.PackageNotFoundError:
        airflow_version = "unknown"
    return f"airflow-provider-metrika/{__version__} (apache-airflow/{airflow_version})"


def auth_headers(settings: MetrikaConnectionSettings) -> dict[str, str]:
    """Headers of every request (both hooks)."""
    return {
        "Authorization": f"OAuth {settings.token}",
        "User-Agent": user_agent(),
        "Accept": "application/json",
    }


def api_path(path: str) -> str:
    """A path relative to the base URL, with its leading slash."""
    return path if path.startswith("/") else "/" + path


def path_id(uploading_id: int | str) -> str:
    """An uploading id checked to be safe inside a URL path (it cannot add segments or a query)."""
    text = str(uploading_id).strip()
    if isinstance(uploading_id, bool) or not _PATH_ID.match(text):
        raise MetrikaConfigError(f"uploading_id must be a Metrika uploading id, got {uploading_id!r}")
    return text


def uploading_path(kind: UploadKind, counter_id: int, uploading_id: int | str) -> str:
    """The by-id path of an uploading."""
    return kind.path(kind.get_path, counter_id, uploading_id=path_id(uploading_id))


@dataclasses.dataclass(frozen=True)
class Read(Generic[T]):
    """A read both hooks send alike: ``GET path?params``, its JSON object parsed by ``parse``."""

    path: str
    params: Mapping[str, str] | None
    parse: Callable[[Mapping[str, Any]], T]


def uploading_read(kind: str | UploadKind, counter_id: int, uploading_id: int | str) -> Read[Uploading]:
    """The read of one uploading by id."""
    upload_kind = get_upload_kind(kind)
    path = uploading_path(upload_kind, counter_id, uploading_id)
    return Read(path, None, functools.partial(uploading_from_body, upload_kind, counter_id))


def uploadings_page_read(
    kind: str | UploadKind, counter_id: int, limit: int | None, offset: int | None
) -> Read[list[Uploading]]:
    """The read of one page of a kind's uploadings (see :func:`list_request`)."""
    upload_kind = get_upload_kind(kind)
    path, query = list_request(upload_kind, counter_id, limit, offset)
    return Read(path, query, functools.partial(uploadings_from_body, upload_kind, counter_id))


def list_request(
    kind: UploadKind, counter_id: int, limit: int | None, offset: int | None
) -> tuple[str, dict[str, str]]:
    """Path and query of one page of a kind's uploadings (management offset paging or CDP last_uploadings)."""
    if kind.synchronous:
        if offset is not None:
            raise MetrikaConfigError(
                "offset is not supported for CDP uploadings (last_uploadings pages by time); use iter_uploadings"
            )
        if limit is not None:
            limit = require_int(limit, "limit", minimum=1, maximum=LAST_UPLOADINGS_MAX_LIMIT)
        return kind.path(kind.list_path, counter_id), query_params({"limit": limit})
    if limit is not None:
        limit = require_int(limit, "limit", minimum=1)
    if offset is not None:
        offset = require_int(offset, "offset", minimum=0)
    return kind.path(kind.list_path, counter_id), query_params({**kind.list_params, "limit": limit, "offset": offset})


def uploading_from_body(kind: UploadKind, counter_id: int, body: Mapping[str, Any]) -> Uploading:
    """The uploading of an upload/get/confirm answer (``{"uploading": {...}}``)."""
    item = body.get("uploading")
    if not isinstance(item, Mapping):
        # The chats page documents ``{"uploadings": [...]}`` for an upload; accept that slip too.
        items = body.get("uploadings")
        item = items[0] if isinstance(items, list) and items and isinstance(items[0], Mapping) else None
    if item is None:
        raise MetrikaApiError(200, "invalid_response", f"Metrika's answer has no 'uploading' object: {sorted(body)}")
    return _uploading(kind, counter_id, item)


def uploadings_from_body(kind: UploadKind, counter_id: int, body: Mapping[str, Any]) -> list[Uploading]:
    """The uploadings of a list answer (``{"uploadings": [...]}``).

    A list answer is what a search for an earlier upload relies on, so one that cannot
    be read whole (no ``uploadings`` array, an item that is not an uploading) raises
    instead of counting as "no uploadings": an unreadable answer must never let an
    upload happen twice.
    """
    return [_uploading(kind, counter_id, item) for item in list_items(body, kind.id_field)]


def list_items(body: Mapping[str, Any], id_field: str | None) -> list[Mapping[str, Any]]:
    """The items of a list answer, each an object (with ``id_field`` when given); else ``invalid_response``."""
    items = body.get("uploadings")
    if not isinstance(items, list):
        shape = "has no 'uploadings' array" if items is None else f"has 'uploadings' as {type(items).__name__}"
        raise MetrikaApiError(200, "invalid_response", f"Metrika's list answer {shape} (keys: {sorted(body)[:10]})")
    for index, item in enumerate(items):
        if not isinstance(item, Mapping) or (id_field is not None and item.get(id_field) is None):
            wanted = "an object" if id_field is None else f"an uploading with {id_field!r}"
            raise MetrikaApiError(200, "invalid_response", f"item {index} of Metrika's list answer is not {wanted}")
    return items


def _uploading(kind: UploadKind, counter_id: int, item: Mapping[str, Any]) -> Uploading:
    try:
        return Uploading.from_api(kind, counter_id, item)
    except ValueError as error:
        raise MetrikaApiError(200, "invalid_response", str(error)) from None
