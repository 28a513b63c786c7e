"""The shared poller: one list per cycle for many waiters, per-waiter backoff and failure budgets, clean exits.

Time is virtual: the poller's pause moves a fake clock (nothing sleeps) and the fake
Metrika below derives every status from that clock.
"""

import asyncio
import logging

import pytest

from airflow_provider_metrika.exceptions import MetrikaClientError, MetrikaConfigError, MetrikaRetryableError
from airflow_provider_metrika.jobs import poller as poller_module
from airflow_provider_metrika.jobs.poller import JobPoller, PollerKey, poller_registry, subscribed
from airflow_provider_metrika.jobs.record import JobRecord
from airflow_provider_metrika.triggers.metrika_status import MetrikaStatusSource
from airflow_provider_metrika.triggers.uploading import MetrikaUploadingTrigger
from airflow_provider_metrika.uploads import Uploading

KIND = "offline_conversions"
BUSY = MetrikaRetryableError(503, "backend_error", "busy")


class FakeMetrika:
    """Uploadings whose status follows the virtual clock; records every request; errors can be queued."""

    def __init__(self, clock, counter_id=5):
        self.clock = clock
        self.counter_id = counter_id
        self.done_at = {}
        self.final = {}
        self.calls = []
        self.list_times = []
        self.errors = {"list": [], "get": []}
        self.hooks_made = 0
        self.closed = 0

    def add(self, uploading_id, done_after, final="PROCESSED"):
        self.done_at[str(uploading_id)] = self.clock.now + done_after
        self.final[str(uploading_id)] = final

    def _uploading(self, uploading_id):
        status = self.final[uploading_id] if self.clock.now >= self.done_at[uploading_id] else "MATCHED"
        return Uploading.from_api(KIND, self.counter_id, {"id": uploading_id, "status": status, "comment": "c"})

    def factory(self):
        self.hooks_made += 1
        return self

    async def list_uploadings(self, kind, counter_id, *, limit=None, offset=None):
        self.calls.append(("list", counter_id, limit, offset))
        self.list_times.append(self.clock.now)
        if self.errors["list"]:
            raise self.errors["list"].pop(0)
        newest_first = sorted(self.done_at, key=int, reverse=True)
        return [self._uploading(i) for i in newest_first[offset : offset + limit]]

    async def get_uploading(self, kind, counter_id, uploading_id):
        self.calls.append(("get", counter_id, uploading_id))
        if self.errors["get"]:
            raise self.errors["get"].pop(0)
        if uploading_id not in self.done_at:
            raise MetrikaClientError(404, "not_found", f"no uploading {uploading_id}")
        return self._uploading(uploading_id)

    async def close(self):
        self.closed += 1

    def count(self, what):
        return sum(1 for call in self.calls if call[0] == what)


@pytest.fixture
def metrika(clock, monkeypatch):
    fake = FakeMetrika(clock)
    monkeypatch.setattr(MetrikaUploadingTrigger, "_hook", lambda self: fake.factory())
    return fake


def metrika_poller(fake, **options):
    """A kernel poller over Metrika's status source (lists, then GETs), on the fake."""
    return JobPoller(
        PollerKey("c", "metrika", f"{KIND}:5"), lambda: MetrikaStatusSource(KIND, 5, fake.factory, **options)
    )


def registry_key(conn_id, kind=KIND, counter_id=5):
    return PollerKey(conn_id, "metrika", f"{kind}:{counter_id}")


def trigger(ids, **kwargs):
    params = dict(
        kind=KIND,
        counter_id=5,
        uploading_ids=[str(i) for i in ids],
        poll_interval=30,
        max_poll_interval=300,
        max_consecutive_failures=3,
    )
    params.update(kwargs)
    return MetrikaUploadingTrigger(**params)


def start(*triggers):
    return [asyncio.ensure_future(t.run().__anext__()) for t in triggers]


async def payloads(tasks):
    return [event.payload for event in await asyncio.gather(*tasks)]


async def test_triggers_of_one_counter_share_one_list_per_cycle(metrika, clock):
    for i in range(1, 6):
        metrika.add(i, done_after=100 * i)
    events = await payloads(start(*(trigger([i]) for i in range(1, 6))))
    assert [e["status"] for e in events] == ["success"] * 5
    assert metrika.hooks_made == 1 and metrika.closed == 1
    assert metrika.count("get") <= 1  # a lone pending id is cheaper by id
    # One list request per cycle, never more: cycles ran at 0, 30, 75, 142.5, 243.75, 300 ... s.
    lists = [c for c in metrika.calls if c[0] == "list"]
    assert all(c == ("list", 5, 1000, 0) for c in lists)
    assert len(metrika.calls) == len(clock.pauses) + 1
    assert len(poller_registry()) == 0


async def test_each_trigger_fires_at_the_first_poll_after_its_uploading_finished(metrika, clock):
    done_after = [7, 61, 130, 333, 800, 1234, 2000]
    for i, seconds in enumerate(done_after, start=1):
        metrika.add(i, done_after=seconds)
    fired = {}

    async def wait(i):
        event = await trigger([i]).run().__anext__()
        fired[i] = (clock.now, clock.pauses[-1] if clock.pauses else 0.0)
        return event

    await asyncio.gather(*(wait(i) for i in range(1, len(done_after) + 1)))
    for i in fired:
        fired_at, last_pause = fired[i]
        late = fired_at - metrika.done_at[str(i)]
        assert 0 <= late < last_pause <= 300  # no poll between completion and the event


async def test_cadence_backs_off_and_is_bounded(metrika, clock):
    metrika.add(1, done_after=3000)
    await payloads(start(trigger([1])))
    assert clock.pauses[:5] == [30, 45, 67.5, 101.25, 151.875]
    assert max(clock.pauses) == 300 and clock.pauses[-2:] == [300, 300]
    assert len(metrika.calls) < 20  # a 50-minute wait costs tens of requests, not a hundred


async def test_the_youngest_waiter_sets_the_pace_and_a_joiner_waits_at_most_its_interval(metrika, clock):
    metrika.add(1, done_after=5000)
    metrika.add(2, done_after=2500)
    old = start(trigger([1]))
    while clock.now < 2000:  # the first wait backs off to 300 s
        await asyncio.sleep(0)
    assert clock.pauses[-1] == 300
    joined_at, paused_before = clock.now, len(clock.pauses)
    young = start(trigger([2], poll_interval=10, max_poll_interval=20))
    await young[0]
    young_pauses = clock.pauses[paused_before:]
    assert metrika.list_times and metrika.list_times[0] - joined_at <= 10  # its first poll (listing 1 and 2)
    assert max(young_pauses) <= 20  # the young wait sets the pace while it lasts
    await old[0]
    assert clock.pauses[-1] == 300  # back to the old wait's pace once the young one left


async def settle():
    for _ in range(10):
        await asyncio.sleep(0)


@pytest.fixture
def blocked_pauses(monkeypatch):
    """Pauses that never end on their own: the poller only moves when a newcomer wakes it."""
    slept = []

    async def blocking_pause(seconds):
        slept.append(seconds)
        await asyncio.Event().wait()

    monkeypatch.setattr(poller_module, "sleep", blocking_pause)
    return slept


async def test_a_newcomer_due_now_cuts_a_long_pause_short(clock, blocked_pauses):
    fake = FakeMetrika(clock)
    fake.add(1, done_after=10_000)
    fake.add(2, done_after=10_000)
    poller = metrika_poller(fake)
    first = poller.subscribe(["1"], poll_interval=300, max_poll_interval=300)
    await first.next_poll()
    waiting = asyncio.ensure_future(first.next_poll())
    await settle()
    assert blocked_pauses == [300]
    clock.now += 100
    poller.subscribe(["2"], poll_interval=30, max_poll_interval=30)  # due 30 s after the last poll: already past
    await settle()
    assert waiting.done() and len(fake.calls) == 2  # polled at once, for the first waiter too
    await poller.aclose()


async def test_a_newcomer_due_later_leaves_the_pause_alone_one_due_sooner_shortens_it(clock, blocked_pauses):
    fake = FakeMetrika(clock)
    fake.add(1, done_after=10_000)
    poller = metrika_poller(fake)
    first = poller.subscribe(["1"], poll_interval=30, max_poll_interval=30)
    await first.next_poll()
    waiting = asyncio.ensure_future(first.next_poll())
    await settle()
    poller.subscribe(["1"], poll_interval=60, max_poll_interval=60)
    await settle()
    assert blocked_pauses == [30] and len(fake.calls) == 1
    clock.now += 5
    poller.subscribe(["1"], poll_interval=20, max_poll_interval=20)  # due at +20 s, before the planned +30 s
    await settle()
    assert blocked_pauses == [30, 15] and len(fake.calls) == 1
    waiting.cancel()
    await poller.aclose()
    assert fake.closed == 1


async def test_pages_only_while_ids_are_missing_and_pages_are_full(clock):
    fake = FakeMetrika(clock)
    for i in range(1, 26):
        fake.add(i, done_after=0)
    poller = metrika_poller(fake, page_size=10)
    results = await poller.poll(["3", "24", "25"])  # 25, 24 on page 1; 3 on page 3 (short)
    assert all(isinstance(r, JobRecord) for r in results.values())
    assert [c[3] for c in fake.calls] == [0, 10, 20]
    fake.calls.clear()
    fake.add(26, done_after=100)
    fake.add(27, done_after=100)
    results = await poller.poll(["26", "27"])
    assert [c[0] for c in fake.calls] == ["list"]  # both on the first page: no more pages


async def test_max_pages_then_ids_not_listed_are_got_by_id(clock):
    fake = FakeMetrika(clock)
    for i in range(1, 31):
        fake.add(i, done_after=100)
    poller = metrika_poller(fake, page_size=10, max_pages=2)
    results = await poller.poll(["1", "2", "30"])
    assert [c[0] for c in fake.calls] == ["list", "list", "get", "get"]
    assert {c[2] for c in fake.calls if c[0] == "get"} == {"1", "2"}
    assert results["1"].status == "MATCHED"
    assert poller.requests == {"list": 2, "get": 2}


async def test_unknown_id_fails_only_its_waiter(metrika):
    metrika.add(1, done_after=50)
    metrika.add(2, done_after=50)
    good, bad = start(trigger([1, 2]), trigger(["999"]))
    bad_event = await bad
    assert bad_event.payload["status"] == "error" and "not_found" in bad_event.payload["message"]
    assert (await good).payload["status"] == "success"
    assert ("get", 5, "999") in metrika.calls


async def test_list_transient_error_counts_against_each_budget_and_sends_no_gets(metrika):
    metrika.add(1, done_after=50)
    metrika.add(2, done_after=50)
    metrika.errors["list"] = [BUSY, OSError("reset")]
    patient, impatient = start(trigger([1, 2], max_consecutive_failures=5), trigger([2, 1], max_consecutive_failures=2))
    gave_up = (await impatient).payload
    assert gave_up["status"] == "error" and "2 consecutive failed polls" in gave_up["message"]
    assert (await patient).payload["status"] == "success"
    assert metrika.calls[0][0] == "list" and metrika.calls[1][0] == "list"
    assert metrika.count("get") <= 1


async def test_list_forbidden_fails_every_waiter_at_once(metrika):
    metrika.add(1, done_after=50)
    metrika.add(2, done_after=50)
    metrika.errors["list"] = [MetrikaClientError(403, "access_denied", "no rights")]
    events = await payloads(start(trigger([1]), trigger([2])))
    assert all(e["status"] == "error" and "access_denied" in e["message"] for e in events)
    assert metrika.calls == [("list", 5, 1000, 0)]


async def test_config_error_fails_every_waiter_at_once(metrika):
    metrika.add(1, done_after=50)
    metrika.errors["list"] = [MetrikaConfigError("connection 'metrika_default' is not defined")]
    events = await payloads(start(trigger([1, "2"]), trigger(["2"])))
    assert all(e["status"] == "error" and "not defined" in e["message"] for e in events)


@pytest.mark.parametrize("status", [400, 404, 405])
async def test_list_not_available_falls_back_to_gets_for_good(metrika, caplog, status):
    metrika.add(1, done_after=50)
    metrika.add(2, done_after=50)
    metrika.errors["list"] = [MetrikaClientError(status, "not_found", "no such list")]
    with caplog.at_level(logging.WARNING, logger=poller_module.__name__):
        events = await payloads(start(trigger([1, 2])))
    assert events[0]["status"] == "success"
    assert metrika.count("list") == 1 and metrika.count("get") >= 3
    assert "polling each uploading by id" in caplog.text


async def test_get_transient_error_stops_the_cycle_for_the_rest(clock):
    fake = FakeMetrika(clock)
    poller = metrika_poller(fake, use_list=False)
    for i in (1, 2, 3):
        fake.add(i, done_after=0)
    fake.errors["get"] = [MetrikaClientError(404, "not_found", "gone"), BUSY]
    results = await poller.poll(["1", "2", "3"])
    assert isinstance(results["1"], MetrikaClientError)
    assert results["2"] is BUSY and results["3"] is BUSY
    assert [c[2] for c in fake.calls] == ["1", "2"]


async def test_unexpected_get_error_reaches_the_trigger_as_before(metrika):
    metrika.add(1, done_after=50)
    metrika.errors["get"] = [ValueError("bug")]
    with pytest.raises(ValueError, match="bug"):
        await start(trigger([1]))[0]
    await asyncio.sleep(0)
    assert len(poller_registry()) == 0 and metrika.closed == 1


async def test_a_broken_pause_reaches_waiters_instead_of_hanging_them(metrika, monkeypatch, caplog):
    metrika.add(1, done_after=5000)
    calls = []

    async def broken(seconds):
        calls.append(seconds)
        raise RuntimeError("clock broke")

    monkeypatch.setattr(poller_module, "sleep", broken)
    with caplog.at_level(logging.ERROR, logger=poller_module.__name__), pytest.raises(RuntimeError, match="broke"):
        await start(trigger([1]))[0]
    assert "failed unexpectedly" in caplog.text


async def test_terminal_uploadings_are_not_asked_for_again(clock):
    fake = FakeMetrika(clock)
    fake.add(1, done_after=0, final="LINKAGE_FAILURE")
    fake.add(2, done_after=100)
    fake.add(3, done_after=100)
    poller = metrika_poller(fake)
    await poller.poll(["1", "2", "3"])
    fake.calls.clear()
    results = await poller.poll(["1", "2", "3"])
    assert results["1"].status == "LINKAGE_FAILURE"
    assert fake.calls == [("list", 5, 1000, 0)]  # for 2 and 3
    fake.calls.clear()
    await poller.poll(["1", "2"])  # only 2 is pending: by id
    assert fake.calls == [("get", 5, "2")]
    await poller.poll(["2"])
    assert "1" not in poller._terminal  # forgotten once nobody awaits it


async def test_a_cancelled_trigger_leaves_and_the_last_one_stops_the_poller(metrika, clock):
    metrika.add(1, done_after=10_000)
    metrika.add(2, done_after=60)
    stay, leave = start(trigger([2]), trigger([1]))
    key = registry_key("metrika_default")
    await asyncio.sleep(0)
    poller = poller_registry().get(key)
    assert len(poller.subscriptions) == 2
    leave.cancel()
    with pytest.raises(asyncio.CancelledError):
        await leave
    assert len(poller.subscriptions) == 1 and poller.running
    assert (await stay).payload["status"] == "success"
    assert ("get", 5, "1") not in metrika.calls[2:]  # not polled for the cancelled wait after it left
    assert not poller.running and poller_registry().get(key) is None and metrika.closed == 1


async def test_closing_the_generator_before_and_after_the_event(metrika):
    metrika.add(1, done_after=0)
    unstarted = trigger([1]).run()
    await unstarted.aclose()
    generator = trigger([1]).run()
    event = await generator.__anext__()
    assert event.payload["status"] == "success"
    await generator.aclose()
    assert len(poller_registry()) == 0 and metrika.closed == 1


async def test_restarted_triggers_register_on_a_fresh_poller(metrika):
    metrika.add(1, done_after=10_000)
    first = trigger([1])
    task = start(first)[0]
    await asyncio.sleep(0)
    old_poller = poller_registry().get(registry_key("metrika_default"))
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert poller_registry().get(old_poller.key) is None
    metrika.done_at["1"] = 0
    rebuilt = MetrikaUploadingTrigger(**first.serialize()[1])
    assert (await start(rebuilt)[0]).payload["status"] == "success"
    assert metrika.hooks_made == 2 and metrika.closed == 2


async def test_pollers_are_per_connection_kind_and_counter(metrika, clock):
    metrika.add(1, done_after=10_000)
    tasks = start(
        trigger([1]),
        trigger([1], counter_id=6),
        trigger([1], kind="calls"),
        trigger([1], metrika_conn_id="other"),
        trigger([1]),
    )
    await asyncio.sleep(0)
    assert len(poller_registry()) == 4
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert len(poller_registry()) == 0 and metrika.closed == 4


async def test_a_slow_waiter_holds_the_next_cycle_until_it_took_its_poll(clock):
    fake = FakeMetrika(clock)
    fake.add(1, done_after=10_000)
    poller = metrika_poller(fake)
    fast = poller.subscribe(["1"], poll_interval=30, max_poll_interval=30)
    slow = poller.subscribe(["1"], poll_interval=30, max_poll_interval=30)
    await fast.next_poll()
    fast_next = asyncio.ensure_future(fast.next_poll())
    for _ in range(5):
        await asyncio.sleep(0)
    assert len(fake.calls) == 1 and not fast_next.done()  # slow has not taken its first poll yet
    assert (await slow.next_poll())[0].status == "MATCHED"
    await slow.next_poll()
    await fast_next
    assert len(fake.calls) == 2
    assert not poller.stopped
    await poller.aclose()
    await poller.aclose()
    assert fake.closed == 1 and poller.stopped and not poller.running
    with pytest.raises(RuntimeError, match="closed"):
        poller.subscribe(["1"], poll_interval=1, max_poll_interval=1)


async def test_an_empty_wait_succeeds_without_requests(metrika):
    event = await start(trigger([]))[0]
    assert event.payload["status"] == "success" and metrika.calls == []


async def test_private_poller_context_closes_its_hook(clock):
    fake = FakeMetrika(clock)
    fake.add(1, done_after=0)
    poller = metrika_poller(fake, use_list=False)
    async with subscribed(poller, ["1"], poll_interval=5, max_poll_interval=5) as subscription:
        assert (await subscription.next_poll())[0].status == "PROCESSED"
    assert not poller.running and fake.closed == 1


def test_key_names_the_connection_never_a_token():
    key = registry_key("metrika_default")
    assert str(key) == "metrika jobs of offline_conversions:5 (connection 'metrika_default')"


async def test_a_waiter_that_leaves_mid_poll_is_not_served_nor_waited_for(clock):
    release = asyncio.Event()

    class SlowList(FakeMetrika):
        async def list_uploadings(self, kind, counter_id, *, limit=None, offset=None):
            await release.wait()
            return await super().list_uploadings(kind, counter_id, limit=limit, offset=offset)

    fake = SlowList(clock)
    fake.add(1, done_after=10_000)
    fake.add(2, done_after=10_000)
    poller = metrika_poller(fake)
    stays = poller.subscribe(["1"], poll_interval=30, max_poll_interval=30)
    leaves = poller.subscribe(["2"], poll_interval=30, max_poll_interval=30)
    taken = asyncio.ensure_future(stays.next_poll())
    await settle()
    assert fake.calls == []  # the list is in flight
    poller.unsubscribe(leaves)
    release.set()
    assert [r.job_id for r in await taken] == ["1"]
    assert leaves._delivered is None
    await stays.next_poll()  # the next cycle came without waiting for the one that left
    assert len(fake.calls) == 2
    await poller.aclose()


async def test_a_poller_left_empty_before_its_first_poll_wakes_for_a_newcomer(clock):
    fake = FakeMetrika(clock)
    fake.add(1, done_after=0)
    poller = metrika_poller(fake)
    poller.unsubscribe(poller.subscribe(["1"], poll_interval=30, max_poll_interval=30))
    await settle()
    assert fake.calls == [] and poller.running  # idle, nobody to poll for
    again = poller.subscribe(["1"], poll_interval=30, max_poll_interval=30)
    assert (await asyncio.wait_for(again.next_poll(), 5))[0].status == "PROCESSED"
    await poller.aclose()


def test_each_event_loop_has_its_own_registry():
    async def registry():
        return poller_registry()

    first, second = asyncio.run(registry()), asyncio.run(registry())
    assert first is not second


@pytest.mark.parametrize("counters", [1, 3])
async def test_polls_for_many_waiters_wake_them_a_batch_per_loop_step(metrika, clock, counters):
    """Thousands of triggers woken in one loop step would block the triggerer for all of their work; the
    batches of several pollers (one per counter here) take turns too."""
    waiters = 3 * poller_module.DELIVERY_BATCH + 7
    for i in range(1, waiters + 1):
        metrika.add(i, done_after=0)
    step = 0
    woken_at_step = []

    async def count_steps():
        nonlocal step
        while True:
            await asyncio.sleep(0)
            step += 1

    async def wait(i):
        event = await trigger([i], counter_id=5 + i % counters).run().__anext__()
        woken_at_step.append(step)
        return event

    counter = asyncio.ensure_future(count_steps())
    events = await asyncio.gather(*(wait(i) for i in range(1, waiters + 1)))
    counter.cancel()
    assert [e.payload["status"] for e in events] == ["success"] * waiters
    per_step = {s: woken_at_step.count(s) for s in set(woken_at_step)}
    assert max(per_step.values()) <= poller_module.DELIVERY_BATCH, per_step
    assert metrika.count("list") == counters


async def test_a_wait_logs_its_statuses_when_they_change_not_at_every_poll(metrika, clock, mocker):
    """Ten thousand waits logging every poll would block the triggerer's loop: a wait logs what changed."""
    metrika.add(1, done_after=100)
    metrika.add(2, done_after=2000)
    log = mocker.patch.object(MetrikaUploadingTrigger, "log", new_callable=mocker.PropertyMock).return_value
    [event] = await payloads(start(trigger([1, 2])))
    assert event["status"] == "success"
    assert len(metrika.calls) > 5  # many polls, two different views of the jobs
    waiting = [call.args for call in log.info.call_args_list if call.args[0].startswith("Waiting")]
    assert [args[-1] for args in waiting] == ["1: MATCHED; 2: MATCHED", "1: PROCESSED; 2: MATCHED"]
    assert waiting[0][1:3] == (30.0, 300.0)  # when the next poll comes, and how far the polls back off


async def test_a_poller_logs_a_summary_of_its_cycles_now_and_then(metrika, clock, caplog):
    metrika.add(1, done_after=4000)
    caplog.set_level(logging.INFO, logger=poller_module.__name__)
    await payloads(start(trigger([1])))
    summaries = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Polled")]
    cycles = len(metrika.calls)
    # polls back off to every 300 s, a summary comes every SUMMARY_INTERVAL (600 s): about every other cycle
    assert 1 < len(summaries) <= cycles // 2 + 1
    assert summaries[0].startswith("Polled metrika jobs of offline_conversions:5 (connection 'metrika_default'): 1 ")


@pytest.mark.parametrize("enabled", [True, False])
def test_the_first_shared_wait_of_a_process_freezes_the_startup_objects_once(monkeypatch, mocker, enabled):
    """A full collection over Airflow's import-time objects alone blocks the triggerer's loop for 0.2 s or more."""
    monkeypatch.setattr(poller_module, "_frozen", False)
    monkeypatch.setattr(poller_module, "FREEZE_GC_AT_FIRST_WAIT", enabled)
    freeze = mocker.patch.object(poller_module.gc, "freeze")

    async def first_wait():
        return poller_registry()

    for _ in range(3):  # three event loops, one process
        asyncio.run(first_wait())
    assert freeze.call_count == (1 if enabled else 0)
