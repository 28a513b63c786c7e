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
from typing import Any, ClassVar

import requests

from airflow_provider_metrika.hooks import forms
from airflow_provider_metrika.hooks.connection import (
    DEFAULT_CONNECT_TIMEOUT,
    ConnectionLike,
    fetch_connection,
    parse_max_retries,
)
from airflow_provider_metrika.hooks.retry import (
    ErrorDetails,
    RetryPolicy,
    decode_response,
    raise_transport_failure,
    scrub,
)
from airflow_provider_metrika.version_compat import BaseHook, mask_secret


def retry_after_header(status: int, headers: Mapping[str, str]) -> str | None:
    """``Retry-After`` as sent (https://www.rfc-editor.org/rfc/rfc9110#field.retry-after)."""
    return headers.get("Retry-After")


@dataclasses.dataclass(frozen=True)
class Dialect:
    """How a vendor's answers read: its name, its error body, and where it says how long to wait.

    ``secret_name`` is what the connection's secrets are called where server text quoting one
    is withheld (``"client secret or access token"``, ``"API key or account token"``).
    """

    service: str
    error_details: ErrorDetails
    retry_after: Callable[[int, Mapping[str, str]], str | None] = retry_after_header
    media_type: str = "application/json"
    secret_name: str = "secret"


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
        details=dialect.error_details,
        service=dialect.service,
        secret_name=dialect.secret_name,
    )
    return Answer(decoded, headers)


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
    secrets: Sequence[str],
    headers: Mapping[str, str] | None = None,
    params: Mapping[str, Any] | None = None,
    body: Any = None,
    idempotent: bool,
) -> Answer:
    """Send one request (retried per ``policy``) and decode its answer; typed errors otherwise."""
    request = outgoing(dialect, method, headers=headers, params=params, body=body)

    def attempt() -> Answer:
        try:
            response = session.request(
                request.method,
                base_url + path,
                params=request.query,
                data=request.data,
                headers=request.headers,
                timeout=timeout,
                allow_redirects=False,
            )
        except requests.RequestException as error:
            raise_transport_failure(
                error, idempotent=idempotent, method=request.method, path=path, service=dialect.service
            )
        with response:
            text = response.content.decode("utf-8", errors="replace")
            return decode_answer(
                dialect,
                request,
                path,
                response.status_code,
                text,
                response.headers,
                secrets=secrets,
                idempotent=idempotent,
            )

    return policy.call(attempt, sleep=sleep, what=f"{request.method} {path}")


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
        retries = self.settings.max_retries if self._max_retries is None else self._max_retries
        return RetryPolicy(max_retries=retries, service=self.dialect.service)

    @cached_property
    def session(self) -> requests.Session:
        return requests.Session()

    def get_conn(self) -> requests.Session:
        return self.session

    def close(self) -> None:
        session = self.__dict__.pop("session", None)
        if session is not None:
            session.close()

    def send(
        self,
        method: str,
        path: str,
        *,
        idempotent: bool,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        secrets: Sequence[str] = (),
        base_url: str | None = None,
        dialect: Dialect | None = None,
    ) -> Answer:
        """One request to ``base_url`` (the connection's by default), every credential withheld from errors."""
        return send_json(
            self.session,
            dialect or self.dialect,
            self.retry_policy,
            method=method,
            base_url=self.settings.base_url if base_url is None else base_url,
            path=path,
            timeout=(DEFAULT_CONNECT_TIMEOUT, self.settings.timeout),
            sleep=self._sleep,
            secrets=(*secrets, *self.secrets_of(self.settings)),
            headers=headers,
            params=params,
            body=body,
            idempotent=idempotent,
        )

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
