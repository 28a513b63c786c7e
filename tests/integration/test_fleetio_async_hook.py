"""FleetioAsyncHook and the Fleetio status source against the Fleetio emulator over loopback."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest

from airflow_provider_metrika.exceptions import MetrikaClientError, MetrikaRetryableError
from airflow_provider_metrika.fleetio.api import import_query
from airflow_provider_metrika.fleetio.hooks_async import FleetioAsyncHook
from airflow_provider_metrika.fleetio.status import FleetioStatusSource
from airflow_provider_metrika.jobs.record import JobState
from tests.conftest import FLEETIO_ACCOUNT, FLEETIO_API_KEY
from tests.integration.test_fleetio_status import person_imports

pytestmark = pytest.mark.integration


def advancing(emulator, waited=None):
    async def sleep(seconds: float) -> None:
        if waited is not None:
            waited.append(seconds)
        emulator.advance(seconds)

    return sleep


async def test_iterating_and_filters_match_the_sync_hook(fleetio, fleetio_conn):
    ids = [int(person_imports(fleetio, f"f{i}.csv")) for i in range(5)]
    fleetio.advance(15)
    async with FleetioAsyncHook(fleetio_conn) as hook:
        found = [item.id async for item in hook.iter_imports(per_page=2)]
        done = [item.id async for item in hook.iter_imports(import_query(statuses=["complete"], direction="asc"))]
    assert found == ids[::-1] and done == ids


async def test_the_status_source_answers_many_ids_in_one_request(fleetio, fleetio_conn):
    ok = person_imports(fleetio, "ok.csv")
    bad = person_imports(fleetio, "bad.csv", rows=[{"status": "error", "message": "odometer went backwards"}])
    source = FleetioStatusSource(FleetioAsyncHook(fleetio_conn), scope="acme")
    first = await source.poll([ok, bad])
    assert [r.state for r in first.values()] == [JobState.RUNNING, JobState.RUNNING]
    fleetio.advance(15)
    answers = await source.poll([ok, bad, "424242"])
    await source.close()
    assert answers[ok].state is JobState.SUCCESS and answers[bad].issues == ("row 1: odometer went backwards",)
    assert isinstance(answers["424242"], MetrikaClientError)
    assert source.requests == {"list": 2, "results": 1}


async def test_429_waits_its_retry_after(fleetio, fleetio_conn):
    waited: list[float] = []
    fleetio.configure(rate_limit=2, rate_window=60)
    async with FleetioAsyncHook(fleetio_conn, sleep=advancing(fleetio, waited)) as hook:
        for _ in range(3):
            await hook.imports_page()
    assert waited == [60.0]


async def test_a_spent_retry_budget_is_a_retryable_error(fleetio, fleetio_conn):
    fleetio.inject_fault(path="^/api/v1/imports$", action="status", status=503, times=5)
    async with FleetioAsyncHook(fleetio_conn, max_retries=1, sleep=advancing(fleetio)) as hook:
        with pytest.raises(MetrikaRetryableError) as caught:
            await hook.imports_page()
    assert caught.value.status == 503


async def test_the_connection_timeout_bounds_a_stalled_read(fleetio, monkeypatch):
    """A server that never answers: the read gives up after the connection's timeout (1 s), not aiohttp's default."""
    import aiohttp

    conn = {
        "conn_type": "fleetio",
        "host": fleetio.base_url,
        "login": FLEETIO_ACCOUNT,
        "password": FLEETIO_API_KEY,
        "extra": {"timeout": 1, "max_retries": 0},
    }
    monkeypatch.setenv("AIRFLOW_CONN_FLEETIO_SLOW", json.dumps(conn))
    fleetio.inject_fault(path="^/api/v1/imports$", action="delay", seconds=4, times=1)
    async with FleetioAsyncHook("fleetio_slow") as hook:
        with pytest.raises(aiohttp.ServerTimeoutError):
            await asyncio.wait_for(hook.imports_page(), timeout=3)


async def test_credentials_stay_out_of_errors_and_logs_when_the_server_echoes_them(fleetio, fleetio_conn, caplog):
    caplog.set_level(logging.DEBUG)
    fleetio.configure(api_keys={"another-key": FLEETIO_ACCOUNT}, echo_credentials=True)
    async with FleetioAsyncHook(fleetio_conn) as hook:
        with pytest.raises(MetrikaClientError) as caught:
            await hook.imports_page()
    text = str(caught.value) + repr(caught.value) + caplog.text
    assert caught.value.status == 401 and FLEETIO_API_KEY not in text and FLEETIO_ACCOUNT not in text


async def test_an_undefined_connection_says_how_to_create_it():
    async with FleetioAsyncHook("no_such_fleetio") as hook:
        with pytest.raises(Exception, match="'no_such_fleetio' is not defined; create a 'fleetio' connection"):
            await hook.imports_page()
