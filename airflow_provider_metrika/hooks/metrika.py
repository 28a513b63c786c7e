"""MetrikaHook: the synchronous client every operator and the sensor use.

It owns authentication (OAuth token from the ``yandex_metrika`` connection) and every
HTTP call: a pooled ``requests`` session, the shared retry policy, the per-token
concurrency limit and streamed multipart uploads whose memory does not grow with the
file. The module also holds the endpoint plumbing (paths, query, answer parsing)
that the async hook reuses.
"""

from __future__ import annotations

import contextlib
import datetime
import io
import os
import re
import socket
import time
from collections.abc import Callable, Iterator, Mapping
from functools import cached_property
from typing import Any, BinaryIO

import requests
from requests.adapters import HTTPAdapter
from requests_toolbelt import MultipartEncoder, MultipartEncoderMonitor
from urllib3.connection import HTTPConnection

from airflow_provider_metrika import CONN_TYPE
from airflow_provider_metrika.cdp_schema import ATTRIBUTES_PATH, ORDER_STATUSES_PATH, PRODUCTS_PATH
from airflow_provider_metrika.exceptions import MetrikaApiError, MetrikaClientError, MetrikaConfigError, MetrikaError
from airflow_provider_metrika.formats.expenses import format_date_range
from airflow_provider_metrika.hooks import forms
from airflow_provider_metrika.hooks.concurrency import request_slots
from airflow_provider_metrika.hooks.connection import (
    DEFAULT_CONNECT_TIMEOUT,
    MetrikaConnectionSettings,
    load_settings,
    parse_max_retries,
    parse_timeout,
    require_int,
    resolve_counter_id,
    settings_from_connection,
)
from airflow_provider_metrika.hooks.metrika_api import (
    DIALECT,
    LAST_UPLOADINGS_MAX_LIMIT,
    ApiCall,
    Read,
    T,
    auth_headers,
    list_items,
    path_id,
    prepare_call,
    transport_timeout,
    uploading_from_body,
    uploading_read,
    uploadings_from_body,
    uploadings_page_read,
)
from airflow_provider_metrika.hooks.progress import UploadProgressLogger
from airflow_provider_metrika.hooks.retry import RetryPolicy, raise_transport_failure, scrub
from airflow_provider_metrika.lineage import report_hook_lineage
from airflow_provider_metrika.uploads import (
    CDP,
    MANAGEMENT,
    USER_PARAMS_CONFIRMED_STATUSES,
    Uploading,
    UploadKind,
    get_upload_kind,
)
from airflow_provider_metrika.version_compat import BaseHook

LAST_UPLOADINGS_PATH = CDP + "/last_uploadings"
COUNTER_PATH = MANAGEMENT
COUNTERS_PATH = "/management/v1/counters"
#: Bytes per socket write when streaming a body (urllib3's default is 16 KiB).
UPLOAD_BLOCK_SIZE = 1024 * 1024

Timeout = float | tuple[float, float]
Source = str | os.PathLike | Callable[[], BinaryIO]


class _StreamingAdapter(HTTPAdapter):
    """Pooled adapter that writes bodies in large blocks and keeps idle TCP connections alive.

    Large blocks cut per-chunk overhead on 1 GB uploads; keep-alive probes stop NATs and
    proxies from dropping the connection while Metrika digests a big file.
    """

    def init_poolmanager(self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any) -> None:
        pool_kwargs.setdefault("blocksize", UPLOAD_BLOCK_SIZE)
        pool_kwargs.setdefault("socket_options", _keepalive_socket_options())
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)


def _keepalive_socket_options() -> list[tuple[int, int, int]]:
    options = [*HTTPConnection.default_socket_options, (socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)]
    for name, value in (("TCP_KEEPIDLE", 60), ("TCP_KEEPINTVL", 20), ("TCP_KEEPCNT", 5)):
        if hasattr(socket, name):
            options.append((socket.IPPROTO_TCP, getattr(socket, name), value))
    return options


class _UploadReader:
    """The file part's bytes for the multipart encoder.

    Reports the bytes still to send as its length (the encoder sizes the body from
    it), passes every chunk to ``chunk_filter`` before it goes out, reads once past
    the announced size to confirm the end (a validating wrapper finishes its checks
    there, before the last chunk is sent), and remembers an error raised while
    reading so the hook can re-raise it unchanged (urllib3 may wrap errors raised
    mid-body).
    """

    def __init__(self, handle: BinaryIO, chunk_filter: Callable[[bytes], None] | None) -> None:
        if isinstance(handle, io.TextIOBase):
            raise MetrikaConfigError("the upload source must be opened in binary mode ('rb')")
        self._handle = handle
        self._filter = chunk_filter
        self._remaining = _remaining_size(handle)
        self.error: BaseException | None = None

    def __len__(self) -> int:
        return self._remaining

    def read(self, size: int = -1) -> bytes:
        if self._remaining <= 0:
            return b""
        wanted = self._remaining if size is None or size < 0 else min(size, self._remaining)
        try:
            data = self._handle.read(wanted)
            if not data:
                raise MetrikaError(f"the upload source ended {self._remaining} bytes before its announced size")
            if self._filter is not None:
                self._filter(data)
            self._remaining -= len(data)
            if self._remaining <= 0 and self._handle.read(1):
                raise MetrikaError("the upload source grew beyond its announced size while it was being sent")
        except BaseException as error:
            self.error = error
            raise
        return data


def _remaining_size(handle: BinaryIO) -> int:
    """Bytes still to read: the handle's own ``len`` (requests-toolbelt's convention), else found by seeking.

    A Content-Length is needed, so a source that neither announces nor can seek is refused.
    """
    announced = getattr(handle, "len", None)
    if isinstance(announced, int) and not isinstance(announced, bool):
        return announced
    try:
        start = handle.tell()
        end = handle.seek(0, os.SEEK_END)
        handle.seek(start)
    except (AttributeError, OSError, ValueError):
        raise MetrikaConfigError(
            "the upload source must be a seekable binary file or announce its size as `len` "
            "(the size is sent as Content-Length)"
        ) from None
    return end - start


@contextlib.contextmanager
def _open_source(source: Source) -> Iterator[BinaryIO]:
    """A fresh handle per attempt: a path is reopened, a callable is called again."""
    handle = source() if callable(source) else open(os.fspath(source), "rb")  # noqa: SIM115 - closed below
    try:
        yield handle
    finally:
        handle.close()


_METRIKA_DATETIME = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})(?P<sep>[T ])(?P<time>\d{2}:\d{2}:\d{2})"
    r"(?:\.(?P<fraction>\d{1,6}))?(?P<zone>Z|[+-]\d{2}:?\d{2})?"
)


def _moment(raw: Any) -> datetime.datetime | None:
    """A CDP ``datetime`` (or cursor) as an aware datetime, UTC unless it names a zone; ``None`` if unreadable."""
    if not isinstance(raw, str):
        return None
    try:
        moment = datetime.datetime.fromisoformat(raw.strip())
    except ValueError:
        return None
    return moment.replace(tzinfo=datetime.UTC) if moment.tzinfo is None else moment


def _oldest_datetime(page: list[dict[str, Any]]) -> tuple[datetime.datetime, str] | None:
    """The moment and the ``datetime`` string (as Metrika wrote it) of a page's oldest uploading."""
    stamped = [(moment, item["datetime"]) for item in page if (moment := _moment(item.get("datetime"))) is not None]
    return min(stamped, key=lambda pair: pair[0]) if stamped else None


def _just_after(raw: str) -> str | None:
    """``raw`` plus one unit of its own precision (1 s for ``18:02:01``, 1 ms for ``.123``), written alike.

    A cursor just after a value re-reads every uploading written with that same value,
    whatever finer time Metrika keeps behind it. ``None`` if ``raw`` is not in a known shape.
    """
    match = _METRIKA_DATETIME.fullmatch(raw.strip())
    if match is None:
        return None
    fraction = match["fraction"] or ""
    try:
        naive = datetime.datetime.fromisoformat(f"{match['date']}T{match['time']}.{fraction:0<6}")
        later = naive + datetime.timedelta(microseconds=10 ** (6 - len(fraction)))
    except (ValueError, OverflowError):
        return None
    written = later.strftime(f"%Y-%m-%d{match['sep']}%H:%M:%S")
    if fraction:
        written += "." + f"{later.microsecond:06d}"[: len(fraction)]
    return written + (match["zone"] or "")


def _unseen_uploadings(page: list[dict[str, Any]], seen: set[str]) -> list[dict[str, Any]]:
    """The page's uploadings whose ``uploading_id`` is not in ``seen`` (which learns them); id-less ones pass."""
    fresh = []
    for item in page:
        key = item.get("uploading_id")
        if key is not None:
            if str(key) in seen:
                continue
            seen.add(str(key))
        fresh.append(item)
    return fresh


def _next_last_uploadings_cursor(
    page: list[dict[str, Any]], brought_news: bool, cursor_moment: datetime.datetime | None
) -> tuple[datetime.datetime, str] | None:
    """The cursor of the page after a full one, or ``None`` to stop.

    Normally just after the oldest ``datetime`` so that value is re-read (``datetime_offset``
    is strictly-earlier and values tie); strictly before it when the page brought nothing
    new (more than ``limit`` uploadings share that value). The cursor only ever moves back,
    so paging ends.
    """
    oldest = _oldest_datetime(page)
    if oldest is None:
        return None
    moment, raw = oldest
    reread = _just_after(raw) if brought_news else None
    candidates = [(_moment(reread), reread)] if reread is not None else []
    candidates.append((moment, raw))
    for candidate_moment, candidate in candidates:
        if candidate_moment is not None and (cursor_moment is None or candidate_moment < cursor_moment):
            return candidate_moment, candidate
    return None


class MetrikaHook(BaseHook):
    """Talks to the Yandex Metrika management and CDP APIs.

    Nothing is read from the connection until the first call (DAG files build hooks
    while parsing). ``timeout`` is ``(connect, read)`` seconds or one number for the read
    timeout; ``max_retries`` overrides the connection's; ``sleep`` is injectable for tests.
    """

    conn_name_attr = "metrika_conn_id"
    default_conn_name = "metrika_default"
    conn_type = CONN_TYPE
    hook_name = "Yandex Metrika"

    def __init__(
        self,
        metrika_conn_id: str = default_conn_name,
        *,
        timeout: Timeout | None = None,
        max_retries: int | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__()
        self.metrika_conn_id = metrika_conn_id
        self._timeout = None if timeout is None else _parse_timeout_arg(timeout)
        self._max_retries = None if max_retries is None else parse_max_retries(max_retries, "max_retries")
        self._sleep = sleep

    # -- connection, session, policy ----------------------------------------------------------

    @cached_property
    def settings(self) -> MetrikaConnectionSettings:
        return load_settings(self.metrika_conn_id, self.get_connection)

    @cached_property
    def timeout(self) -> tuple[float, float]:
        """(connect, read) seconds: the constructor's, else 10 s and the connection's read timeout."""
        return transport_timeout(self.settings, self._timeout)

    @cached_property
    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(
            max_retries=self.settings.max_retries if self._max_retries is None else self._max_retries,
            service=DIALECT.service,
        )

    @cached_property
    def session(self) -> requests.Session:
        """One pooled session per hook, authenticated by header (never by query string)."""
        session = requests.Session()
        session.headers.update(auth_headers(self.settings))
        adapter = _StreamingAdapter()
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        return session

    def get_conn(self) -> requests.Session:
        return self.session

    def resolve_counter_id(self, counter_id: int | str | None) -> int:
        """The given counter id, or the connection's default; MetrikaConfigError when neither is valid."""
        return resolve_counter_id(counter_id, self.settings)

    def close(self) -> None:
        session = self.__dict__.pop("session", None)
        if session is not None:
            session.close()

    # -- requests -------------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        idempotent: bool | None = None,
    ) -> dict[str, Any]:
        """Send one API call (retried per the policy) and return its JSON object.

        ``path`` is relative to the base URL. GET is idempotent by default, POST is not:
        a POST that fails after it may have reached Metrika raises
        MetrikaAmbiguousResponseError instead of being resent.
        """
        body = None if json is None else {"json": json}
        return self._call(
            prepare_call(self.settings, method, path, params, idempotent=idempotent),
            body=None if body is None else lambda: contextlib.nullcontext(body),
        )

    def _call(
        self,
        call: ApiCall,
        *,
        body: Callable[[], contextlib.AbstractContextManager[dict[str, Any]]] | None = None,
        policy: RetryPolicy | None = None,
    ) -> dict[str, Any]:
        """The retry loop around single attempts; ``body`` builds fresh request-body kwargs per attempt."""

        def attempt() -> dict[str, Any]:
            with request_slots(call.token), body() if body else contextlib.nullcontext({}) as body_kwargs:
                try:
                    response = self.session.request(
                        call.method,
                        call.url,
                        params=call.query,
                        timeout=self.timeout,
                        allow_redirects=False,
                        **body_kwargs,
                    )
                except requests.RequestException as error:
                    raise_transport_failure(
                        error, idempotent=call.idempotent, method=call.method, path=call.path, service=DIALECT.service
                    )
                with response:
                    return call.read(
                        response.status_code,
                        response.content.decode("utf-8", errors="replace"),
                        response.headers.get("Retry-After"),
                    )

        return (policy or self.retry_policy).call(attempt, sleep=self._sleep, what=call.what)

    # -- uploads ----------------------------------------------------------------------------------

    def upload_file(
        self,
        kind: str | UploadKind,
        counter_id: int | str | None,
        source: Source,
        *,
        params: Mapping[str, Any] | None = None,
        file_name: str = "data.csv",
        chunk_filter: Callable[[bytes], None] | None = None,
        log_progress: bool = True,
    ) -> Uploading:
        """Stream a file to the kind's upload endpoint as multipart part ``file``.

        The body is never held in memory: it is encoded while it is sent, from a handle
        opened afresh on every attempt (a path is reopened, a callable called again; it
        must return a binary reader that can seek or announces its remaining size as
        ``len``). ``chunk_filter`` sees every chunk of file bytes before it is sent; if
        it — or the reader itself, even at end of file — raises, the upload is aborted
        mid-body (Metrika never gets a complete request) and the exception propagates
        unchanged.
        """
        upload_kind = get_upload_kind(kind)
        counter = self.resolve_counter_id(counter_id)
        path = upload_kind.path(upload_kind.upload_path, counter)

        @contextlib.contextmanager
        def multipart_body() -> Iterator[dict[str, Any]]:
            with _open_source(source) as handle:
                reader = _UploadReader(handle, chunk_filter)
                encoder = MultipartEncoder(fields={"file": (file_name, reader, "text/csv")})
                data: Any = encoder
                if log_progress:
                    progress = UploadProgressLogger(
                        encoder.len, label=f"Metrika {upload_kind.name} upload of {file_name}"
                    )
                    data = MultipartEncoderMonitor(encoder, progress.monitor_callback)
                try:
                    yield {"data": data, "headers": {"Content-Type": encoder.content_type}}
                except BaseException as error:
                    if reader.error is None or reader.error is error:
                        raise
                    raise reader.error from None

        body = self._call(
            prepare_call(
                self.settings, "POST", path, {**upload_kind.upload_params, **(params or {})}, idempotent=False
            ),
            body=multipart_body,
        )
        uploading = uploading_from_body(upload_kind, counter, body)
        report_hook_lineage(self, upload_kind.name, counter, source)
        return uploading

    def upload_json(
        self,
        kind: str | UploadKind,
        counter_id: int | str | None,
        body: Mapping[str, Any],
        *,
        params: Mapping[str, Any] | None = None,
    ) -> Uploading:
        """POST a JSON body (e.g. ``{"contacts": [...]}``) to a CDP ``/json`` endpoint."""
        upload_kind = get_upload_kind(kind)
        counter = self.resolve_counter_id(counter_id)
        path = upload_kind.path(upload_kind.json_path, counter)
        answer = self.request(
            "POST", path, params={**upload_kind.upload_params, **(params or {})}, json=dict(body), idempotent=False
        )
        uploading = uploading_from_body(upload_kind, counter, answer)
        report_hook_lineage(self, upload_kind.name, counter, None)
        return uploading

    # -- status and lists ---------------------------------------------------------------------------

    def read(self, read: Read[T]) -> T:
        """Send a read of the request/response layer and parse its answer."""
        return read.parse(self.request("GET", read.path, params=read.params))

    def get_uploading(self, kind: str | UploadKind, counter_id: int | str | None, uploading_id: int | str) -> Uploading:
        return self.read(uploading_read(kind, self.resolve_counter_id(counter_id), uploading_id))

    def list_uploadings(
        self,
        kind: str | UploadKind,
        counter_id: int | str | None,
        *,
        limit: int | None = None,
        offset: int | None = None,
    ) -> list[Uploading]:
        """One page of uploadings.

        For CDP kinds this is one page of ``last_uploadings`` (``offset`` is not
        supported) and it holds the counter's CDP uploadings of every kind — Metrika does
        not say which entity each one was — labelled with the kind asked for.
        """
        return self.read(uploadings_page_read(kind, self.resolve_counter_id(counter_id), limit, offset))

    def iter_uploadings(
        self, kind: str | UploadKind, counter_id: int | str | None, *, page_size: int = 1000
    ) -> Iterator[Uploading]:
        """Every uploading, page by page: offset paging (management) or the datetime cursor (CDP)."""
        upload_kind = get_upload_kind(kind)
        counter = self.resolve_counter_id(counter_id)
        page_size = require_int(page_size, "page_size", minimum=1)
        if upload_kind.synchronous:
            limit = min(page_size, LAST_UPLOADINGS_MAX_LIMIT)
            for raw_page in self.iter_last_uploadings(counter, limit=limit):
                yield from uploadings_from_body(upload_kind, counter, {"uploadings": raw_page})
            return
        offset = 0
        while True:
            page = self.list_uploadings(upload_kind, counter, limit=page_size, offset=offset)
            yield from page
            if len(page) < page_size:
                return
            offset += len(page)

    def iter_last_uploadings(
        self,
        counter_id: int | str | None,
        *,
        limit: int = 100,
        datetime_offset: str | None = None,
        source: str | None = None,
    ) -> Iterator[list[dict[str, Any]]]:
        """Pages of raw CDP ``UploadingMetaExternal`` objects, newest first, each uploading once.

        ``datetime_offset`` returns uploadings strictly earlier than it, and ``datetime``
        values tie (Metrika writes whole seconds). So after a full page the cursor is one
        unit just after the oldest ``datetime`` (written like Metrika wrote it): that value
        is read again and uploadings already yielded are dropped by ``uploading_id``. A
        page may therefore hold fewer than ``limit`` items; no empty page is yielded.

        If more than ``limit`` uploadings share one ``datetime`` value, re-reading cannot
        get past them, so paging goes on strictly before that value: those beyond ``limit``
        cannot be listed (an API limit; a larger ``limit`` helps). Paging stops on an empty
        or short page, or when the cursor could not move back.
        """
        limit = require_int(limit, "limit", minimum=1, maximum=LAST_UPLOADINGS_MAX_LIMIT)
        counter = self.resolve_counter_id(counter_id)
        path = LAST_UPLOADINGS_PATH.format(counter_id=counter)
        cursor, cursor_moment = datetime_offset, _moment(datetime_offset)
        seen: set[str] = set()  # every id yielded: also guards against an answer that ignores the cursor
        while True:
            body = self.request("GET", path, params={"limit": limit, "datetime_offset": cursor, "source": source})
            page = [dict(item) for item in list_items(body, None)]  # id-less items: raw pages keep them
            fresh = _unseen_uploadings(page, seen)
            if fresh:
                yield fresh
            if len(page) < limit:
                return
            step = _next_last_uploadings_cursor(page, bool(fresh), cursor_moment)
            if step is None:
                return
            cursor_moment, cursor = step

    def confirm_user_params(
        self, counter_id: int | str | None, uploading_id: int | str, uploading: Mapping[str, Any] | None = None
    ) -> Uploading:
        """Confirm a user-parameters uploading so Metrika applies it.

        The body is ``{"uploading": {...}}`` (the given fields plus ``id``). Confirming is
        idempotent: resending it cannot create a second uploading, and when a resent confirm
        (its first answer was lost) is refused with 400 because the uploading is already
        confirmed, the uploading is read back and returned. If the answer carries no
        uploading, it is fetched.
        """
        upload_kind = get_upload_kind("user_params")
        counter = self.resolve_counter_id(counter_id)
        text_id = path_id(uploading_id)
        payload = dict(uploading or {})
        payload.setdefault("id", int(text_id) if text_id.isdigit() else text_id)
        path = upload_kind.path(upload_kind.confirm_path, counter, uploading_id=text_id)
        try:
            body = self.request("POST", path, json={"uploading": payload}, idempotent=True)
        except MetrikaClientError as refused:
            if refused.status != 400:
                raise
            current = self.get_uploading(upload_kind, counter, uploading_id)
            if current.status not in USER_PARAMS_CONFIRMED_STATUSES:
                raise
            self.log.info("User-params uploading %s was already confirmed (%s)", text_id, current.status)
            return current
        if isinstance(body.get("uploading"), Mapping):
            return uploading_from_body(upload_kind, counter, body)
        return self.get_uploading(upload_kind, counter, uploading_id)

    def upload_expenses(
        self,
        counter_id: int | str | None,
        source: Source,
        *,
        provider: str | None = None,
        comment: str | None = None,
        file_name: str = "expenses.csv",
    ) -> Uploading:
        """Upload an expenses CSV (``Date``, ``UTMSource``/``TrafficSource``, ``Expenses``, ...).

        https://yandex.com/dev/metrika/en/management/openapi/expense/uploadMultipart
        """
        params = {"provider": provider, "comment": comment}
        return self.upload_file("expenses", counter_id, source, params=params, file_name=file_name)

    def delete_expenses(
        self,
        counter_id: int | str | None,
        first: datetime.date,
        last: datetime.date,
        *,
        provider: str | None = None,
        comment: str | None = None,
    ) -> Uploading:
        """Delete the uploaded expenses of the days ``first``..``last``: of ``provider``, or of every provider.

        Metrika answers with an uploading of type ``REMOVES``, processed (and polled) like an upload;
        Yandex Direct costs cannot be deleted.
        https://yandex.com/dev/metrika/en/management/openapi/expense/uploadRemoveBody_1
        """
        if first > last:
            raise MetrikaConfigError(f"cannot delete expenses of {first}..{last}: the range ends before it starts")
        body = f"Date\n{format_date_range(first, last)}\n".encode()
        params = {"provider": provider, "comment": comment}
        return self.upload_file(
            "expense_removals", counter_id, lambda: io.BytesIO(body), params=params, file_name="delete.csv"
        )

    def get_counter(self, counter_id: int | str | None) -> dict[str, Any]:
        """The counter object (name, ``time_zone_name``, ...) from the management API."""
        counter = self.resolve_counter_id(counter_id)
        body = self.request("GET", COUNTER_PATH.format(counter_id=counter))
        return dict(body.get("counter") or body)

    # -- CRM (CDP) schema ------------------------------------------------------------------------

    def get_order_statuses(self, counter_id: int | str | None) -> list[dict[str, Any]]:
        """The counter's mapped order statuses (``schema/order_statuses``): ``[{id, type, humanized, ...}]``."""
        counter = self.resolve_counter_id(counter_id)
        body = self.request("GET", ORDER_STATUSES_PATH.format(counter_id=counter))
        return [dict(item) for item in body.get("order_statuses") or () if isinstance(item, Mapping)]

    def map_order_statuses(self, counter_id: int | str | None, statuses: list[Mapping[str, Any]]) -> None:
        """Map CRM order statuses (``[{id, type, ...}]``) to Metrika's types.

        Resent after an ambiguous failure: mapping the same ids again sets them again.
        """
        counter = self.resolve_counter_id(counter_id)
        body = self.request(
            "POST",
            ORDER_STATUSES_PATH.format(counter_id=counter),
            json={"order_statuses": [dict(status) for status in statuses]},
            idempotent=True,
        )
        _require_success(body, "schema/order_statuses")

    def get_attributes(self, counter_id: int | str | None, entity_type: str) -> dict[str, Any]:
        """``{"system_attributes": [...], "custom_attributes": [...]}`` of one entity type (e.g. ``CONTACT``)."""
        counter = self.resolve_counter_id(counter_id)
        return self.request("GET", ATTRIBUTES_PATH.format(counter_id=counter), params={"entity_type": entity_type})

    def create_attributes(
        self, counter_id: int | str | None, entity_type: str, attributes: list[Mapping[str, Any]]
    ) -> None:
        """Create custom attributes (``[{name, type_name, multivalued, humanized?}]``) of one entity type.

        Not resent after an ambiguous failure (a second create may be refused); list them and retry.
        """
        counter = self.resolve_counter_id(counter_id)
        body = self.request(
            "POST",
            ATTRIBUTES_PATH.format(counter_id=counter),
            params={"entity_type": entity_type},
            json={"attributes": [dict(attribute) for attribute in attributes]},
        )
        _require_success(body, "schema/attributes")

    def create_products(
        self, counter_id: int | str | None, attributes: list[Mapping[str, Any]], items: list[Mapping[str, Any]]
    ) -> None:
        """Declare the product list (``schema/products``: attributes and ``{name, humanized}`` items)."""
        counter = self.resolve_counter_id(counter_id)
        body = self.request(
            "POST",
            PRODUCTS_PATH.format(counter_id=counter),
            json={"attributes": [dict(a) for a in attributes], "items": [dict(i) for i in items]},
            idempotent=True,
        )
        _require_success(body, "schema/products")

    # -- Airflow UI ---------------------------------------------------------------------------------

    def test_connection(self) -> tuple[bool, str]:
        """One cheap authenticated GET, no retries; the message never contains the token.

        Messages say "the tested connection", not its id: the UI tests an unsaved form under a
        random temporary id that would mean nothing to the reader.
        """
        secrets: tuple[str, ...] = ()
        try:
            settings = settings_from_connection(
                self.get_connection(self.metrika_conn_id), self.metrika_conn_id, described_as="the tested connection"
            )
            secrets = (settings.token,)
            once = RetryPolicy(max_retries=0, service=DIALECT.service)
            if settings.counter_id is not None:
                path = COUNTER_PATH.format(counter_id=settings.counter_id)
                self._call(prepare_call(settings, "GET", path), policy=once)
                return True, f"Connected to {settings.base_url}; counter {settings.counter_id} is accessible"
            self._call(prepare_call(settings, "GET", COUNTERS_PATH, {"per_page": 1}), policy=once)
            return True, f"Connected to {settings.base_url}; the token is accepted"
        except Exception as error:
            return False, scrub(f"{type(error).__name__}: {error}", secrets, DIALECT.secret_name)

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """Extra fields for the Airflow < 3.2 connection form (3.2+ reads ``conn-fields`` instead)."""
        return forms.form_widgets(CONN_TYPE)

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """The provider info's ``ui-field-behaviour`` in the snake_case keys older UIs expect."""
        return forms.field_behaviour(CONN_TYPE)


def _require_success(body: Mapping[str, Any], what: str) -> None:
    """Schema calls answer ``{"success": true}``; an explicit ``false`` is Metrika saying no."""
    if body.get("success") is False:
        raise MetrikaApiError(200, "invalid_response", f"Metrika did not confirm {what}: {sorted(body)}")


def _parse_timeout_arg(timeout: Timeout) -> tuple[float, float]:
    if isinstance(timeout, tuple):
        if len(timeout) != 2:
            raise MetrikaConfigError(f"timeout must be seconds or a (connect, read) pair, got {timeout!r}")
        return parse_timeout(timeout[0], "timeout (connect)"), parse_timeout(timeout[1], "timeout (read)")
    read = parse_timeout(timeout, "timeout")
    return min(DEFAULT_CONNECT_TIMEOUT, read), read
