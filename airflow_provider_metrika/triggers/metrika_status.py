"""How Metrika tells the statuses of many uploadings at once: list pages first, then GETs for the rest.

The kernel's shared poller (:mod:`airflow_provider_metrika.jobs.poller`) asks this source for every awaited
uploading of one connection, kind and counter per cycle:

* one LIST page (``limit=page_size``) answers all of them; further pages are read
  (``offset``) only while awaited ids are still missing and the last page was full,
  up to ``max_pages`` (https://yandex.com/dev/metrika/en/management/openapi/offline_conversion/findAllUploadings);
* ids the list did not show are fetched by id (``get_uploading``); so is a lone
  pending id, since one GET costs the same single request as a list page and is smaller.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Protocol

from airflow_provider_metrika.exceptions import MetrikaClientError
from airflow_provider_metrika.hooks.retry import PERMANENT_ERRORS
from airflow_provider_metrika.jobs.poller import PollResult
from airflow_provider_metrika.jobs.record import JobRecord
from airflow_provider_metrika.uploads import Uploading

log = logging.getLogger(__name__)

#: Statuses of a list request that mean "this endpoint cannot list", not "you may not read": fall back to GETs.
LIST_UNSUPPORTED_STATUSES = frozenset({400, 404, 405})

DEFAULT_PAGE_SIZE = 1000
DEFAULT_MAX_PAGES = 5


class UploadingReader(Protocol):
    """What the source needs from a hook (``MetrikaAsyncHook`` has it)."""

    async def get_uploading(self, kind: str, counter_id: int, uploading_id: str) -> Uploading: ...

    async def list_uploadings(
        self, kind: str, counter_id: int, *, limit: int | None = None, offset: int | None = None
    ) -> list[Uploading]: ...

    async def close(self) -> None: ...


class MetrikaStatusSource:
    """The kernel's StatusSource for the uploadings of one kind and counter.

    :param kind: the upload kind
    :param counter_id: the counter
    :param hook_factory: builds the async hook on first use (closed with the source)
    :param use_list: answer with a LIST page first; ``False`` gets every id on its own (the naive way)
    :param page_size: ``limit`` of a list page (default :data:`DEFAULT_PAGE_SIZE`)
    :param max_pages: list pages read per cycle at most, before falling back to GETs
        (default :data:`DEFAULT_MAX_PAGES`)
    """

    def __init__(
        self,
        kind: str,
        counter_id: int,
        hook_factory: Callable[[], UploadingReader],
        *,
        use_list: bool = True,
        page_size: int | None = None,
        max_pages: int | None = None,
    ) -> None:
        self.kind = kind
        self.counter_id = int(counter_id)
        self.use_list = use_list
        self.page_size = int(page_size or DEFAULT_PAGE_SIZE)
        self.max_pages = int(max_pages or DEFAULT_MAX_PAGES)
        self._hook_factory = hook_factory
        self._hook: UploadingReader | None = None
        self.requests = {"list": 0, "get": 0}

    def __str__(self) -> str:
        return f"{self.kind} uploadings of counter {self.counter_id}"

    async def poll(self, ids: Sequence[str]) -> dict[str, PollResult]:
        """Each id's record (or the error that kept us from knowing it), in as few requests as we can."""
        results: dict[str, PollResult] = {}
        if self.use_list and len(ids) > 1:
            try:
                results.update(await self._list(ids))
            except PERMANENT_ERRORS as error:
                if not _list_unsupported(error):
                    return dict.fromkeys(ids, error)
                log.warning("Listing %s is not possible (%s); polling each uploading by id instead", self, error)
                self.use_list = False
        missing = [i for i in ids if i not in results]
        results.update(await self._get_each(missing))
        return results

    async def close(self) -> None:
        hook, self._hook = self._hook, None
        if hook is not None:
            await hook.close()

    def _hook_instance(self) -> UploadingReader:
        if self._hook is None:
            self._hook = self._hook_factory()
        return self._hook

    async def _list(self, pending: Sequence[str]) -> dict[str, JobRecord]:
        """Read list pages until every pending id showed up, a page was short, or ``max_pages`` were read."""
        hook = self._hook_instance()
        wanted = set(pending)
        found: dict[str, JobRecord] = {}
        offset = 0
        for _ in range(self.max_pages):
            self.requests["list"] += 1
            page = await hook.list_uploadings(self.kind, self.counter_id, limit=self.page_size, offset=offset)
            found.update((u.uploading_id, u.to_record()) for u in page if u.uploading_id in wanted)
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
                uploading = await self._hook_instance().get_uploading(self.kind, self.counter_id, uploading_id)
                results[uploading_id] = uploading.to_record()
            except PERMANENT_ERRORS as error:
                results[uploading_id] = error
            except Exception as error:
                results.update(dict.fromkeys(ids[position:], error))
                break
        return results


def _list_unsupported(error: BaseException) -> bool:
    return isinstance(error, MetrikaClientError) and error.status in LIST_UNSUPPORTED_STATUSES
