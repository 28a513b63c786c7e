import asyncio

import pytest

from airflow_provider_metrika.exceptions import MetrikaClientError, MetrikaRetryableError
from airflow_provider_metrika.triggers import uploading as trigger_module
from airflow_provider_metrika.triggers.uploading import MetrikaUploadingTrigger, next_interval
from airflow_provider_metrika.version_compat import TriggerEvent
from tests.unit.waiting.conftest import make_uploading


def make_trigger(**kwargs):
    params = dict(kind="offline_conversions", counter_id=5, uploading_ids=["1"], poll_interval=30,
                  max_poll_interval=300, max_consecutive_failures=3)
    params.update(kwargs)
    return MetrikaUploadingTrigger(**params)


class FakeAsyncHook:
    def __init__(self, results):
        self.results = list(results)
        self.calls = []
        self.closed = False

    async def get_uploading(self, kind, counter_id, uploading_id):
        self.calls.append((kind, counter_id, uploading_id))
        result = self.results.pop(0)
        if isinstance(result, Exception):
            raise result
        return result

    async def close(self):
        self.closed = True


@pytest.fixture
def sleeps(monkeypatch):
    recorded = []

    async def fake_sleep(seconds):
        recorded.append(seconds)

    monkeypatch.setattr(trigger_module.asyncio, "sleep", fake_sleep)
    return recorded


def install(monkeypatch, hook):
    monkeypatch.setattr(MetrikaUploadingTrigger, "_hook", lambda self: hook)


def test_serialize_round_trip_has_no_secrets():
    trigger = make_trigger()
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_provider_metrika.triggers.uploading.MetrikaUploadingTrigger"
    assert kwargs == {"kind": "offline_conversions", "counter_id": 5, "uploading_ids": ["1"],
                      "metrika_conn_id": "metrika_default", "poll_interval": 30.0, "max_poll_interval": 300.0,
                      "max_consecutive_failures": 3}
    rebuilt = MetrikaUploadingTrigger(**kwargs)
    assert rebuilt.serialize() == (classpath, kwargs)


def test_next_interval_backs_off_and_is_bounded():
    assert next_interval(30, 300) == 45
    assert next_interval(250, 300) == 300
    assert next_interval(60, 60) == 60


async def test_run_polls_until_processed(monkeypatch, sleeps):
    hook = FakeAsyncHook([make_uploading("PREPARED"), make_uploading("MATCHED"),
                          make_uploading("PROCESSED", linked_quantity=2)])
    install(monkeypatch, hook)
    event = await make_trigger().run().asend(None)
    assert isinstance(event, TriggerEvent)
    assert event.payload["status"] == "success"
    assert event.payload["uploadings"][0]["linked_quantity"] == 2
    assert sleeps == [30, 45]
    assert hook.closed


async def test_run_reports_linkage_failure(monkeypatch, sleeps):
    install(monkeypatch, FakeAsyncHook([make_uploading("LINKAGE_FAILURE", line_quantity=4)]))
    event = await make_trigger().run().asend(None)
    assert event.payload["status"] == "error" and "LINKAGE_FAILURE" in event.payload["message"]


async def test_run_rides_out_transient_errors(monkeypatch, sleeps):
    blip = MetrikaRetryableError(503, "backend_error", "busy")
    install(monkeypatch, FakeAsyncHook([blip, OSError("reset"), make_uploading("MATCHED"), blip,
                                        asyncio.TimeoutError(), make_uploading("PROCESSED")]))
    event = await make_trigger().run().asend(None)
    assert event.payload["status"] == "success"


async def test_run_gives_up_after_consecutive_failures(monkeypatch, sleeps):
    blip = MetrikaRetryableError(503, "backend_error", "busy")
    install(monkeypatch, FakeAsyncHook([blip, blip, blip]))
    event = await make_trigger().run().asend(None)
    assert event.payload["status"] == "error"
    assert "3 consecutive failed polls" in event.payload["message"]


async def test_run_fails_at_once_on_client_error(monkeypatch, sleeps):
    hook = FakeAsyncHook([MetrikaClientError(404, "not_found", "no such uploading")])
    install(monkeypatch, hook)
    event = await make_trigger().run().asend(None)
    assert event.payload["status"] == "error" and "not_found" in event.payload["message"]
    assert sleeps == [] and hook.closed


async def test_run_waits_for_every_id(monkeypatch, sleeps):
    hook = FakeAsyncHook([make_uploading("PROCESSED", "1"), make_uploading("MATCHED", "2"),
                          make_uploading("PROCESSED", "1"), make_uploading("PROCESSED", "2")])
    install(monkeypatch, hook)
    event = await make_trigger(uploading_ids=["1", "2"]).run().asend(None)
    assert [u["uploading_id"] for u in event.payload["uploadings"]] == ["1", "2"]
    assert [c[2] for c in hook.calls] == ["1", "2", "1", "2"]
