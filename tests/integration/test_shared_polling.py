"""Many uploading triggers in one event loop against the real emulator over loopback.

Time is simulated: every poller pause lands on one virtual timeline, and the driver
moves the emulator's (frozen) clock forward by exactly that much once every poller is
pausing, so nothing sleeps and the request counts are exact. Each counter is reached
through its own connection and token, which lets the emulator's request statistics
(kept per token hash) be read per counter.
"""

import asyncio
import hashlib
import heapq
import itertools
import json
import time

import pytest
import requests

from airflow_provider_metrika.emulator.testing import TEST_TOKEN
from airflow_provider_metrika.hooks.metrika_async import MetrikaAsyncHook
from airflow_provider_metrika.jobs import poller as poller_module
from airflow_provider_metrika.jobs.poller import poller_registry
from airflow_provider_metrika.triggers import metrika_status
from airflow_provider_metrika.triggers.uploading import MetrikaUploadingTrigger

pytestmark = pytest.mark.integration

KIND = "offline_conversions"
STAGE_SECONDS = 600  # an uploading is terminal 4 stages (40 emulator minutes) after its creation
LIST_ROUTE = "/management/v1/counter/{counter_id}/offline_conversions/uploadings"
GET_ROUTE = "/management/v1/counter/{counter_id}/offline_conversions/uploading/{uploading_id}"
COUNTERS = {"metrika_default": (12345, TEST_TOKEN), "metrika_second": (777, "second-counter-token-42")}


class VirtualTime:
    """One timeline for every poller pause, mapped onto the emulator clock."""

    def __init__(self, emulator):
        self.emulator = emulator
        self.now = 0.0
        self._sleepers = []
        self._order = itertools.count()
        self._changed = asyncio.Event()
        self.pollers = {}

    def monotonic(self):
        return self.now

    async def pause(self, seconds):
        future = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + seconds, next(self._order), future))
        self._changed.set()
        await future

    async def run(self, tasks):
        """Drive the tasks to the end, moving the clock only when nothing else can happen before it moves.

        That is: every trigger task is either done or subscribed (none is between polls, leaving,
        or not yet started), and every poller not yet stopped is pausing.
        """
        tasks = list(tasks)
        while not all(task.done() for task in tasks):
            self._changed.clear()
            self.pollers.update({id(p): p for p in poller_registry().pollers})
            live = [p for p in self.pollers.values() if not p.stopped]  # a closing poller is still busy
            sleeping = [s for s in self._sleepers if not s[2].done()]
            subscribed = sum(len(p.subscriptions) for p in poller_registry().pollers)
            settled = subscribed + sum(task.done() for task in tasks) == len(tasks)
            if settled and live and len(sleeping) == len(live):
                self._advance_to(min(s[0] for s in sleeping))
                continue
            waiting_for = asyncio.ensure_future(self._changed.wait())
            await asyncio.wait({waiting_for, *(t for t in tasks if not t.done())}, return_when=asyncio.FIRST_COMPLETED)
            waiting_for.cancel()

    def _advance_to(self, moment):
        self.emulator.advance(moment - self.now)
        self.now = moment
        while self._sleepers and self._sleepers[0][0] <= moment:
            _, _, future = heapq.heappop(self._sleepers)
            if not future.done():
                future.set_result(None)


@pytest.fixture
def virtual_time(emulator, monkeypatch):
    timeline = VirtualTime(emulator)
    monkeypatch.setattr(poller_module, "sleep", timeline.pause)
    monkeypatch.setattr(poller_module, "monotonic", timeline.monotonic)
    return timeline


@pytest.fixture
def connections(emulator, emulator_process, metrika_conn, monkeypatch):
    emulator.configure(stage_seconds=STAGE_SECONDS)
    second = {"conn_type": "yandex_metrika", "host": emulator_process.url, "password": COUNTERS["metrika_second"][1]}
    monkeypatch.setenv("AIRFLOW_CONN_METRIKA_SECOND", json.dumps(second))
    return emulator_process.url


def upload(base_url, conn_id, client_ids):
    counter_id, token = COUNTERS[conn_id]
    stamp = int(time.time()) - 3600
    rows = "".join(f"{client_id},paid,{stamp}\n" for client_id in client_ids)
    response = requests.post(
        f"{base_url}/management/v1/counter/{counter_id}/offline_conversions/upload",
        params={"comment": "sharedpollingtest"},
        headers={"Authorization": f"OAuth {token}"},
        files={"file": ("data.csv", "ClientId,Target,DateTime\n" + rows, "text/csv")},
        timeout=30,
    )
    response.raise_for_status()
    return str(response.json()["uploading"]["id"])


def create(emulator, base_url, conn_id, count, spacing=0.0, client_id="100"):
    """``count`` uploadings, ``spacing`` emulator seconds apart; their ids and creation times."""
    created = []
    for _ in range(count):
        created.append((upload(base_url, conn_id, [client_id]), emulator.now()))
        if spacing:
            emulator.advance(spacing)
    return created


def make_trigger(conn_id, ids, **kwargs):
    params = dict(
        kind=KIND,
        counter_id=COUNTERS[conn_id][0],
        uploading_ids=ids,
        metrika_conn_id=conn_id,
        poll_interval=30,
        max_poll_interval=300,
        max_consecutive_failures=3,
    )
    params.update(kwargs)
    return MetrikaUploadingTrigger(**params)


def start(trigger, fired=None, timeline=None):
    """The trigger's first event as a task (run as the triggerer would); ``fired`` gets its virtual time."""

    async def first_event():
        event = await trigger.run().__anext__()
        if fired is not None:
            fired[tuple(trigger.uploading_ids)] = timeline.now
        return event.payload

    return asyncio.ensure_future(first_event())


def requests_by_route(emulator, conn_id):
    token_hash = hashlib.sha256(COUNTERS[conn_id][1].encode()).hexdigest()
    counts = {LIST_ROUTE: 0, GET_ROUTE: 0}
    for row in emulator.request_stats()["requests"]:
        if row["token_hash"] == token_hash and row["route"] in counts:
            counts[row["route"]] += row["count"]
    return counts[LIST_ROUTE], counts[GET_ROUTE]


@pytest.fixture
def no_hook_retries(monkeypatch):
    """Errors reach the triggers at once (the hook's own retries would sleep in real time)."""
    monkeypatch.setattr(
        MetrikaUploadingTrigger, "_hook", lambda self: MetrikaAsyncHook(self.metrika_conn_id, max_retries=0)
    )


async def test_one_status_request_per_counter_per_cycle(emulator, connections, virtual_time, caplog):
    emulator.add_visitors(["100"])
    created = {
        "metrika_default": create(emulator, connections, "metrika_default", 12, spacing=90),
        "metrika_second": create(emulator, connections, "metrika_second", 8, spacing=110),
    }
    origin = emulator.now()  # virtual time 0
    fired = {}
    triggers = [make_trigger(conn, [uid]) for conn, items in created.items() for uid, _ in items]
    tasks = [start(t, fired, virtual_time) for t in triggers]
    with caplog.at_level("DEBUG"):
        await virtual_time.run(tasks)
    assert [t.result()["status"] for t in tasks] == ["success"] * len(triggers)
    assert len(virtual_time.pollers) == 2 and len(poller_registry()) == 0

    for poller in virtual_time.pollers.values():
        lists, gets = requests_by_route(emulator, poller.key.conn_id)
        assert (lists, gets) == (poller.requests["list"], poller.requests["get"])
        assert lists <= poller.cycles  # at most one list page per cycle ...
        assert lists + gets == poller.cycles  # ... and one status request per cycle in all (a lone id: by id)
        per_id = len(created[poller.key.conn_id])
        assert lists + gets < per_id * 4  # polling each id on its own would cost ids x cycles

    for items in created.values():
        for uid, created_at in items:
            finished = created_at + 4 * STAGE_SECONDS - origin
            assert finished > 0  # each one finished while its trigger waited
            late = fired[(uid,)] - finished
            assert 0 <= late <= 300, (uid, late)  # within one (the longest) poll interval
    assert TEST_TOKEN not in caplog.text and COUNTERS["metrika_second"][1] not in caplog.text


async def test_ids_missing_from_the_list_are_got_by_id(emulator, connections, virtual_time, monkeypatch, mocker):
    monkeypatch.setattr(metrika_status, "DEFAULT_PAGE_SIZE", 3)
    monkeypatch.setattr(metrika_status, "DEFAULT_MAX_PAGES", 1)
    emulator.add_visitors(["100"])
    ids = [uid for uid, _ in create(emulator, connections, "metrika_default", 8)]
    oldest, newest = ids[:2], ids[-2:]  # the list is newest first: a 3-row page shows only the newest
    spy = mocker.spy(MetrikaAsyncHook, "get_uploading")
    task = start(make_trigger("metrika_default", oldest + newest))
    await virtual_time.run([task])
    assert task.result()["status"] == "success"
    (poller,) = virtual_time.pollers.values()
    lists, gets = requests_by_route(emulator, "metrika_default")
    assert lists == poller.cycles and gets == 2 * poller.cycles
    assert {call.args[3] for call in spy.call_args_list} == set(oldest)


async def test_wrong_id_fails_its_trigger_at_once_and_the_others_keep_waiting(
    emulator, connections, virtual_time, no_hook_retries
):
    emulator.add_visitors(["100"])
    ids = [uid for uid, _ in create(emulator, connections, "metrika_default", 3)]
    other_counter = create(emulator, connections, "metrika_second", 1)[0][0]
    good = start(make_trigger("metrika_default", ids[:2]))
    wrong = start(make_trigger("metrika_default", [ids[2], other_counter]))
    await virtual_time.run([good, wrong])
    assert wrong.result()["status"] == "error" and "not_found" in wrong.result()["message"]
    assert good.result()["status"] == "success"
    _, gets = requests_by_route(emulator, "metrika_default")
    assert gets == 1  # only for the id the list could not show


async def test_linkage_failure_and_failure_budgets_stay_per_trigger(
    emulator, connections, virtual_time, no_hook_retries
):
    emulator.add_visitors(["100"])
    linked = [uid for uid, _ in create(emulator, connections, "metrika_default", 2)]
    unlinked = [uid for uid, _ in create(emulator, connections, "metrika_default", 1, client_id="unknown-1")]
    emulator.inject_fault(
        method="GET",
        path="offline_conversions/uploadings",
        action="status",
        status=503,
        error_type="backend_error",
        times=2,
    )
    tasks = [
        start(make_trigger("metrika_default", linked, max_consecutive_failures=3)),
        start(make_trigger("metrika_default", linked + unlinked, max_consecutive_failures=3)),
        start(make_trigger("metrika_default", list(reversed(linked)), max_consecutive_failures=2)),
    ]
    await virtual_time.run(tasks)
    patient, failed, impatient = (t.result() for t in tasks)
    assert patient["status"] == "success"
    assert failed["status"] == "error" and "LINKAGE_FAILURE" in failed["message"]
    assert impatient["status"] == "error" and "2 consecutive failed polls" in impatient["message"]
    assert "backend_error" in impatient["message"]
