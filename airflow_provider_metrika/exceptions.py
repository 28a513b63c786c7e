"""Exception hierarchy of the provider.

Every error a user can meet has its own type so DAG authors (and Airflow 3.3 retry
policies) can tell "fix your input" from "Metrika is having a bad minute".
No message built here ever contains the OAuth token or request headers.
"""

from __future__ import annotations

MAX_BODY_CHARS = 300


class MetrikaError(Exception):
    """Base class of every error raised by airflow-provider-metrika (for every vendor it serves)."""


class MetrikaConfigError(MetrikaError, ValueError):
    """A parameter or the Airflow connection is wrong; raised before any request is sent."""


class MetrikaValidationError(MetrikaError, ValueError):
    """The data to upload breaks Metrika's format rules; nothing was uploaded.

    ``problems`` holds the first problems found (each names file, row and column);
    ``total`` is how many were found in all.
    """

    def __init__(self, message: str, problems: list[str] | None = None, total: int | None = None):
        self.problems = list(problems or [])
        self.total = total if total is not None else len(self.problems)
        super().__init__(message)


class MetrikaNoRowsError(MetrikaValidationError):
    """The input has no data rows: nothing to upload (the operators skip by default)."""


class MetrikaApiError(MetrikaError):
    """An API answered with an error body (Metrika's §1.3 shape, or another vendor's).

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


class MetrikaClientError(MetrikaApiError):
    """A 4xx other than a rate limit: retrying the same request cannot help."""


class MetrikaRetryableError(MetrikaApiError):
    """A 429/420 or 5xx that outlived the hook's retry budget."""


class MetrikaAmbiguousResponseError(MetrikaError):
    """A non-idempotent request (an upload) may have reached Metrika but no answer came back.

    The hook does not resend it blindly; the caller looks the uploading up by its
    fingerprint before deciding to upload again.
    """


class MetrikaSearchError(MetrikaError):
    """Whether an earlier try already uploaded this data could not be told: Metrika's list could not be read.

    A search that cannot tell never counts as "not found" (that would upload twice):
    nothing is uploaded, this try fails, and the next try searches again before uploading.
    """


class MetrikaSupersededError(MetrikaError):
    """This try is no longer the current try of its task instance (a newer try runs), so it must not upload."""
