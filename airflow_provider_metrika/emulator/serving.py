"""What every vendor's aiohttp application is made of: the error middleware and the app factory.

A vendor gives how its errors read (``render``) and what its API requests pass before their
handler (``serve_api``: auth, limits, faults); control requests (``/_emulator/``) skip that.
Whatever goes wrong becomes the vendor's error body, never aiohttp's HTML page.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from aiohttp import web

from airflow_provider_metrika.emulator.control import routes as control_routes
from airflow_provider_metrika.emulator.errors import ApiError
from airflow_provider_metrika.emulator.faults import Handler
from airflow_provider_metrika.emulator.harness import CONTROL_PREFIX, HARNESS, HarnessState

log = logging.getLogger(__name__)

#: ``error_type`` of errors aiohttp raised (no route, wrong method, body too large) and of crashes.
HTTP_ERROR, INTERNAL_ERROR = "http_error", "internal_error"
Render = Callable[[ApiError, web.Request], web.StreamResponse]
ServeApi = Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]


def error_middleware(render: Render, serve_api: ServeApi) -> Any:
    """A middleware answering every failure with ``render`` and sending API requests through ``serve_api``."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            if request.match_info.http_exception is not None:
                raise request.match_info.http_exception
            if request.path.startswith(CONTROL_PREFIX):
                return await handler(request)
            return await serve_api(request, handler)
        except ApiError as error:
            return render(error, request)
        except web.HTTPException as error:
            if error.status < 400:
                raise
            return render(
                ApiError(error.status, HTTP_ERROR, f"{error.reason}: {request.method} {request.path}"), request
            )
        except (ConnectionError, OSError):
            raise
        except Exception:
            log.exception("emulator failure on %s %s", request.method, request.path)
            return render(ApiError(500, INTERNAL_ERROR, "internal emulator error"), request)

    return middleware


def vendor_app(
    state: HarnessState,
    state_key: web.AppKey[Any],
    middleware: Any,
    routes: Iterable[web.AbstractRouteDef],
    *,
    client_max_size: int = 1 << 20,
) -> web.Application:
    """An application serving ``state`` under ``state_key`` (and the harness key), with the control API."""
    app = web.Application(middlewares=[middleware], client_max_size=client_max_size)
    app[state_key] = state
    app[HARNESS] = state
    app.add_routes(list(routes))
    app.add_routes(control_routes)
    return app
