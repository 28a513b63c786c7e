"""FleetioImportWatchTrigger (Airflow 3.x only): schedule a DAG on "an import of this type completed".

An event trigger for an ``AssetWatcher``
(https://airflow.apache.org/docs/apache-airflow/stable/authoring-and-scheduling/event-scheduling.html):
it watches one Fleetio account and fires one event per import of ``import_type`` that reaches one of
``statuses`` (``complete`` by default), with the import's id, status, file name and times.

Sharing: every watch trigger on the same connection (and poll interval) in a triggerer shares one
List Imports poll through Airflow 3.3's shared streams (``shared_stream_key`` /
``open_shared_stream`` / ``filter_shared_stream`` of ``BaseEventTrigger``); each trigger filters the
shared stream for its own type and statuses. The kernel's job poller is not used here: it answers
"what are the statuses of these ids", a watch asks "which imports ended since then", and Airflow's
shared stream is built for the latter (and fans one poll out to watchers of several DAGs).

The watermark (the last import this watch fired for) is kept in the asset state store that Airflow
3.3 injects into an event trigger that watches assets (``asset_state_store``, AIP-103), under
``fleetio_watermark``, so a restarted triggerer neither fires again for imports it already reported
nor skips those that ended meanwhile. Limits: without a state store (Airflow < 3.3, or a trigger
watching several assets) the watermark lives in memory and a restart fires only for imports that end
after it; a shared stream starts ``lookback`` seconds back (one day by default), so imports that ended
while no triggerer ran for longer than that are not reported; the first start fires for nothing that
had already ended (it sets the watermark). The watermark is stored right after the triggerer takes
each event: a triggerer killed in between fires that one import again (at least once, never lost).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any

from airflow_provider_metrika.exceptions import MetrikaConfigError
from airflow_provider_metrika.fleetio import api
from airflow_provider_metrika.fleetio.hooks_async import FleetioAsyncHook
from airflow_provider_metrika.jobs import poller
from airflow_provider_metrika.parameters import check_seconds
from airflow_provider_metrika.version_compat import TriggerEvent

try:  # Airflow 3: event triggers for AssetWatcher
    from airflow.triggers.base import BaseEventTrigger
except ImportError:  # pragma: no cover - Airflow 2.11 has no event-driven scheduling
    BaseEventTrigger = None  # type: ignore[assignment,misc]

WATERMARK_KEY = "fleetio_watermark"
DEFAULT_LOOKBACK = 24 * 60 * 60.0
#: The share of an API key's requests a watcher may spend (at 20 a minute: one poll every 12 s at most).
WATCH_SHARE = 0.25

log = logging.getLogger(__name__)


def watermark_after(watermark: Mapping[str, Any] | None, record: Mapping[str, Any]) -> bool:
    """Whether ``record`` ended after ``watermark`` (``{"updated_at", "ids"}``: ties broken by the ids seen)."""
    if not watermark or watermark.get("updated_at") is None:
        return True
    updated = _instant(record.get("updated_at"))
    mark = _instant(watermark.get("updated_at"))
    if updated is None or mark is None:
        return False
    return updated > mark or (updated == mark and record.get("id") not in (watermark.get("ids") or []))


def advance(watermark: Mapping[str, Any] | None, records: Iterable[Mapping[str, Any]]) -> dict[str, Any] | None:
    """The watermark after ``records`` (the latest ``updated_at`` and the ids seen at that instant)."""
    current = dict(watermark) if watermark else None
    for record in records:
        updated = _instant(record.get("updated_at"))
        if updated is None:
            continue
        mark = _instant(current.get("updated_at")) if current else None
        if mark is None or updated > mark:
            current = {"updated_at": record["updated_at"], "ids": [record.get("id")]}
        elif updated == mark and record.get("id") not in current["ids"]:  # type: ignore[index]
            current["ids"].append(record.get("id"))  # type: ignore[index]
    return current


def _instant(text: Any) -> dt.datetime | None:
    if not isinstance(text, str):
        return None
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def watch_interval(poll_interval: float, requests_per_minute: int) -> float:
    """A watcher's seconds between polls: as asked, but spending at most :data:`WATCH_SHARE` of the key's budget.

    Every process using the API key (the triggerers' sensors, a worker's poke) shares Fleetio's rate limit
    (https://developer.fleetio.com/docs/overview/rate-limiting); a watcher polling faster than its share would
    leave them 429s (the client-side pacing only governs its own process).
    """
    return max(float(poll_interval), 60.0 / (requests_per_minute * WATCH_SHARE))


async def ended_imports(
    conn_id: str, *, poll_interval: float, lookback: float, now: dt.datetime | None = None
) -> AsyncIterator[list[dict[str, Any]]]:
    """Forever: each poll's imports that reached a terminal status since the last poll (oldest first).

    One List Imports walk a poll: ``filter[status][include]`` = the terminal statuses,
    ``filter[updated_at][gte]`` = the latest ``updated_at`` seen (ties come again; watchers drop them),
    ``sort[updated_at]=asc``.
    """
    since = (now or dt.datetime.now(dt.UTC)) - dt.timedelta(seconds=lookback)
    cursor = since.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    async with FleetioAsyncHook(conn_id) as hook:
        interval = watch_interval(poll_interval, (await hook.settings()).requests_per_minute)
        if interval > poll_interval:
            log.warning(
                "Watching %s's imports every %.0f s, not every %g s: a watcher spends at most %d%% of the API key's "
                "requests_per_minute, the rest is for the sensors and other processes on the same key",
                conn_id,
                interval,
                poll_interval,
                WATCH_SHARE * 100,
            )
        while True:
            query = api.import_query(
                statuses=sorted(api.TERMINAL_STATUSES), updated_at={"gte": cursor}, sort="updated_at", direction="asc"
            )
            batch = [dict(item.record) async for item in hook.iter_imports(query)]
            if batch:
                cursor = max(
                    (r for r in batch if _instant(r.get("updated_at"))), key=lambda r: _instant(r["updated_at"])
                )["updated_at"]
            yield batch
            await poller.sleep(interval)


if BaseEventTrigger is not None:

    class FleetioImportWatchTrigger(BaseEventTrigger):  # type: ignore[valid-type,misc]
        """Fire one event per import of ``import_type`` that reaches one of ``statuses`` (Airflow 3.x).

        :param conn_id: the ``fleetio`` connection (read in the triggerer; never serialized)
        :param import_type: ``VehicleImport``, ``MeterEntryImport``, ...
        :param statuses: the terminal statuses that fire (default ``["complete"]``)
        :param poll_interval: seconds between List Imports polls (shared by every watch on the connection)
        :param lookback: how far back (seconds) a shared stream starts
        """

        def __init__(
            self,
            *,
            conn_id: str,
            import_type: str,
            statuses: Iterable[str] = ("complete",),
            poll_interval: float = 60.0,
            lookback: float = DEFAULT_LOOKBACK,
        ) -> None:
            super().__init__()
            if not isinstance(import_type, str) or not import_type.strip():
                raise MetrikaConfigError(
                    f"import_type must be an import type such as VehicleImport, got {import_type!r}"
                )
            wanted = [statuses] if isinstance(statuses, str) else list(statuses)
            unknown = [s for s in wanted if s not in api.TERMINAL_STATUSES]
            if unknown or not wanted:
                raise MetrikaConfigError(
                    f"statuses must be terminal statuses among {', '.join(sorted(api.TERMINAL_STATUSES))}, got {wanted}"
                )
            self.conn_id = str(conn_id)
            self.import_type = import_type.strip()
            self.statuses = sorted(set(wanted))
            self.poll_interval = check_seconds("poll_interval", poll_interval)
            self.lookback = check_seconds("lookback", lookback)
            self._watermark: dict[str, Any] | None = None
            self._loaded = False

        def serialize(self) -> tuple[str, dict[str, Any]]:
            return (
                f"{type(self).__module__}.{type(self).__qualname__}",
                {
                    "conn_id": self.conn_id,
                    "import_type": self.import_type,
                    "statuses": list(self.statuses),
                    "poll_interval": self.poll_interval,
                    "lookback": self.lookback,
                },
            )

        def shared_stream_key(self) -> tuple[str, ...]:
            return ("fleetio-ended-imports", self.conn_id, str(self.poll_interval), str(self.lookback))

        @classmethod
        async def open_shared_stream(cls, kwargs: dict[str, Any]) -> AsyncIterator[Any]:
            async for batch in ended_imports(
                kwargs["conn_id"], poll_interval=float(kwargs["poll_interval"]), lookback=float(kwargs["lookback"])
            ):
                yield batch

        async def run(self) -> AsyncIterator[TriggerEvent]:
            """Standalone (no shared stream): the same filter over a stream of its own."""
            async for event in self.filter_shared_stream(self.open_shared_stream(self.serialize()[1])):
                yield event

        async def filter_shared_stream(self, shared_stream: AsyncIterator[Any]) -> AsyncIterator[TriggerEvent]:
            async for batch in shared_stream:
                if not self._loaded:
                    self._watermark = await self._load_watermark()
                    self._loaded = True
                    if self._watermark is None:  # first start: report what ends from now on
                        self._watermark = advance(None, batch) or {"updated_at": None, "ids": []}
                        await self._save_watermark()
                        continue
                fresh = [r for r in batch if watermark_after(self._watermark, r)]
                for record in fresh:
                    wanted = record.get("type") == self.import_type and record.get("status") in self.statuses
                    try:
                        if wanted:
                            yield TriggerEvent(self.event_payload(record))
                    finally:  # the triggerer took the event (or closed the stream right after it)
                        self._watermark = advance(self._watermark, [record])
                        if wanted:
                            await self._save_watermark()
                if fresh:
                    await self._save_watermark()

        def event_payload(self, record: Mapping[str, Any]) -> dict[str, Any]:
            """What the asset event carries (JSON-safe; no row contents)."""
            keys = ("id", "type", "status", "file_name", "note", "created_at", "updated_at", "completed_at")
            return {"vendor": "fleetio", **{k: record.get(k) for k in keys}}

        async def _load_watermark(self) -> dict[str, Any] | None:
            store = self.asset_state_store
            if store is None:
                return None
            try:
                value = await store.aget(WATERMARK_KEY)
            except Exception as error:  # several watched assets, or no state store service
                self.log.warning("Fleetio watch keeps its watermark in memory only: %s", error)
                self.asset_state_store = None
                return None
            return value if isinstance(value, dict) else None

        async def _save_watermark(self) -> None:
            if self.asset_state_store is not None and self._watermark is not None:
                try:
                    await self.asset_state_store.aset(WATERMARK_KEY, self._watermark)
                except Exception as error:
                    self.log.warning("Fleetio watch could not store its watermark: %s", error)
