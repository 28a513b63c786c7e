"""The Fleetio API key and account token never leave the hook, the sensor or the triggers.

A hostile server (over loopback) quotes either credential, in several encodings, in both error body
shapes (problem details and the legacy ones), in plain text, and in success bodies (an import's file
name and note, a failed row's message: the shared response decoding withholds them before they reach
a job record). Exception text, the sensor's XCom and failure message,
trigger events and every log record (DEBUG) are checked.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from airflow_provider_metrika.exceptions import MetrikaError
from airflow_provider_metrika.fleetio.hooks import FleetioHook
from airflow_provider_metrika.fleetio.hooks_async import FleetioAsyncHook
from airflow_provider_metrika.fleetio.sensors import FleetioImportSensor
from airflow_provider_metrika.fleetio.status import FleetioStatusSource
from airflow_provider_metrika.fleetio.watch import BaseEventTrigger
from airflow_provider_metrika.version_compat import AirflowFailException
from tests.adversarial.hostile_server import ENCODINGS, Answer, error_texts, leaked

pytestmark = pytest.mark.adversarial

API_KEY = "flt_HostileApiKeyQx7Kp2Lm9Zr4Tw8Vb3Nc6"
ACCOUNT = "acct_HostileAccountKq93Lr2Mz8Xw4"
CONN_ID = "fleetio_hostile"
QUOTED = ("verbatim", "upper", "percent", "html decimal", "base64", "spaced", "inside a sentence")


@pytest.fixture
def fleetio_hostile(hostile, monkeypatch):
    conn = {
        "conn_type": "fleetio",
        "host": hostile.url,
        "login": ACCOUNT,
        "password": API_KEY,
        "extra": {"max_retries": 0, "timeout": 10, "account": "acme"},
    }
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps(conn))
    return hostile


def shows_no_secret(*texts: object, caplog=None) -> None:
    shown = [t if isinstance(t, str) else json.dumps(t, default=repr) for t in texts]
    if caplog is not None:
        shown += [record.getMessage() for record in caplog.records]
    assert shown, "nothing was shown: the test proves nothing"
    for text in shown:
        for secret in (API_KEY, ACCOUNT):
            found = leaked(text, secret)
            assert found is None, f"a credential leaked ({found}): {text[:300]!r}"


def error_bodies(value: str) -> list[Answer]:
    return [
        Answer(401, json.dumps({"status": 401, "title": "Unauthorized", "detail": value, "instance": "/x"})),
        Answer(422, json.dumps({"errors": {"per_page": [value], value: ["bad"]}})),
        Answer(429, json.dumps({"error": value}), headers={"Retry-After": "1"}),
        Answer(500, f"<html><body>{value}</body></html>", content_type="text/html"),
        Answer(404, value, content_type="text/plain"),
    ]


def imports_page(**fields) -> Answer:
    record = {"id": 5, "type": "VehicleImport", "status": "failed", "file_name": "v.csv", "note": None, **fields}
    return Answer(200, json.dumps({"records": [record], "next_cursor": None, "estimated_remaining_count": 1}))


@pytest.mark.parametrize("secret", [API_KEY, ACCOUNT], ids=["api key", "account token"])
@pytest.mark.parametrize("encoding", QUOTED)
def test_error_bodies_never_show_a_credential(fleetio_hostile, caplog, secret, encoding):
    caplog.set_level("DEBUG")
    for answer in error_bodies(ENCODINGS[encoding](secret)):
        fleetio_hostile.plan = lambda seen, answer=answer: answer
        with pytest.raises(MetrikaError) as sync_error:
            FleetioHook(CONN_ID).imports_page()

        async def read(answer=answer):
            async with FleetioAsyncHook(CONN_ID) as hook:
                return await hook.imports_page()

        with pytest.raises(MetrikaError) as async_error:
            asyncio.run(read())
        shows_no_secret(*error_texts(sync_error.value), *error_texts(async_error.value), caplog=caplog)


@pytest.mark.parametrize("secret", [API_KEY, ACCOUNT], ids=["api key", "account token"])
@pytest.mark.parametrize("encoding", ("verbatim", "percent", "inside a sentence"))
def test_success_bodies_quoting_a_credential_reach_neither_xcom_nor_messages(fleetio_hostile, caplog, secret, encoding):
    caplog.set_level("DEBUG")
    quoted = ENCODINGS[encoding](secret)

    def plan(seen):
        if seen.path.endswith("/results"):
            rows = [{"row_number": 1, "status": "error", "message": f"row says {quoted}"}]
            return Answer(200, json.dumps({"records": rows, "next_cursor": None}))
        return imports_page(file_name=quoted, note=quoted, status="partially_complete")

    fleetio_hostile.plan = plan
    accepted = FleetioImportSensor(
        task_id="w", import_id=5, fleetio_conn_id=CONN_ID, deferrable=False, partially_complete="succeed"
    ).poke({})
    with pytest.raises(AirflowFailException) as failed:
        FleetioImportSensor(task_id="w", import_id=5, fleetio_conn_id=CONN_ID, deferrable=False).poke({})

    async def poll():
        source = FleetioStatusSource(FleetioAsyncHook(CONN_ID), scope="acme")
        try:
            return await source.poll(["5"])
        finally:
            await source.close()

    polled = asyncio.run(poll())["5"]
    assert accepted.is_done and polled.state.value == "partial"
    shows_no_secret(accepted.xcom_value, *error_texts(failed.value), repr(polled), polled.to_summary(), caplog=caplog)


if BaseEventTrigger is not None:  # event triggers are Airflow 3.x only

    def test_the_watch_triggers_events_never_show_a_credential(fleetio_hostile, caplog, monkeypatch):
        from airflow_provider_metrika.fleetio.watch import FleetioImportWatchTrigger
        from airflow_provider_metrika.jobs import poller

        caplog.set_level("DEBUG")
        calls = iter(range(100))

        def plan(seen):
            if next(calls) == 0:  # the first poll sets the watermark
                return Answer(200, json.dumps({"records": [], "next_cursor": None}))
            record = {"id": 9, "type": "VehicleImport", "status": "complete", "file_name": f"x {API_KEY}",
                      "note": ACCOUNT, "updated_at": "2026-01-01T00:00:00Z"}  # fmt: skip
            return Answer(200, json.dumps({"records": [record], "next_cursor": None}))

        async def no_pause(seconds):
            await asyncio.sleep(0)

        monkeypatch.setattr(poller, "sleep", no_pause)
        fleetio_hostile.plan = plan
        trigger = FleetioImportWatchTrigger(conn_id=CONN_ID, import_type="VehicleImport")
        assert CONN_ID in json.dumps(trigger.serialize()) and API_KEY not in json.dumps(trigger.serialize())

        async def first():
            events = trigger.run()
            try:
                return (await anext(events)).payload
            finally:
                await events.aclose()

        payload = asyncio.run(first())
        assert payload["id"] == 9
        shows_no_secret(payload, caplog=caplog)
