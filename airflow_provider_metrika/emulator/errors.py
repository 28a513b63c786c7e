"""Metrika's error body (§1.3 of the API reference) and the exception that carries it.

Every handler raises :class:`ApiError`; one middleware turns it into the JSON body, so
no route builds error responses by hand.
"""

from __future__ import annotations

from aiohttp import web


class ApiError(Exception):
    """An HTTP error answered with ``{"errors": [...], "code": N, "message": ...}``."""

    def __init__(self, status: int, error_type: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.message = message
        self.headers = headers or {}

    def body(self) -> dict:
        return {
            "errors": [{"error_type": self.error_type, "message": self.message}],
            "code": self.status,
            "message": self.message,
        }

    def response(self) -> web.Response:
        return web.json_response(self.body(), status=self.status, headers=self.headers)


def invalid_parameter(message: str) -> ApiError:
    return ApiError(400, "invalid_parameter", message)


def missing_parameter(message: str) -> ApiError:
    return ApiError(400, "missing_parameter", message)


def invalid_uploading(message: str) -> ApiError:
    return ApiError(400, "invalid_uploading", message)


def not_found(message: str) -> ApiError:
    return ApiError(404, "not_found", message)


def body_timeout(seconds: float) -> ApiError:
    """The client stopped sending its body: 408, in Metrika's shape (its ``timeout`` error type)."""
    return ApiError(408, "timeout", f"no request body bytes for {seconds:g} s: request abandoned")


def body_too_large(what: str, limit: int) -> ApiError:
    return ApiError(413, "invalid_uploading", f"{what} is larger than the emulator's limit of {limit} bytes")


def shown(raw: str, limit: int = 60) -> str:
    """``repr`` of a client-sent value for an error message, cut to ``limit`` characters."""
    return repr(raw) if len(raw) <= limit else repr(raw[:limit]) + f"... ({len(raw)} characters)"
