"""CommerceLayerAsyncHook against the Commerce Layer emulator over loopback."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from airflow_provider_metrika.commercelayer.auth import TOKENS
from airflow_provider_metrika.commercelayer.hooks_async import CommerceLayerAsyncHook
from airflow_provider_metrika.exceptions import MetrikaClientError, MetrikaConfigError
from tests.emulators import requests_to
from tests.integration.test_commercelayer_hook import SKUS, token_requests

pytestmark = pytest.mark.integration


def list_requests(emulator) -> int:
    return requests_to(emulator, "/api/imports", "GET")


async def test_many_imports_are_read_in_one_request_without_their_inputs(
    commercelayer_hook, commercelayer, commercelayer_conn
):
    created = [commercelayer_hook.create_import("skus", SKUS, reference=f"r{i}") for i in range(3)]
    commercelayer.advance(10)
    before = list_requests(commercelayer)
    async with CommerceLayerAsyncHook(commercelayer_conn) as hook:
        found = await hook.imports_by_id([c.id for c in created] + [created[0].id])
    assert list_requests(commercelayer) == before + 1
    assert sorted(found) == sorted(c.id for c in created)
    assert all(i.status == "completed" and "inputs" not in i.attributes for i in found.values())


async def test_more_ids_than_a_page_take_one_request_per_25(commercelayer_hook, commercelayer, commercelayer_conn):
    created = [commercelayer_hook.create_import("skus", SKUS) for _ in range(27)]
    before = list_requests(commercelayer)
    async with CommerceLayerAsyncHook(commercelayer_conn) as hook:
        found = await hook.imports_by_id([c.id for c in created])
    assert len(found) == 27 and list_requests(commercelayer) == before + 2


async def test_the_async_hook_shares_the_sync_hooks_token(commercelayer_hook, commercelayer, commercelayer_conn):
    commercelayer_hook.access_token()
    async with CommerceLayerAsyncHook(commercelayer_conn) as hook:
        await asyncio.gather(*(hook.imports_by_id(["abc"]) for _ in range(5)))
    assert token_requests(commercelayer) == 1


async def test_concurrent_first_calls_fetch_one_token(commercelayer, commercelayer_conn):
    hooks = [CommerceLayerAsyncHook(commercelayer_conn) for _ in range(5)]
    await asyncio.gather(*(h.imports_by_id(["abc"]) for h in hooks))
    for each in hooks:
        await each.close()
    assert token_requests(commercelayer) == 1


async def test_a_revoked_token_is_fetched_again_once(commercelayer_hook, commercelayer, commercelayer_conn):
    created = commercelayer_hook.create_import("skus", SKUS)
    commercelayer.call("POST", "commercelayer/revoke_tokens")
    async with CommerceLayerAsyncHook(commercelayer_conn) as hook:
        assert (await hook.get_import(created.id)).id == created.id
    assert token_requests(commercelayer) == 2


async def test_a_second_401_is_raised(commercelayer, commercelayer_conn):
    commercelayer.inject_fault(path="^/api/imports$", action="status", status=401, error_type="INVALID_TOKEN", times=2)
    async with CommerceLayerAsyncHook(commercelayer_conn) as hook:
        with pytest.raises(MetrikaClientError) as caught:
            await hook.imports_by_id(["abc"])
    assert caught.value.status == 401


async def test_interrupt_stops_an_open_import(commercelayer_hook, commercelayer, commercelayer_conn):
    created = commercelayer_hook.create_import("skus", SKUS)
    async with CommerceLayerAsyncHook(commercelayer_conn) as hook:
        interrupted = await hook.interrupt_import(created.id)
    assert interrupted.status == "interrupted"
    assert commercelayer_hook.get_import(created.id).status == "interrupted"


async def test_an_unknown_connection_says_how_to_create_it(commercelayer):
    async with CommerceLayerAsyncHook("cl_missing") as hook:
        with pytest.raises(MetrikaConfigError, match="'cl_missing' is not defined; create a 'commercelayer'"):
            await hook.imports_by_id(["abc"])


async def test_the_connection_timeout_bounds_a_stalled_read(commercelayer, monkeypatch):
    """A server that never answers: the read gives up after the connection's timeout, not aiohttp's 5 minutes."""
    import json

    conn = {
        "conn_type": "commercelayer",
        "host": commercelayer.base_url,
        "login": "c",
        "password": "s",
        "extra": {"auth_url": commercelayer.base_url + "/oauth/token", "timeout": 1, "max_retries": 0},
    }
    monkeypatch.setenv("AIRFLOW_CONN_CL_SLOW", json.dumps(conn))
    TOKENS.clear()
    commercelayer.inject_fault(path="^/oauth/token$", action="delay", seconds=4, times=1)
    async with CommerceLayerAsyncHook("cl_slow") as hook:
        with pytest.raises(aiohttp.ServerTimeoutError):  # not wait_for's own TimeoutError
            await asyncio.wait_for(hook.access_token(), timeout=3)
