"""One status poller per (connection, vendor, scope), shared by every wait of the triggerer.

Import APIs ration their status reads (Metrika: 5,000 requests per user per day, 3 in flight; Commerce Layer
and Fleetio: requests per minute). Hundreds of triggers each polling their own job would spend that quota in
an afternoon, so the triggers of one event loop that wait on the same :class:`PollerKey` share one
:class:`JobPoller`. Each poll cycle asks the vendor's :class:`StatusSource` for every awaited job at once
(the source decides how: list pages, a filter on ids, GETs); terminal jobs are remembered (a vendor never
changes a final status) and not asked for again while someone still awaits them.

Cadence: every subscription carries its own backoff schedule, the one a lone trigger
always had: after the k-th poll it is served, it wants the next one within
``min(max_poll_interval, poll_interval * 1.5**k)`` seconds. The poller polls as soon as
the earliest subscription is due, and each poll serves every subscription, so the
cadence follows the youngest wait (the one that has seen the fewest polls) and nobody
waits longer than its own interval. A new subscription is due ``poll_interval`` after
the poller's last poll (immediately if that is already past, or if the poller is new),
so triggers that defer in a burst share one poll instead of each forcing its own.

A subscriber consumes each delivered poll (:meth:`Subscription.next_poll`) before the
poller starts the next one, so a trigger that finished has left before the next cycle
and is never polled for. The poller stops, and closes its source, when its last
subscriber leaves. Pollers are keyed by connection id, never by a token.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import logging
import threading
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol

from airflow_provider_metrika.jobs.record import JobRecord

log = logging.getLogger(__name__)

BACKOFF_FACTOR = 1.5
#: Waiters woken per event-loop step when polls are delivered, by all the loop's pollers together: thousands of
#: triggers woken at once would all run in one step of the loop and stall the triggerer for as long as they take.
DELIVERY_BATCH = 50
#: Seconds between a poller's summary lines in the triggerer's log (each wait logs only its own status changes).
SUMMARY_INTERVAL = 600.0


def next_interval(current: float, maximum: float, factor: float = BACKOFF_FACTOR) -> float:
    """Poll less often as a wait gets older, never beyond ``maximum``."""
    return min(maximum, current * factor) if maximum > current else current


async def sleep(seconds: float) -> None:
    """The poller's only way to wait between polls (tests replace it, with :func:`monotonic`, by a fake clock)."""
    await asyncio.sleep(seconds)


def monotonic() -> float:
    """The poller's clock: the running loop's time."""
    return asyncio.get_running_loop().time()


PollResult = JobRecord | BaseException


class StatusSource(Protocol):
    """A vendor's way to learn the statuses of a set of its jobs, in as few requests as its API allows."""

    #: Requests sent, by kind of request (e.g. ``"list"``, ``"get"``): for logs, tests and benchmarks.
    requests: dict[str, int]

    async def poll(self, ids: Sequence[str]) -> Mapping[str, PollResult]:
        """Each id's record, or the error that kept the source from knowing it (every id answered)."""
        ...

    async def close(self) -> None: ...


SourceFactory = Callable[[], StatusSource]


@dataclasses.dataclass(frozen=True)
class PollerKey:
    """What a poller answers for; the connection id stands in for the credential, which is never a key."""

    conn_id: str
    vendor: str
    scope: str

    def __str__(self) -> str:
        return f"{self.vendor} jobs of {self.scope} (connection {self.conn_id!r})"


class Subscription:
    """One waiter's place in a poller: its ids, its backoff schedule and its next delivered poll."""

    __slots__ = (
        "_delivered",
        "_future",
        "_interval",
        "due_at",
        "ids",
        "max_poll_interval",
        "poll_interval",
        "poller",
        "polls_served",
        "wait",
    )

    def __init__(self, poller: JobPoller, ids: Sequence[str], poll_interval: float, max_poll_interval: float):
        self.poller = poller
        self.ids = tuple(str(i) for i in ids)
        self.poll_interval = float(poll_interval)
        self.max_poll_interval = float(max_poll_interval)
        #: Seconds this waiter waits after the poll it was just served (its current interval).
        self.wait = 0.0
        self.polls_served = 0
        self.due_at = 0.0
        self._interval = self.poll_interval
        self._delivered: list[JobRecord] | BaseException | None = None
        self._future: asyncio.Future[None] | None = None

    async def next_poll(self) -> list[JobRecord]:
        """The awaited jobs (in ``ids`` order) from the next poll that covers them.

        Raises that poll's error instead when it failed for any of these ids. Calling it
        again tells the poller this waiter has dealt with the previous poll: the poller
        starts no new cycle before every waiter it served has done so or left.
        """
        if self._delivered is None:  # taking a poll only after the previous one was dealt with
            self.poller._acknowledge(self)
            self._future = asyncio.get_running_loop().create_future()
            try:
                await self._future
            finally:
                self._future = None
        result, self._delivered = self._delivered, None
        if isinstance(result, BaseException):
            raise result.with_traceback(None)
        assert result is not None
        return result

    def _serve(self, result: list[JobRecord] | BaseException, polled_at: float) -> None:
        self._delivered = result
        self.polls_served += 1
        self.wait = self._interval
        self.due_at = polled_at + self._interval
        self._interval = next_interval(self._interval, self.max_poll_interval)
        if self._future is not None and not self._future.done():
            self._future.set_result(None)


class JobPoller:
    """Polls the statuses of every job its subscriptions await, one cycle for all of them.

    :param key: connection, vendor and scope this poller answers for
    :param source_factory: builds the vendor's :class:`StatusSource` on first use (closed when the poller stops)
    :param clock: seconds on a monotonic clock (default: :func:`monotonic`)
    """

    def __init__(self, key: PollerKey, source_factory: SourceFactory, *, clock: Callable[[], float] | None = None):
        self.key = key
        self._source_factory = source_factory
        self._source: StatusSource | None = None
        self._clock = clock
        self._subscriptions: dict[Subscription, None] = {}  # an ordered set
        self._unacknowledged: set[Subscription] = set()
        self._acknowledged = asyncio.Event()
        self._terminal: dict[str, JobRecord] = {}
        self._last_poll_at: float | None = None
        self._wake_at: float | None = None
        self._replan: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._stopped = False
        self._source_closed = False
        self.cycles = 0
        self._summarized_at: float | None = None

    @property
    def requests(self) -> dict[str, int]:
        """Requests the source sent, by kind of request (empty before the first poll)."""
        return dict(self._source.requests) if self._source is not None else {}

    # -- subscriptions -------------------------------------------------------------------------------

    @property
    def subscriptions(self) -> tuple[Subscription, ...]:
        return tuple(self._subscriptions)

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def stopped(self) -> bool:
        """True once :meth:`aclose` has finished: no task, source closed."""
        return self._stopped

    def subscribe(self, ids: Sequence[str], *, poll_interval: float, max_poll_interval: float) -> Subscription:
        """Start waiting on ``ids``; the first poll comes within ``poll_interval`` (at once on a new poller)."""
        if self._closed:
            raise RuntimeError(f"the poller of {self.key} is closed")
        subscription = Subscription(self, ids, poll_interval, max_poll_interval)
        last = self._last_poll_at
        subscription.due_at = self._now() if last is None else last + subscription.poll_interval
        self._subscriptions[subscription] = None
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"job-poller {self.key}")
        elif self._replan is not None and (self._wake_at is None or subscription.due_at < self._wake_at):
            self._wake()
        return subscription

    def unsubscribe(self, subscription: Subscription) -> int:
        """Stop waiting; returns how many subscriptions are left."""
        self._subscriptions.pop(subscription, None)
        self._acknowledge(subscription)
        return len(self._subscriptions)

    async def aclose(self) -> None:
        """Stop polling and close the source (idempotent)."""
        self._closed = True
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        source = self._source
        if source is not None and not self._source_closed:
            self._source_closed = True
            await source.close()
        self._stopped = True

    def _acknowledge(self, subscription: Subscription) -> None:
        self._unacknowledged.discard(subscription)
        if not self._unacknowledged:
            self._acknowledged.set()

    # -- the loop ------------------------------------------------------------------------------------

    def _now(self) -> float:
        return self._clock() if self._clock is not None else monotonic()

    def _wake(self) -> None:
        if self._replan is not None and not self._replan.done():
            self._replan.set_result(None)

    async def _run(self) -> None:
        while True:
            try:
                await self._until_due()
                await self._cycle()
            except Exception as error:  # a bug must not leave waiters hanging: they get it like a failed poll
                log.exception("Polling %s failed unexpectedly", self.key)
                await self._deliver(dict.fromkeys(self._subscriptions, error), self._now())

    async def _cycle(self) -> None:
        """Poll for everyone subscribed now and hand each their part."""
        served = list(self._subscriptions)
        polled_at = self._last_poll_at = self._now()
        ids = _unique(i for s in served for i in s.ids)
        results = await self.poll(ids)
        self.cycles += 1
        if self._summarized_at is None or polled_at - self._summarized_at >= SUMMARY_INTERVAL:
            self._summarized_at = polled_at
            log.info(
                "Polled %s: %d waits on %d jobs, %d of them not finished; %d poll cycles, requests so far %s",
                self.key,
                len(served),
                len(ids),
                len(ids) - len(self._terminal),
                self.cycles,
                self.requests,
            )
        await self._deliver({s: _result_for(s.ids, results) for s in served}, polled_at)

    async def _deliver(self, deliveries: dict[Subscription, list[JobRecord] | BaseException], polled_at: float) -> None:
        """Serve each subscription still here, then wait until each has taken its poll (or left)."""
        served = [s for s in deliveries if s in self._subscriptions]  # someone may have left mid-poll
        self._unacknowledged = set(served)
        self._acknowledged.clear()
        turn = poller_registry().delivering
        for start in range(0, len(served), DELIVERY_BATCH):
            async with turn:  # one batch at a time in the whole loop, whichever poller it is from
                for subscription in served[start : start + DELIVERY_BATCH]:
                    if subscription in self._subscriptions:
                        subscription._serve(deliveries[subscription], polled_at)
                await asyncio.sleep(0)  # the woken waiters run in the next loop step, before the next batch
        if self._unacknowledged:
            await self._acknowledged.wait()

    async def _until_due(self) -> None:
        """Wait until the earliest subscription is due; a newcomer that is due sooner shortens the wait."""
        while True:
            self._wake_at = min((s.due_at for s in self._subscriptions), default=None)
            delay = None if self._wake_at is None else self._wake_at - self._now()
            if delay is not None and delay <= 0:
                self._wake_at = None
                return
            self._replan = asyncio.get_running_loop().create_future()
            waits: list[asyncio.Future[Any]] = [self._replan]
            if delay is not None:
                waits.append(asyncio.ensure_future(sleep(delay)))
            try:
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            finally:
                self._replan = None
                for waiting in waits:
                    waiting.cancel()
            sleeper = waits[-1] if delay is not None else None
            if sleeper is not None and sleeper.done() and not sleeper.cancelled():
                self._wake_at = None
                sleeper.result()  # a slept pause means "due" even if the clock did not move (a fake sleep)
                return

    # -- one cycle -----------------------------------------------------------------------------------

    async def poll(self, ids: Sequence[str]) -> dict[str, PollResult]:
        """The state of each id (or the error that kept us from knowing it); terminal jobs are not asked again."""
        wanted = set(ids)
        self._terminal = {i: r for i, r in self._terminal.items() if i in wanted}
        results: dict[str, PollResult] = dict(self._terminal)
        pending = [i for i in ids if i not in self._terminal]
        if pending:
            try:
                answered: Mapping[str, PollResult] = await self._source_instance().poll(pending)
            except Exception as error:  # the whole cycle failed: every pending id gets the error
                answered = dict.fromkeys(pending, error)
            for job_id in pending:
                found = answered.get(job_id)
                if found is None:
                    found = LookupError(f"{self.key}: the status source did not answer for job {job_id}")
                results[job_id] = found
                if isinstance(found, JobRecord) and found.state.terminal:
                    self._terminal[job_id] = found
        return results

    def _source_instance(self) -> StatusSource:
        if self._source is None:
            self._source = self._source_factory()
        return self._source


def _unique(ids: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(ids))


def _result_for(ids: Sequence[str], results: dict[str, PollResult]) -> list[JobRecord] | BaseException:
    """A waiter's view of a cycle: its jobs in order, or the error of the first id that failed."""
    found = [results[i] for i in ids]
    for item in found:
        if isinstance(item, BaseException):
            return item
    return found  # type: ignore[return-value]


class PollerRegistry:
    """The shared pollers of one event loop, by key; a poller lives while it has subscribers."""

    def __init__(self) -> None:
        self._pollers: dict[PollerKey, JobPoller] = {}
        #: Held while a poller wakes a batch of its waiters and they run (see :data:`DELIVERY_BATCH`).
        self.delivering = asyncio.Lock()

    def get(self, key: PollerKey) -> JobPoller | None:
        return self._pollers.get(key)

    @property
    def pollers(self) -> tuple[JobPoller, ...]:
        return tuple(self._pollers.values())

    def __len__(self) -> int:
        return len(self._pollers)

    def subscription(
        self,
        key: PollerKey,
        ids: Sequence[str],
        *,
        source_factory: SourceFactory,
        poll_interval: float,
        max_poll_interval: float,
    ) -> Subscribed:
        """Wait on ``ids`` through the key's shared poller (created on demand, stopped after its last waiter)."""
        return Subscribed(
            (self, key, source_factory), ids, poll_interval=poll_interval, max_poll_interval=max_poll_interval
        )

    def join(self, key: PollerKey, source_factory: SourceFactory) -> JobPoller:
        poller = self._pollers.get(key)
        if poller is None:
            poller = self._pollers[key] = JobPoller(key, source_factory)
        return poller

    def leave(self, key: PollerKey, poller: JobPoller) -> None:
        if len(poller._subscriptions) <= 1 and self._pollers.get(key) is poller:
            del self._pollers[key]  # a newcomer from now on gets a fresh poller, not this closing one


class Subscribed:
    """``async with``: a subscription for the block; leaving (also by cancellation) unsubscribes and closes an
    emptied poller. A class, not a generator: a triggerer holds one per wait, ten thousand at a time."""

    __slots__ = ("_ids", "_intervals", "_poller", "_shared", "_subscription")

    def __init__(
        self,
        poller: JobPoller | tuple[PollerRegistry, PollerKey, SourceFactory],
        ids: Sequence[str],
        *,
        poll_interval: float,
        max_poll_interval: float,
    ) -> None:
        self._shared = poller if isinstance(poller, tuple) else None  # a registry's poller, joined on entry
        self._poller = None if isinstance(poller, tuple) else poller
        self._ids = ids
        self._intervals = (poll_interval, max_poll_interval)
        self._subscription: Subscription | None = None

    async def __aenter__(self) -> Subscription:
        if self._shared is not None:
            registry, key, source_factory = self._shared
            self._poller = registry.join(key, source_factory)
        assert self._poller is not None
        first, most = self._intervals
        self._subscription = self._poller.subscribe(self._ids, poll_interval=first, max_poll_interval=most)
        return self._subscription

    async def __aexit__(self, *exc_info: object) -> None:
        poller, subscription = self._poller, self._subscription
        assert poller is not None and subscription is not None
        if self._shared is not None:
            registry, key, _factory = self._shared
            registry.leave(key, poller)
        if poller.unsubscribe(subscription) == 0:
            await asyncio.shield(poller.aclose())


def subscribed(poller: JobPoller, ids: Sequence[str], *, poll_interval: float, max_poll_interval: float) -> Subscribed:
    """Subscribe to ``poller`` for an ``async with`` block (see :class:`Subscribed`)."""
    return Subscribed(poller, ids, poll_interval=poll_interval, max_poll_interval=max_poll_interval)


_lock = threading.Lock()
_registries: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, PollerRegistry] = weakref.WeakKeyDictionary()

#: Freeze the garbage collector's view of the process at its first shared wait (see :func:`freeze_startup_objects`);
#: ``False`` (e.g. set from ``airflow_local_settings.py``) leaves the collector alone.
FREEZE_GC_AT_FIRST_WAIT = True
_frozen = False


def freeze_startup_objects() -> None:
    """Move every object alive now (Airflow's and the provider's modules, mostly) out of the collector's reach.

    A full collection walks every tracked object: in a triggerer that is about 170,000 objects from the imports
    alone, 0.2 s or more of a blocked event loop each time, repeated as waits pile up. Those objects live as long
    as the process, so walking them finds nothing; Airflow freezes the same way in its DAG processor and
    LocalExecutor (https://docs.python.org/3/library/gc.html#gc.freeze). Done once per process; objects that
    were alive (or cyclic garbage) then and become cyclic garbage later are not freed; refcounting still frees
    the rest, and the collector still covers everything made afterwards (the waits themselves).
    """
    global _frozen
    if FREEZE_GC_AT_FIRST_WAIT and not _frozen:
        _frozen = True
        gc.freeze()  # no collection first: that would be the very stall this avoids


def poller_registry() -> PollerRegistry:
    """The running event loop's registry (a triggerer runs every trigger on one loop)."""
    loop = asyncio.get_running_loop()
    with _lock:
        registry = _registries.get(loop)
        if registry is None:
            registry = _registries[loop] = PollerRegistry()
            freeze_startup_objects()
        return registry
