"""One status poller per (connection, kind, counter), shared by every trigger in the triggerer.

Metrika allows 5,000 requests per user per day and 3 in flight. Hundreds of triggers
each polling their own uploading by id would spend that quota in an afternoon, so the
triggers of one event loop that wait on the same (connection id, kind, counter) share
one :class:`UploadingPoller`. Each poll cycle asks for every awaited uploading at once:

* one LIST page (``limit=page_size``) answers all of them; further pages are read
  (``offset``) only while awaited ids are still missing and the last page was full,
  up to ``max_pages``;
* ids the list did not show are fetched by id (``get_uploading``); so is a lone
  pending id, since one GET costs the same single request as a list page and is smaller;
* terminal uploadings are remembered (Metrika never changes a final status) and not
  asked for again while someone still awaits them.

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
and is never polled for. The poller stops, and closes its hook, when its last
subscriber leaves. Pollers are keyed by connection id, never by token.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import threading
import weakref
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from typing import Any, Protocol

from airflow_provider_metrika.exceptions import MetrikaClientError
from airflow_provider_metrika.hooks.retry import PERMANENT_ERRORS
from airflow_provider_metrika.uploads import Uploading, UploadState

log = logging.getLogger(__name__)

#: Statuses of a list request that mean "this endpoint cannot list", not "you may not read": fall back to GETs.
LIST_UNSUPPORTED_STATUSES = frozenset({400, 404, 405})

DEFAULT_PAGE_SIZE = 1000
DEFAULT_MAX_PAGES = 5
BACKOFF_FACTOR = 1.5


def next_interval(current: float, maximum: float, factor: float = BACKOFF_FACTOR) -> float:
    """Poll less often as a wait gets older, never beyond ``maximum``."""
    return min(maximum, current * factor) if maximum > current else current


async def pause(seconds: float) -> None:
    """The poller's only way to wait between polls (tests replace it, with :func:`monotonic`, by a fake clock)."""
    await asyncio.sleep(seconds)


def monotonic() -> float:
    """The poller's clock: the running loop's time."""
    return asyncio.get_running_loop().time()


class StatusSource(Protocol):
    """What the poller needs from a hook (``MetrikaAsyncHook`` has it)."""

    async def get_uploading(self, kind: str, counter_id: int, uploading_id: str) -> Uploading: ...

    async def list_uploadings(
        self, kind: str, counter_id: int, *, limit: int | None = None, offset: int | None = None
    ) -> list[Uploading]: ...

    async def close(self) -> None: ...


HookFactory = Callable[[], StatusSource]
PollResult = Uploading | BaseException


@dataclasses.dataclass(frozen=True)
class PollerKey:
    """What a poller answers for; the connection id stands in for the token, which is never a key."""

    conn_id: str
    kind: str
    counter_id: int

    def __str__(self) -> str:
        return f"{self.kind} uploadings of counter {self.counter_id} (connection {self.conn_id!r})"


class Subscription:
    """One waiter's place in a poller: its ids, its backoff schedule and its next delivered poll."""

    def __init__(self, poller: UploadingPoller, ids: Sequence[str], poll_interval: float, max_poll_interval: float):
        self.poller = poller
        self.ids = tuple(str(i) for i in ids)
        self.poll_interval = float(poll_interval)
        self.max_poll_interval = float(max_poll_interval)
        #: Seconds this waiter waits after the poll it was just served (its current interval).
        self.wait = 0.0
        self.polls_served = 0
        self.due_at = 0.0
        self._interval = self.poll_interval
        self._delivered: list[Uploading] | BaseException | None = None
        self._future: asyncio.Future[None] | None = None

    async def next_poll(self) -> list[Uploading]:
        """The awaited uploadings (in ``ids`` order) from the next poll that covers them.

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

    def _serve(self, result: list[Uploading] | BaseException, polled_at: float) -> None:
        self._delivered = result
        self.polls_served += 1
        self.wait = self._interval
        self.due_at = polled_at + self._interval
        self._interval = next_interval(self._interval, self.max_poll_interval)
        if self._future is not None and not self._future.done():
            self._future.set_result(None)


class UploadingPoller:
    """Polls the statuses of every uploading its subscriptions await, one cycle for all of them.

    :param key: connection id, kind and counter this poller answers for
    :param hook_factory: builds the hook on first use (closed when the poller stops)
    :param use_list: answer with a LIST page first; ``False`` gets every id on its own (the naive way)
    :param page_size: ``limit`` of a list page (default :data:`DEFAULT_PAGE_SIZE`)
    :param max_pages: list pages read per cycle at most, before falling back to GETs
        (default :data:`DEFAULT_MAX_PAGES`)
    :param clock: seconds on a monotonic clock (default: :func:`monotonic`)
    """

    def __init__(
        self,
        key: PollerKey,
        hook_factory: HookFactory,
        *,
        use_list: bool = True,
        page_size: int | None = None,
        max_pages: int | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.key = key
        self.use_list = use_list
        self.page_size = int(page_size or DEFAULT_PAGE_SIZE)
        self.max_pages = int(max_pages or DEFAULT_MAX_PAGES)
        self._hook_factory = hook_factory
        self._hook: StatusSource | None = None
        self._clock = clock
        self._subscriptions: dict[Subscription, None] = {}  # an ordered set
        self._unacknowledged: set[Subscription] = set()
        self._acknowledged = asyncio.Event()
        self._terminal: dict[str, Uploading] = {}
        self._last_poll_at: float | None = None
        self._wake_at: float | None = None
        self._replan: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._stopped = False
        #: Requests sent, by kind of request ("list", "get"): for logs, tests and benchmarks.
        self.requests = {"list": 0, "get": 0}
        self.cycles = 0

    # -- subscriptions -------------------------------------------------------------------------------

    @property
    def subscriptions(self) -> tuple[Subscription, ...]:
        return tuple(self._subscriptions)

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def stopped(self) -> bool:
        """True once :meth:`aclose` has finished: no task, hook closed."""
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
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"metrika-poller {self.key}")
        elif self._replan is not None and (self._wake_at is None or subscription.due_at < self._wake_at):
            self._wake()
        return subscription

    def unsubscribe(self, subscription: Subscription) -> int:
        """Stop waiting; returns how many subscriptions are left."""
        self._subscriptions.pop(subscription, None)
        self._acknowledge(subscription)
        return len(self._subscriptions)

    async def aclose(self) -> None:
        """Stop polling and close the hook (idempotent)."""
        self._closed = True
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        hook, self._hook = self._hook, None
        if hook is not None:
            await hook.close()
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
        results = await self.poll(_unique(i for s in served for i in s.ids))
        self.cycles += 1
        await self._deliver({s: _result_for(s.ids, results) for s in served}, polled_at)

    async def _deliver(self, deliveries: dict[Subscription, list[Uploading] | BaseException], polled_at: float) -> None:
        """Serve each subscription still here, then wait until each has taken its poll (or left)."""
        served = [s for s in deliveries if s in self._subscriptions]  # someone may have left mid-poll
        self._unacknowledged = set(served)
        self._acknowledged.clear()
        for subscription in served:
            subscription._serve(deliveries[subscription], polled_at)
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
                waits.append(asyncio.ensure_future(pause(delay)))
            try:
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            finally:
                self._replan = None
                for waiting in waits:
                    waiting.cancel()
            sleeper = waits[-1] if delay is not None else None
            if sleeper is not None and sleeper.done() and not sleeper.cancelled():
                self._wake_at = None
                sleeper.result()  # a slept pause means "due" even if the clock did not move (a fake pause)
                return

    # -- one cycle -----------------------------------------------------------------------------------

    async def poll(self, ids: Sequence[str]) -> dict[str, PollResult]:
        """The state of each id (or the error that kept us from knowing it), in as few requests as we can."""
        wanted = set(ids)
        self._terminal = {i: u for i, u in self._terminal.items() if i in wanted}
        results: dict[str, PollResult] = dict(self._terminal)
        pending = [i for i in ids if i not in self._terminal]
        if self.use_list and len(pending) > 1:
            try:
                results.update(await self._list(pending))
            except PERMANENT_ERRORS as error:
                if not _list_unsupported(error):
                    return {**results, **dict.fromkeys(pending, error)}
                log.warning("Listing %s is not possible (%s); polling each uploading by id instead", self.key, error)
                self.use_list = False
            except Exception as error:
                return {**results, **dict.fromkeys(pending, error)}
        missing = [i for i in pending if i not in results]
        results.update(await self._get_each(missing))
        for uploading_id in pending:
            found = results[uploading_id]
            if isinstance(found, Uploading) and found.state is not UploadState.RUNNING:
                self._terminal[uploading_id] = found
        log.debug(
            "Polled %s: %d awaited, %d pending, %d missing from the list; requests so far %s",
            self.key,
            len(ids),
            len(pending),
            len(missing),
            self.requests,
        )
        return results

    def _hook_instance(self) -> StatusSource:
        if self._hook is None:
            self._hook = self._hook_factory()
        return self._hook

    async def _list(self, pending: Sequence[str]) -> dict[str, Uploading]:
        """Read list pages until every pending id showed up, a page was short, or ``max_pages`` were read."""
        hook = self._hook_instance()
        wanted = set(pending)
        found: dict[str, Uploading] = {}
        offset = 0
        for _ in range(self.max_pages):
            self.requests["list"] += 1
            page = await hook.list_uploadings(self.key.kind, self.key.counter_id, limit=self.page_size, offset=offset)
            found.update((u.uploading_id, u) for u in page if u.uploading_id in wanted)
            if len(found) == len(wanted) or len(page) < self.page_size:
                break
            offset += len(page)
        return found

    async def _get_each(self, ids: Sequence[str]) -> dict[str, PollResult]:
        """GET ids one by one; a permanent error is that id's alone, any other stops the cycle for the rest."""
        results: dict[str, PollResult] = {}
        for position, uploading_id in enumerate(ids):
            try:
                self.requests["get"] += 1
                results[uploading_id] = await self._hook_instance().get_uploading(
                    self.key.kind, self.key.counter_id, uploading_id
                )
            except PERMANENT_ERRORS as error:
                results[uploading_id] = error
            except Exception as error:
                results.update(dict.fromkeys(ids[position:], error))
                break
        return results


def _unique(ids: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(ids))


def _result_for(ids: Sequence[str], results: dict[str, PollResult]) -> list[Uploading] | BaseException:
    """A waiter's view of a cycle: its uploadings in order, or the error of the first id that failed."""
    found = [results[i] for i in ids]
    for item in found:
        if isinstance(item, BaseException):
            return item
    return found  # type: ignore[return-value]


def _list_unsupported(error: BaseException) -> bool:
    return isinstance(error, MetrikaClientError) and error.status in LIST_UNSUPPORTED_STATUSES


class PollerRegistry:
    """The shared pollers of one event loop, by key; a poller lives while it has subscribers."""

    def __init__(self) -> None:
        self._pollers: dict[PollerKey, UploadingPoller] = {}

    def get(self, key: PollerKey) -> UploadingPoller | None:
        return self._pollers.get(key)

    @property
    def pollers(self) -> tuple[UploadingPoller, ...]:
        return tuple(self._pollers.values())

    def __len__(self) -> int:
        return len(self._pollers)

    @contextlib.asynccontextmanager
    async def subscription(
        self,
        key: PollerKey,
        ids: Sequence[str],
        *,
        hook_factory: HookFactory,
        poll_interval: float,
        max_poll_interval: float,
        **poller_options: Any,
    ) -> AsyncIterator[Subscription]:
        """Wait on ``ids`` through the key's shared poller (created on demand, stopped after its last waiter)."""
        poller = self._pollers.get(key)
        if poller is None:
            poller = self._pollers[key] = UploadingPoller(key, hook_factory, **poller_options)
        async with subscribed(poller, ids, poll_interval=poll_interval, max_poll_interval=max_poll_interval) as sub:
            try:
                yield sub
            finally:
                if len(poller.subscriptions) <= 1 and self._pollers.get(key) is poller:
                    del self._pollers[key]  # a newcomer from now on gets a fresh poller, not this closing one


@contextlib.asynccontextmanager
async def subscribed(
    poller: UploadingPoller, ids: Sequence[str], *, poll_interval: float, max_poll_interval: float
) -> AsyncIterator[Subscription]:
    """Subscribe for the block; leaving (also by cancellation) unsubscribes and closes an emptied poller."""
    subscription = poller.subscribe(ids, poll_interval=poll_interval, max_poll_interval=max_poll_interval)
    try:
        yield subscription
    finally:
        if poller.unsubscribe(subscription) == 0:
            await asyncio.shield(poller.aclose())


_lock = threading.Lock()
_registries: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, PollerRegistry] = weakref.WeakKeyDictionary()


def poller_registry() -> PollerRegistry:
    """The running event loop's registry (a triggerer runs every trigger on one loop)."""
    loop = asyncio.get_running_loop()
    with _lock:
        registry = _registries.get(loop)
        if registry is None:
            registry = _registries[loop] = PollerRegistry()
        return registry
