"""Deterministic visitor linkage, counted lazily from the spooled file.

A row links when one of its visitor ids is known: ids registered through the control
API always are, ids starting with ``unknown`` never are, any other id is known iff the
first byte of its sha1 is below 230 (about 90 %). Only visitors registered before the
upload count, so the result does not depend on when it is computed.

Counting needs every id hashed, which would slow the upload path; so the upload only
spools the file and the counts are computed (in a worker thread) the first time a
terminal status is asked for.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import hashlib
import logging
import os
from collections.abc import Callable

from airflow_provider_metrika.emulator.rules import LinkageColumns
from airflow_provider_metrika.emulator.store import Store, StoredUploading

log = logging.getLogger(__name__)

KNOWN_SHA1_BYTE_BELOW = 230
ZERO_LINKAGE = {
    "linked_quantity": 0,
    "user_not_found_quantity": 0,
    "goal_not_found_quantity": 0,
    "static_calls_quantity": 0,
    "dynamic_calls_quantity": 0,
}


def is_known_visitor(visitor_id: str, registered: frozenset[str] | set[str] = frozenset()) -> bool:
    if visitor_id in registered:
        return True
    if visitor_id[:7].lower() == "unknown":
        return False
    return hashlib.sha1(visitor_id.encode("utf-8")).digest()[0] < KNOWN_SHA1_BYTE_BELOW


def count_linkage(path: str, columns: LinkageColumns, registered: frozenset[str]) -> dict[str, int]:
    """Read a spooled CSV (header included) and count linked / unlinked / static rows."""
    counts = dict(ZERO_LINKAGE)
    static_index = columns.static_column
    with open(path, encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        if columns.has_header:
            next(reader, None)
        for fields in reader:
            if not fields or (len(fields) == 1 and not fields[0].strip()):
                continue
            if static_index is not None:
                is_static = static_index < len(fields) and fields[static_index].strip() == "1"
                counts["static_calls_quantity" if is_static else "dynamic_calls_quantity"] += 1
                if is_static:
                    continue
            ids = [fields[i] for i in columns.id_columns if i < len(fields) and fields[i]]
            if any(is_known_visitor(visitor_id, registered) for visitor_id in ids):
                counts["linked_quantity"] += 1
            else:
                counts["user_not_found_quantity"] += 1
    return counts


class LinkageBook:
    """Computes each uploading's counts once, off the event loop, and stores them."""

    def __init__(self, store: Store, counter: Callable[..., dict[str, int]] = count_linkage):
        self._store = store
        self._count = counter
        self._pending: dict[int, asyncio.Future[dict[str, int]]] = {}

    def prefetch(self, uploading: StoredUploading) -> None:
        """Start counting without waiting, so a large file is ready by its terminal poll."""
        if uploading.linkage is None:
            self._start(uploading)

    async def ensure(self, uploading: StoredUploading) -> dict[str, int]:
        if uploading.linkage is not None:
            return uploading.linkage
        future = self._start(uploading)
        uploading.linkage = await asyncio.shield(future)
        return uploading.linkage

    def _start(self, uploading: StoredUploading) -> asyncio.Future[dict[str, int]]:
        future = self._pending.get(uploading.id)
        if future is None:
            future = asyncio.ensure_future(self._compute(uploading))
            future.add_done_callback(lambda _: self._pending.pop(uploading.id, None))
            self._pending[uploading.id] = future
        return future

    async def _compute(self, uploading: StoredUploading) -> dict[str, int]:
        spool = uploading.spool
        if spool is None or not os.path.exists(spool):
            log.warning("uploading %s has no spooled file; counting it as not linked", uploading.id)
            linkage = dict(ZERO_LINKAGE)
        else:
            columns = LinkageColumns.from_json(uploading.attrs["linkage_columns"])
            registered = self._store.visitors_up_to(uploading.visitor_seq)
            loop = asyncio.get_running_loop()
            try:
                linkage = await loop.run_in_executor(None, self._count, spool, columns, registered)
            except (OSError, ValueError, csv.Error):
                log.exception("could not count linkage of uploading %s; counting it as not linked", uploading.id)
                linkage = dict(ZERO_LINKAGE)
        self._store.set_linkage(uploading.id, linkage)
        if spool is not None:
            remove_quietly(spool)
        return linkage


def remove_quietly(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.remove(path)
