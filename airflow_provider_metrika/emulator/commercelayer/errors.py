"""Commerce Layer's JSON:API error body and the middleware that writes it for every failure.

Shape: ``{"errors": [{"title", "detail", "code", "status", "source"?, "meta"?}]}`` with the
status as a string (https://docs.commercelayer.io/core/handling-errors). Handlers raise
:class:`~airflow_provider_metrika.emulator.errors.ApiError` (``error_type`` is the code) or
:class:`JsonApiError` when they point at a field.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from airflow_provider_metrika.emulator.errors import ApiError
from airflow_provider_metrika.emulator.serving import HTTP_ERROR, INTERNAL_ERROR

log = logging.getLogger(__name__)

MEDIA_TYPE = "application/vnd.api+json"
_CODES = {400: "BAD_REQUEST", 404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 413: "PAYLOAD_TOO_LARGE"}
#: The harness's generic codes, in Commerce Layer's words.
_GENERIC = frozenset({HTTP_ERROR, INTERNAL_ERROR})


class JsonApiError(ApiError):
    """An error with a JSON pointer to the attribute at fault."""

    def __init__(self, status: int, code: str, title: str, detail: str, pointer: str | None = None):
        super().__init__(status, code, detail)
        self.title = title
        self.pointer = pointer


def validation_error(attribute: str, detail: str, title: str = "is invalid") -> JsonApiError:
    return JsonApiError(422, "VALIDATION_ERROR", title, f"{attribute} - {detail}", f"/data/attributes/{attribute}")


def error_response(error: ApiError) -> web.Response:
    """The JSON:API body of ``error`` with its headers."""
    code = error.error_type
    if code in _GENERIC:
        code = _CODES.get(error.status, "INTERNAL_SERVER_ERROR" if error.status >= 500 else "BAD_REQUEST")
    item: dict[str, Any] = {
        "title": getattr(error, "title", None) or code.replace("_", " ").capitalize(),
        "detail": error.message,
        "code": code,
        "status": str(error.status),
    }
    pointer = getattr(error, "pointer", None)
    if pointer:
        item["source"] = {"pointer": pointer}
    return web.json_response({"errors": [item]}, status=error.status, headers=error.headers, content_type=MEDIA_TYPE)
