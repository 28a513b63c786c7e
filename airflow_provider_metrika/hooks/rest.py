"""JSON requests to a vendor's REST API, and the hook base class the Commerce Layer and Fleetio hooks share.

The vendors differ in authentication, media type and error bodies, not in how a request is
sent: a pooled ``requests`` session, a (connect, read) timeout, no redirects, the retry policy
of :mod:`airflow_provider_metrika.hooks.retry`, server text that quotes a secret withheld, and
a non-idempotent request never resent after it may have arrived. A :class:`Dialect` holds
what differs in the answers; a :class:`RestApiHook` subclass says how its connection reads
and which cheap call tests it.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Mapping, Sequence
from functools import cached_property
from typing import Any, ClassVar, NoReturn, TypedDict, Unpack

import requests

from airflow_provider_metrika.hooks import forms
from airflow_provider_metrika.hooks.connection import (
    DEFAULT_CONNECT_TIMEOUT,
    ConnectionLike,
    fetch_connection,
    parse_max_retries,
)
from airflow_provider_metrika.hooks.retry import (
    Dialect,
    RetryPolicy,
    decode_response,
    raise_transport_failure,
    retry_after_header,
    scrub,
)
from airflow_provider_metrika.version_compat import BaseHook, mask_secret

__all__ = [
    "Answer",
    "Dialect",
    "Outgoing",
    "Prepared",
    "RequestOptions",
    "RestApiHook",
    "decode_answer",
    "outgoing",
    "query_params",
    "retry_after_header",
    "send_json",
]


@dataclasses.dataclass(frozen=True)
class Answer:
    """A decoded 2xx answer: its JSON object and headers."""

    body: dict[str, Any]
    headers: Mapping[str, str]


def query_params(params: Mapping[str, Any] | None) -> dict[str, str]:
    """Query parameters as strings; ``None`` dropped, booleans as ``true``/``false``."""
    cleaned: dict[str, str] = {}
    for key, value in (params or {}).items():
        if value is None:
            continue
        cleaned[key] = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return cleaned


@dataclasses.dataclass(frozen=True)
class Outgoing:
    """One request as it goes on the wire: method, query, JSON text and headers (the sync and async hooks send it)."""

    method: str
    query: dict[str, str]
    data: str | None
    headers: dict[str, str]


def outgoing(
    dialect: Dialect,
    method: str,
    *,
    headers: Mapping[str, str] | None = None,
    params: Mapping[str, Any] | None = None,
    body: Any = None,
) -> Outgoing:
    """The wire form of a request in ``dialect``'s media type."""
    data = None if body is None else json.dumps(body)
    request_headers = {"Accept": dialect.media_type, **(headers or {})}
    if data is not None:
        request_headers["Content-Type"] = dialect.media_type
    return Outgoing(method.upper(), query_params(params), data, request_headers)


def decode_answer(
    dialect: Dialect,
    outgoing: Outgoing,
    path: str,
    status: int,
    text: str,
    headers: Mapping[str, str],
    *,
    secrets: Sequence[str],
    idempotent: bool,
) -> Answer:
    """A received answer decoded in ``dialect`` (typed errors, secrets withheld)."""
    decoded = decode_response(
        status,
        text,
        method=outgoing.method,
        path=path,
        retry_after=dialect.retry_after(status, headers),
        secrets=secrets,
        idempotent=idempotent,
        dialect=dialect,
    )
    return Answer(decoded, headers)


class RequestOptions(TypedDict, total=False):
    """What a hook's ``send`` takes besides the method, the path and whether the request may be resent."""

    headers: Mapping[str, str] | None
    params: Mapping[str, Any] | None
    body: Any
    #: credentials of this request besides the connection's (withheld from every message)
    secrets: Sequence[str]
    #: another host than the connection's (a token endpoint)
    base_url: str | None
    #: another dialect than the hook's (a token endpoint's plain JSON)
    dialect: Dialect | None


@dataclasses.dataclass(frozen=True)
class Prepared:
    """One request ready for either transport (``requests`` or aiohttp): the wire form, its URL, how to read it."""

    dialect: Dialect
    request: Outgoing
    url: str
    path: str
    secrets: tuple[str, ...]
    idempotent: bool

    @property
    def what(self) -> str:
        return f"{self.request.method} {self.path}"

    @property
    def wire(self) -> dict[str, Any]:
        """The keyword arguments of ``requests``' and aiohttp's ``session.request`` (never a redirect followed)."""
        return {
            "params": self.request.query,
            "data": self.request.data,
            "headers": self.request.headers,
            "allow_redirects": False,
        }

    def transport_failed(self, error: BaseException) -> NoReturn:
        """Raise the verdict on a transport error (an ambiguity error for a write that may have arrived)."""
        raise_transport_failure(
            error, idempotent=self.idempotent, method=self.request.method, path=self.path, service=self.dialect.service
        )

    def read(self, status: int, text: str, headers: Mapping[str, str]) -> Answer:
        """The received answer decoded (typed errors, secrets withheld)."""
        return decode_answer(
            self.dialect,
            self.request,
            self.path,
            status,
            text,
            headers,
            secrets=self.secrets,
            idempotent=self.idempotent,
        )


def prepare(
    default_dialect: Dialect,
    default_base_url: str,
    method: str,
    path: str,
    /,
    *,
    idempotent: bool,
    **options: Unpack[RequestOptions],
) -> Prepared:
    """``method path`` to the default base URL in the default dialect (unless the options name others), I/O-free."""
    dialect = options.get("dialect") or default_dialect
    request = outgoing(
        dialect, method, headers=options.get("headers"), params=options.get("params"), body=options.get("body")
    )
    base_url = options.get("base_url")
    url = (default_base_url if base_url is None else base_url) + path
    return Prepared(dialect, request, url, path, tuple(options.get("secrets", ())), idempotent)


def send_json(
    session: requests.Session,
    dialect: Dialect,
    policy: RetryPolicy,
    *,
    method: str,
    base_url: str,
    path: str,
    timeout: tuple[float, float],
    sleep: Callable[[float], None],
    idempotent: bool,
    **options: Unpack[RequestOptions],
) -> Answer:
    """Send one request (retried per ``policy``) and decode its answer; typed errors otherwise."""
    return send_prepared(
        session,
        prepare(dialect, base_url, method, path, idempotent=idempotent, **options),
        policy,
        timeout=timeout,
        sleep=sleep,
    )


def send_prepared(
    session: requests.Session,
    call: Prepared,
    policy: RetryPolicy,
    *,
    timeout: tuple[float, float],
    sleep: Callable[[float], None],
) -> Answer:
    """Send a prepared request over ``requests`` (retried per ``policy``) and decode its answer."""

    def attempt() -> Answer:
        try:
            response = session.request(call.request.method, call.url, timeout=timeout, **call.wire)
        except requests.RequestException as error:
            call.transport_failed(error)
        with response:
            return call.read(response.status_code, response.content.decode("utf-8", errors="replace"), response.headers)

    return policy.call(attempt, sleep=sleep, what=call.what)


class RestApiHook(BaseHook):
    """A vendor hook: connection read on first use, one pooled session, the shared retry policy.

    Subclasses set ``conn_name_attr``, ``default_conn_name``, ``conn_type``, ``hook_name``,
    ``dialect`` and ``fields_hint`` (how to fill the connection, for the "not defined" error),
    and implement :meth:`parse_settings`, :meth:`secrets_of` and :meth:`probe`. Settings must
    carry ``base_url``, ``timeout`` and ``max_retries``. ``max_retries`` overrides the
    connection's; ``sleep`` is injectable for tests.
    """

    dialect: ClassVar[Dialect]
    fields_hint: ClassVar[str]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # Airflow 2.11's ProvidersManager reads the form methods from the hook class's own __dict__ only
        # (an inherited one is ignored: the form then lacks the vendor's labels and extra fields), so each
        # vendor hook gets them as its own.
        for name in ("get_connection_form_widgets", "get_ui_field_behaviour"):
            if name not in cls.__dict__:
                setattr(cls, name, classmethod(RestApiHook.__dict__[name].__func__))

    def __init__(
        self, conn_id: str, *, max_retries: int | None = None, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        super().__init__()
        setattr(self, self.conn_name_attr, conn_id)
        self._max_retries = None if max_retries is None else parse_max_retries(max_retries, "max_retries")
        self._sleep = sleep

    # -- what a vendor says -----------------------------------------------------------------------------

    @classmethod
    def parse_settings(cls, conn: ConnectionLike, conn_id: str, *, described_as: str | None = None) -> Any:
        raise NotImplementedError

    @staticmethod
    def secrets_of(settings: Any) -> tuple[str, ...]:
        """The credentials in ``settings`` (masked, and withheld from every message)."""
        raise NotImplementedError

    def probe(self) -> str:
        """One cheap authenticated call for the UI's Test button; the success message."""
        raise NotImplementedError

    # -- shared ---------------------------------------------------------------------------------------------

    @property
    def conn_id(self) -> str:
        return getattr(self, self.conn_name_attr)

    @cached_property
    def settings(self) -> Any:
        conn = fetch_connection(self.conn_id, self.get_connection, self.conn_type, self.fields_hint)
        settings = self.parse_settings(conn, self.conn_id)
        for secret in self.secrets_of(settings):
            mask_secret(secret)
        return settings

    @cached_property
    def retry_policy(self) -> RetryPolicy:
        return self.policy_for(self.settings, self._max_retries)

    @classmethod
    def policy_for(cls, settings: Any, max_retries: int | None) -> RetryPolicy:
        """The retry policy of a hook: its own ``max_retries`` when given, else the connection's."""
        return RetryPolicy(
            max_retries=settings.max_retries if max_retries is None else max_retries, service=cls.dialect.service
        )

    @classmethod
    def prepare(
        cls, settings: Any, method: str, path: str, *, idempotent: bool, **options: Unpack[RequestOptions]
    ) -> Prepared:
        """One request of this vendor's hooks (sync and async), the connection's credentials withheld from errors."""
        secrets = (*options.pop("secrets", ()), *cls.secrets_of(settings))
        return prepare(cls.dialect, settings.base_url, method, path, idempotent=idempotent, secrets=secrets, **options)

    @cached_property
    def session(self) -> requests.Session:
        return requests.Session()

    def get_conn(self) -> requests.Session:
        return self.session

    def close(self) -> None:
        session = self.__dict__.pop("session", None)
        if session is not None:
            session.close()

    def send(self, method: str, path: str, *, idempotent: bool, **options: Unpack[RequestOptions]) -> Answer:
        """One request to the connection's ``base_url`` (unless ``base_url`` says otherwise), every credential
        withheld from errors."""
        call = self.prepare(self.settings, method, path, idempotent=idempotent, **options)
        timeout = (DEFAULT_CONNECT_TIMEOUT, self.settings.timeout)
        return send_prepared(self.session, call, self.retry_policy, timeout=timeout, sleep=self._sleep)

    def test_connection(self) -> tuple[bool, str]:
        """:meth:`probe` without retries; the message never holds a credential.

        Messages say "the tested connection": the UI tests an unsaved form under a random id.
        """
        secrets: tuple[str, ...] = ()
        try:
            settings = self.parse_settings(
                self.get_connection(self.conn_id), self.conn_id, described_as="the tested connection"
            )
            secrets = self.secrets_of(settings)
            self.__dict__["settings"] = settings
            self.__dict__["retry_policy"] = RetryPolicy(max_retries=0, service=self.dialect.service)
            return True, self.probe()
        except Exception as error:
            return False, scrub(f"{type(error).__name__}: {error}", secrets, self.dialect.secret_name)

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """Extra fields for the Airflow < 3.2 connection form (3.2+ reads ``conn-fields`` instead)."""
        return forms.form_widgets(cls.conn_type)

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        return forms.field_behaviour(cls.conn_type)
