import pytest

from airflow_provider_metrika.exceptions import MetrikaClientError, MetrikaRetryableError
from airflow_provider_metrika.jobs import poller as poller_module
from airflow_provider_metrika.jobs.poller import next_interval
from airflow_provider_metrika.triggers.uploading import MetrikaUploadingTrigger
from airflow_provider_metrika.version_compat import TriggerEvent
from tests.unit.waiting.conftest import make_uploading


def make_trigger(**kwargs):
    params = dict(
        kind="offline_conversions",
        counter_id=5,
        uploading_ids=["1"],
        poll_interval=30,
        max_poll_interval=300,
        max_consecutive_failures=3,
    )
    params.update(kwargs)
    return MetrikaUploadingTrigger(**params)


class FakeAsyncHook:
    def __init__(self, results):
        self.results = list(results)
        self.calls = []
        self.list_calls = []
        self.closed = False

    async def get_uploading(self, kind, counter_id, uploading_id):
        self.calls.append((kind, counter_id, uploading_id))
        result = self.results.pop(0)
        if isinstance(result, Exception):
            raise result
        return result

    async def list_uploadings(self, kind, counter_id, *, limit=None, offset=None):
        self.list_calls.append((kind, counter_id, limit, offset))
        result = self.results.pop(0)
        if isinstance(result, Exception):
            raise result
        return result

    async def close(self):
        self.closed = True


@pytest.fixture
def sleeps(monkeypatch):
    """The poller waits on a virtual clock: each pause is recorded and moves the clock, nothing sleeps."""
    recorded = []
    clock = [1000.0]

    async def fake_pause(seconds):
        recorded.append(seconds)
        clock[0] += seconds

    monkeypatch.setattr(poller_module, "sleep", fake_pause)  # the poller does the waiting between polls
    monkeypatch.setattr(poller_module, "monotonic", lambda: clock[0])
    return recorded


def install(monkeypatch, hook):
    monkeypatch.setattr(MetrikaUploadingTrigger, "_hook", lambda self: hook)


def test_serialize_round_trip_has_no_secrets():
    trigger = make_trigger()
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_provider_metrika.triggers.uploading.MetrikaUploadingTrigger"
    assert kwargs == {
        "kind": "offline_conversions",
        "scope": "5",
        "job_ids": ["1"],
        "conn_id": "metrika_default",
        "poll_interval": 30.0,
        "max_poll_interval": 300.0,
        "max_consecutive_failures": 3,
        "shared": True,
        "linkage_failure": None,
        "min_linked_ratio": None,
        "on_low_linkage": "fail",
    }
    rebuilt = MetrikaUploadingTrigger(**kwargs)
    assert rebuilt.serialize() == (classpath, kwargs)


def test_next_interval_backs_off_and_is_bounded():
    assert next_interval(30, 300) == 45
    assert next_interval(250, 300) == 300
    assert next_interval(60, 60) == 60


async def test_run_polls_until_processed(monkeypatch, sleeps):
    hook = FakeAsyncHook(
        [make_uploading("PREPARED"), make_uploading("MATCHED"), make_uploading("PROCESSED", linked_quantity=2)]
    )
    install(monkeypatch, hook)
    event = await make_trigger().run().asend(None)
    assert isinstance(event, TriggerEvent)
    assert event.payload["status"] == "success"
    assert event.payload["result"]["jobs"][0]["counters"]["linked_quantity"] == 2
    assert sleeps == [30, 45]
    assert hook.closed


async def test_run_reports_linkage_failure(monkeypatch, sleeps):
    install(monkeypatch, FakeAsyncHook([make_uploading("LINKAGE_FAILURE", line_quantity=4)]))
    event = await make_trigger().run().asend(None)
    assert event.payload["status"] == "error" and event.payload["terminal"]
    assert "LINKAGE_FAILURE" in event.payload["message"]


async def test_run_rides_out_transient_errors(monkeypatch, sleeps):
    blip = MetrikaRetryableError(503, "backend_error", "busy")
    install(
        monkeypatch,
        FakeAsyncHook(
            [blip, OSError("reset"), make_uploading("MATCHED"), blip, TimeoutError(), make_uploading("PROCESSED")]
        ),
    )
    event = await make_trigger().run().asend(None)
    assert event.payload["status"] == "success"


async def test_run_gives_up_after_consecutive_failures(monkeypatch, sleeps):
    blip = MetrikaRetryableError(503, "backend_error", "busy")
    install(monkeypatch, FakeAsyncHook([blip, blip, blip]))
    event = await make_trigger().run().asend(None)
    assert event.payload["status"] == "error"
    assert "3 consecutive failed polls" in event.payload["message"] and not event.payload["terminal"]


async def test_run_fails_at_once_on_client_error(monkeypatch, sleeps):
    hook = FakeAsyncHook([MetrikaClientError(404, "not_found", "no such uploading")])
    install(monkeypatch, hook)
    event = await make_trigger().run().asend(None)
    assert event.payload["status"] == "error" and "not_found" in event.payload["message"]
    assert not event.payload["terminal"]  # a permanent poll error fails this try, not the task's retries
    assert sleeps == [] and hook.closed


async def test_run_waits_for_every_id(monkeypatch, sleeps):
    # Two ids: one list page answers both; "1" is then known final, so only "2" is asked for, by id.
    hook = FakeAsyncHook(
        [
            [make_uploading("PROCESSED", "1"), make_uploading("MATCHED", "2"), make_uploading("PREPARED", "3")],
            make_uploading("PROCESSED", "2"),
        ]
    )
    install(monkeypatch, hook)
    event = await make_trigger(uploading_ids=["1", "2"]).run().asend(None)
    assert event.payload["status"] == "success"
    assert event.payload["result"]["ids"] == ["1", "2"]
    assert hook.list_calls == [("offline_conversions", 5, 1000, 0)]
    assert [c[2] for c in hook.calls] == ["2"]
    assert sleeps == [30] and hook.closed


async def test_run_shared_false_gets_each_id_every_poll(monkeypatch, sleeps):
    hook = FakeAsyncHook(
        [
            make_uploading("MATCHED", "1"),
            make_uploading("MATCHED", "2"),
            make_uploading("PROCESSED", "1"),
            make_uploading("PROCESSED", "2"),
        ]
    )
    install(monkeypatch, hook)
    trigger = make_trigger(uploading_ids=["1", "2"], shared=False)
    event = await trigger.run().asend(None)
    assert event.payload["status"] == "success"
    assert [c[2] for c in hook.calls] == ["1", "2", "1", "2"] and hook.list_calls == []
    assert trigger.serialize()[1]["shared"] is False and hook.closed


def test_max_poll_interval_defaults_to_five_minutes_or_the_poll_interval():
    assert make_trigger(max_poll_interval=None).max_poll_interval == 300
    assert make_trigger(poll_interval=600, max_poll_interval=None).max_poll_interval == 600


def test_old_serialized_kwargs_still_build_a_shared_trigger():
    kwargs = {
        "kind": "calls",
        "counter_id": 5,
        "uploading_ids": ["1"],
        "metrika_conn_id": "c",
        "poll_interval": 60.0,
        "max_poll_interval": 60.0,
        "max_consecutive_failures": 10,
    }
    trigger = MetrikaUploadingTrigger(**kwargs)
    assert trigger.shared is True
    assert (trigger.conn_id, trigger.scope, trigger.job_ids, trigger.kind) == ("c", "5", ["1"], "calls")


def test_a_trigger_needs_a_counter_and_ids():
    with pytest.raises(TypeError, match="counter"):
        MetrikaUploadingTrigger(kind="calls", job_ids=["1"])
    with pytest.raises(TypeError, match="uploading ids"):
        MetrikaUploadingTrigger(kind="calls", scope=5)


async def test_a_bug_in_a_poll_fails_the_trigger_with_it(monkeypatch, sleeps):
    install(monkeypatch, FakeAsyncHook([KeyError("bug")]))
    with pytest.raises(KeyError, match="bug"):
        await make_trigger().run().asend(None)
