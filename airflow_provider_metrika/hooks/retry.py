"""The provider's single retry policy and the mapping of API answers to exceptions.

Every hook (Metrika's sync and async ones, Commerce Layer's, Fleetio's) sends requests its
own way but decides identically here: what is worth retrying (connection errors, 429/420,
5xx — never another 4xx), how long to wait (exponential backoff with full jitter, or the
server's ``Retry-After``), and what a failed answer means (the vendor's error code and a
truncated reason, never headers, the token or a whole body). Vendors differ only in what their
answers say, and each hook passes its own :class:`Dialect`: its name, how its error body reads,
where it says how long to wait, and what its credentials are called where server text quoting
one is withheld. Nothing here assumes a vendor.
"""

from __future__ import annotations

import asyncio
import dataclasses
import email.utils
import json
import logging
import random
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from typing import Any, NoReturn, NotRequired, TypedDict, TypeVar, Unpack

import aiohttp
import requests
import tenacity
import urllib3.exceptions

from airflow_provider_metrika.exceptions import (
    MAX_BODY_CHARS,
    AmbiguousResponseError,
    ApiClientError,
    ApiError,
    ApiRetryableError,
    ProviderConfigError,
    ProviderError,
)
from airflow_provider_metrika.hooks.redaction import Redactor, redactor_for

log = logging.getLogger(__name__)

T = TypeVar("T")

BASE_DELAY = 1.0
MAX_DELAY = 60.0
MAX_RETRY_AFTER = 300.0
DEFAULT_MAX_RETRIES = 5
MAX_RETRIES_LIMIT = 20
#: The name of a vendor in log lines when a policy is built without one.
ANY_SERVICE = "API"

#: Transport failures worth another attempt (for idempotent requests, or before anything was sent).
TRANSIENT_TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (
    requests.exceptions.ConnectionError,
    requests.exceptions.Timeout,
    requests.exceptions.ChunkedEncodingError,
    aiohttp.ClientConnectionError,
    aiohttp.ClientPayloadError,
    asyncio.TimeoutError,
)
#: Errors that end a wait at once (a poll that cannot succeed by asking again).
PERMANENT_ERRORS: tuple[type[BaseException], ...] = (ApiClientError, ProviderConfigError)
#: Errors a wait rides out, up to its budget of consecutive failed polls.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (ProviderError, OSError, TimeoutError, *TRANSIENT_TRANSPORT_ERRORS)
#: Failures that prove the request never left this machine, so even an upload may be resent.
_CONNECT_FAILURES: tuple[type[BaseException], ...] = (
    requests.exceptions.ConnectTimeout,
    urllib3.exceptions.NewConnectionError,
    urllib3.exceptions.ConnectTimeoutError,
    aiohttp.ClientConnectorError,
    aiohttp.ConnectionTimeoutError,
)
_TAGS = re.compile(r"<[^>]*>")
#: Error codes are identifiers (``invalid_token``, ``VALIDATION_ERROR``); anything else is not one.
_ERROR_TYPE = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,63}")
_SPACES = re.compile(r"\s+")


def is_retryable_status(status: int) -> bool:
    """Rate limits (429, and 420 per the English quota page) and server errors."""
    return status in (420, 429) or status >= 500


#: Quotas that reset once a day (00:00 GMT): another attempt within minutes cannot succeed
#: and would only spend requests, so they are not retried (a wait counts them as transient).
DAILY_QUOTAS = frozenset({"quota_requests_by_uid", "quota_requests_by_counter_id"})


def is_retryable(error: BaseException) -> bool:
    """Whether another attempt can help; API errors decide by status (4xx never) and daily quotas never."""
    if isinstance(error, ApiError):
        return is_retryable_status(error.status) and error.error_type not in DAILY_QUOTAS
    return isinstance(error, TRANSIENT_TRANSPORT_ERRORS)


def is_connect_failure(error: BaseException) -> bool:
    """True when the connection was never established (the server cannot have seen the request)."""
    return any(isinstance(cause, _CONNECT_FAILURES) for cause in _causes(error))


def transport_failure(error: BaseException, *, idempotent: bool, method: str, path: str, service: str) -> BaseException:
    """What to raise for a transport error: the error itself, or an ambiguity error for a maybe-sent write.

    A non-idempotent request that failed after the connection was up (read timeout,
    reset, server disconnect) may have created a job; resending it blindly could
    send twice, so it is not retried and the caller looks the job up instead.
    """
    if idempotent or not is_retryable(error) or is_connect_failure(error):
        return error
    return AmbiguousResponseError(
        f"{method} {path} failed after the request may have reached {service} ({type(error).__name__}); "
        "it was not resent — look the job up before sending it again"
    )


def raise_transport_failure(
    error: BaseException, *, idempotent: bool, method: str, path: str, service: str
) -> NoReturn:
    """Raise :func:`transport_failure`'s verdict on ``error`` (chained when it is a new error)."""
    failure = transport_failure(error, idempotent=idempotent, method=method, path=path, service=service)
    if failure is error:
        raise error
    raise failure from error


def maybe_processed(status: int) -> bool:
    """Whether a failed answer may come after the server acted on the request.

    A 5xx other than 503 (a 500 from the backend, a 502/504 from a gateway that gave up
    waiting) can follow a stored upload; 503 and the quota answers (429/420) refuse a
    request before it is processed.
    """
    return status >= 500 and status != 503


def parse_retry_after(value: str | None, *, now: Callable[[], float] = time.time) -> float | None:
    """``Retry-After`` in seconds (delta-seconds or an HTTP-date), capped; None when absent or unreadable."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        seconds = when.timestamp() - now()
    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


ErrorDetails = Callable[[str], tuple[str, str]]


def retry_after_header(status: int, headers: Mapping[str, str]) -> str | None:
    """``Retry-After`` as sent (https://www.rfc-editor.org/rfc/rfc9110#field.retry-after)."""
    return headers.get("Retry-After")


@dataclasses.dataclass(frozen=True)
class Dialect:
    """How a vendor's answers read: its name, its error body, and where it says how long to wait.

    ``error_details`` turns an error body into (error code, reason). ``secret_name`` is what the
    connection's secrets are called where server text quoting one is withheld (``"OAuth token"``,
    ``"client secret or access token"``, ``"API key or account token"``).
    """

    service: str
    error_details: ErrorDetails
    retry_after: Callable[[int, Mapping[str, str]], str | None] = retry_after_header
    media_type: str = "application/json"
    secret_name: str = "secret"


class Answered(TypedDict):
    """What reading an answer needs besides its status and body: the request, the vendor, what to withhold."""

    method: str
    path: str
    dialect: Dialect
    retry_after: NotRequired[str | None]
    secrets: NotRequired[Iterable[str]]


def error_from_response(status: int, body: str, **answered: Unpack[Answered]) -> ApiError:
    """Turn an error answer into a typed exception carrying the vendor's error code and reason.

    The dialect reads the vendor's error body. This and :func:`decode_response` are where server
    text leaves the hooks: text that quotes a secret in any common encoding is withheld (see
    :mod:`.redaction`), the placeholder naming the dialect's ``secret_name``.
    """
    dialect, method, path = answered["dialect"], answered["method"], answered["path"]
    redactor = redactor_for(tuple(answered.get("secrets", ())), dialect.secret_name)
    error_type, message = _shown(*dialect.error_details(body), redactor)
    if is_retryable_status(status):
        retry_after = parse_retry_after(answered.get("retry_after"))
        return ApiRetryableError(
            status, error_type, message, method, path, retry_after=retry_after, service=dialect.service
        )
    return ApiClientError(status, error_type, message, method, path, service=dialect.service)


def decode_response(status: int, body: str, *, idempotent: bool = True, **answered: Unpack[Answered]) -> dict[str, Any]:
    """The JSON object of a 2xx answer, or the typed error of any other answer.

    For a request that must not be repeated (an upload), an answer that may follow a
    processed request raises AmbiguousResponseError, so it is not resent blindly.
    Every string of the answer that quotes a secret is withheld, decoded values included.
    """
    dialect, method, path = answered["dialect"], answered["method"], answered["path"]
    if not 200 <= status < 300:
        error = error_from_response(status, body, **answered)
        if not idempotent and maybe_processed(status):
            raise AmbiguousResponseError(
                f"{method} {path} was answered with HTTP {status} {error.error_type}, which may come after "
                f"{dialect.service} stored the request; it was not resent — look the job up before sending it again"
            ) from error
        raise error
    if not body.strip():
        return {}
    redactor = redactor_for(tuple(answered.get("secrets", ())), dialect.secret_name)
    try:
        decoded = json.loads(body)
    except ValueError:
        decoded = None
    if not isinstance(decoded, dict):
        raise ApiError(
            status,
            "invalid_response",
            "expected a JSON object, got: " + redactor.text(plain_text(body)),
            method,
            path,
            service=dialect.service,
        )
    return redactor.value(decoded)


def scrub(text: str, secrets: Iterable[str], secret_name: str) -> str:
    """``text``, or a placeholder naming ``secret_name`` when it quotes one of ``secrets`` in any common encoding."""
    return redactor_for(tuple(secrets), secret_name).text(text)


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries with exponential backoff and full jitter; ``Retry-After`` wins when sent.

    ``max_retries`` counts retries, so a request is tried at most ``max_retries + 1``
    times. ``jitter`` returns a factor in [0, 1); tests pin it. ``service`` names the
    vendor in log lines.
    """

    max_retries: int = DEFAULT_MAX_RETRIES
    base_delay: float = BASE_DELAY
    max_delay: float = MAX_DELAY
    jitter: Callable[[], float] = random.random
    service: str = ANY_SERVICE

    def delay(self, retry_number: int, error: BaseException | None = None) -> float:
        """Seconds to wait before retry number ``retry_number`` (1-based) after ``error``."""
        retry_after = error.retry_after if isinstance(error, ApiError) else None
        if retry_after is not None:
            return min(retry_after, MAX_RETRY_AFTER)
        ceiling = min(self.max_delay, self.base_delay * 2 ** (retry_number - 1))
        return self.jitter() * ceiling

    def call(self, attempt: Callable[[], T], *, sleep: Callable[[float], None], what: str) -> T:
        """Run ``attempt`` until it succeeds, fails for good, or the budget is spent."""
        return tenacity.Retrying(sleep=sleep, **self._tenacity_options(what))(attempt)

    async def acall(
        self, attempt: Callable[[], Awaitable[T]], *, sleep: Callable[[float], Awaitable[None]], what: str
    ) -> T:
        """The asynchronous twin of :meth:`call` (same decisions, awaited sleep)."""
        return await tenacity.AsyncRetrying(sleep=sleep, **self._tenacity_options(what))(attempt)

    def _tenacity_options(self, what: str) -> dict[str, Any]:
        def wait(state: tenacity.RetryCallState) -> float:
            error = state.outcome.exception() if state.outcome else None
            return self.delay(state.attempt_number, error)

        def before_sleep(state: tenacity.RetryCallState) -> None:
            error = state.outcome.exception() if state.outcome else None
            log.warning(
                "%s %s failed (%s); retry %d of %d in %.1f s",
                self.service,
                what,
                describe(error),
                state.attempt_number,
                self.max_retries,
                state.upcoming_sleep,
            )

        return {
            "stop": tenacity.stop_after_attempt(self.max_retries + 1),
            "wait": wait,
            "retry": tenacity.retry_if_exception(is_retryable),
            "before_sleep": before_sleep,
            "reraise": True,
        }


def describe(error: BaseException | None) -> str:
    """A short, secret-free description of a failure for log lines."""
    if isinstance(error, ApiError):
        return f"HTTP {error.status} {error.error_type}"
    return type(error).__name__


def json_or_none(body: str) -> Any:
    """The decoded JSON of an error body, or None when it is not JSON."""
    try:
        return json.loads(body)
    except ValueError:
        return None


def _shown(error_type: str, message: str, redactor: Redactor) -> tuple[str, str]:
    """An error code and reason as they may be shown: bounded, and withheld when they quote a secret."""
    message = message[:MAX_BODY_CHARS] or "no reason given"
    if not _ERROR_TYPE.fullmatch(error_type):
        error_type = "unknown"
    type_quotes, message_quotes = redactor.quotes_secret(error_type), redactor.quotes_secret(message)
    if type_quotes or message_quotes or redactor.quotes_secret(f"{error_type} {message}"):  # or split between them
        return (error_type if message_quotes and not type_quotes else "unknown"), redactor.withheld
    return error_type, message


def plain_text(body: str) -> str:
    """A readable, bounded excerpt of a non-JSON body (an HTML page from a proxy, say)."""
    text = _SPACES.sub(" ", _TAGS.sub(" ", body)).strip()
    return text[:MAX_BODY_CHARS]


def _causes(error: BaseException) -> Iterator[BaseException]:
    """The error and everything it wraps (``__cause__``, ``__context__``, urllib3's ``reason``, args)."""
    seen: set[int] = set()
    pending: list[Any] = [error]
    while pending:
        current = pending.pop()
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        pending.extend([current.__cause__, current.__context__, getattr(current, "reason", None), *current.args])
