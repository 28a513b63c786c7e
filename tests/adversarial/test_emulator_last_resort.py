"""The emulator's last resort: a bug is still answered in Metrika's error shape (a 500), never aiohttp's text page.

Two layers catch what handlers do not: the ``error_bodies`` middleware (any exception) and the
connection handler of :class:`MetrikaAppRunner` (what escapes the middleware, such as an
``OSError``, and requests aiohttp cannot parse). Every hostile input must get a 4xx before
reaching them (see the other ``test_emulator_*`` modules); this only proves the net holds.
"""

from __future__ import annotations

import aiohttp
from aiohttp import web

from airflow_provider_metrika.emulator.app import MetrikaAppRunner
from airflow_provider_metrika.emulator.pipeline import error_bodies


async def test_unexpected_exceptions_are_500s_in_metrika_shape():
    async def bug(request: web.Request) -> web.Response:
        raise RuntimeError("a bug")

    async def disk_full(request: web.Request) -> web.Response:
        raise OSError("no space left on device")

    app = web.Application(middlewares=[error_bodies])
    app.router.add_get("/_emulator/bug", bug)  # the control prefix: no auth or state needed
    app.router.add_get("/_emulator/disk_full", disk_full)
    runner = MetrikaAppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with aiohttp.ClientSession() as session:
            for path in ("bug", "disk_full"):
                async with session.get(f"http://127.0.0.1:{port}/_emulator/{path}") as response:
                    assert response.status == 500
                    assert response.content_type == "application/json"
                    body = await response.json()
                    assert body["code"] == 500 and body["errors"][0]["error_type"] == "backend_error"
                    assert body["errors"][0]["message"] == body["message"]
                    assert "a bug" not in body["message"] and "no space" not in body["message"]
    finally:
        await runner.cleanup()
