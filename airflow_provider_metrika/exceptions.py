"""Exception hierarchy of the provider, shared by every vendor it serves.

Every error a user can meet has its own type so DAG authors (and Airflow 3.3 retry
policies) can tell "fix your input" from "the vendor's API is having a bad minute".
No message built here ever contains a credential (token, client secret, API key) or
request headers.

The names are vendor-neutral (``ProviderConfigError``, ``ApiClientError``, ...); the
``Metrika*`` names the provider had before it served other vendors stay as aliases of the
same classes, so ``except ProviderConfigError`` in existing DAGs keeps catching.
"""

from __future__ import annotations

MAX_BODY_CHARS = 300


class ProviderError(Exception):
    """Base class of every error raised by airflow-provider-metrika (for every vendor it serves)."""


class ProviderConfigError(ProviderError, ValueError):
    """A parameter or the Airflow connection is wrong; raised before any request is sent."""


class InputValidationError(ProviderError, ValueError):
    """The data to send breaks the vendor's format rules; nothing was sent.

    ``problems`` holds the first problems found (each names file, row and column);
    ``total`` is how many were found in all.
    """

    def __init__(self, message: str, problems: list[str] | None = None, total: int | None = None):
        self.problems = list(problems or [])
        self.total = total if total is not None else len(self.problems)
        super().__init__(message)


class NoRowsError(InputValidationError):
    """The input has no data rows: nothing to upload (the operators skip by default)."""


class ApiError(ProviderError):
    """An API answered with an error body (Metrika's ``errors`` list, or another vendor's shape).

    ``status`` is the HTTP status, ``error_type`` the vendor's error code (Metrika's
    ``errors[0].error_type`` such as ``invalid_uploading``, Commerce Layer's ``code``, ...)
    and ``message`` its reason, truncated to :data:`MAX_BODY_CHARS`. ``retry_after`` is how
    long the server asked to wait, in seconds, when it said so. ``service`` names the vendor.
    """

    def __init__(
        self,
        status: int,
        error_type: str | None,
        message: str,
        method: str = "",
        path: str = "",
        retry_after: float | None = None,
        service: str = "Metrika",
    ):
        self.status = status
        self.service = service
        self.retry_after = retry_after
        self.error_type = error_type or "unknown"
        self.message = message[:MAX_BODY_CHARS]
        self.method = method
        self.path = path
        where = f" on {method} {path}" if method else ""
        super().__init__(f"{service} API error {status} {self.error_type}{where}: {self.message}")


class ApiClientError(ApiError):
    """A 4xx other than a rate limit: retrying the same request cannot help."""


class ApiRetryableError(ApiError):
    """A 429/420 or 5xx that outlived the hook's retry budget."""


class AmbiguousResponseError(ProviderError):
    """A non-idempotent request (an upload, an import) may have reached the API but no answer came back.

    The hook does not resend it blindly; the caller looks the job up by its
    fingerprint before deciding to send it again.
    """


class SentJobSearchError(ProviderError):
    """Whether an earlier try already sent this data could not be told: the vendor's job list could not be read.

    A search that cannot tell never counts as "not found" (that would send twice):
    nothing is sent, this try fails, and the next try searches again before sending.
    """


class SupersededTryError(ProviderError):
    """This try is no longer the current try of its task instance (a newer try runs), so it must not send."""


# The names of the Metrika-only provider, kept for the DAGs that catch them.
MetrikaError = ProviderError
MetrikaConfigError = ProviderConfigError
MetrikaValidationError = InputValidationError
MetrikaNoRowsError = NoRowsError
MetrikaApiError = ApiError
MetrikaClientError = ApiClientError
MetrikaRetryableError = ApiRetryableError
MetrikaAmbiguousResponseError = AmbiguousResponseError
MetrikaSearchError = SentJobSearchError
MetrikaSupersededError = SupersededTryError
