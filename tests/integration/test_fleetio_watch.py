"""FleetioImportWatchTrigger (Airflow 3.x AssetWatcher trigger) against the Fleetio emulator over loopback."""

from __future__ import annotations

import asyncio

import pytest

from airflow_provider_metrika.exceptions import MetrikaConfigError
from airflow_provider_metrika.fleetio import watch
from tests.integration.test_fleetio_sensor import TriggerClock
from tests.integration.test_fleetio_status import person_imports

pytestmark = pytest.mark.integration


class StateStore:
    """What Airflow 3.3 injects as ``asset_state_store`` for a trigger watching one asset."""

    def __init__(self):
        self.values: dict = {}

    async def aget(self, key, default=None):
        return self.values.get(key, default)

    async def aset(self, key, value):
        self.values[key] = value


if watch.BaseEventTrigger is None:  # Airflow 2.11: no event-driven scheduling

    def test_the_watch_trigger_is_airflow_3_only():
        assert not hasattr(watch, "FleetioImportWatchTrigger")

else:

    def trigger(fleetio_conn, store=None, **kwargs):
        made = watch.FleetioImportWatchTrigger(
            conn_id=fleetio_conn, import_type="VehicleImport", poll_interval=5, **kwargs
        )
        made.asset_state_store = store
        return made

    async def next_event(events, clock, fleetio, add=None):
        task = asyncio.ensure_future(anext(events))
        await asyncio.sleep(0.05)
        if add:
            add()
        return (await asyncio.wait_for(task, timeout=30)).payload

    async def test_fires_once_per_completed_import_of_its_type_and_survives_a_restart(
        fleetio, fleetio_conn, monkeypatch
    ):
        clock = TriggerClock(fleetio, monkeypatch)
        old = person_imports(fleetio, "old.csv")
        fleetio.advance(15)
        store = StateStore()
        events = trigger(fleetio_conn, store).run()

        def people_import():
            person_imports(fleetio, "meters.csv", type="MeterEntryImport")
            person_imports(fleetio, "bad.csv", rows=[{"status": "error"}])  # failed: not a 'complete' event
            person_imports(fleetio, "vehicles.csv")

        first = await next_event(events, clock, fleetio, people_import)
        assert (first["type"], first["status"], first["file_name"]) == ("VehicleImport", "complete", "vehicles.csv")
        assert first["id"] != int(old) and store.values[watch.WATERMARK_KEY]["updated_at"]
        await events.aclose()

        restarted = trigger(fleetio_conn, store).run()  # a new triggerer: the watermark comes from the store
        second = await next_event(restarted, clock, fleetio, lambda: person_imports(fleetio, "later.csv"))
        assert second["file_name"] == "later.csv"
        await restarted.aclose()

    async def test_a_watcher_spends_at_most_a_quarter_of_the_keys_rate_limit(fleetio, fleetio_conn, monkeypatch):
        slept = []

        async def sleep(seconds):
            slept.append(seconds)
            await asyncio.sleep(0)

        monkeypatch.setattr(watch.poller, "sleep", sleep)
        stream = watch.ended_imports(fleetio_conn, poll_interval=1, lookback=60)
        await anext(stream)
        await anext(stream)
        await stream.aclose()
        assert slept == [12.0]  # 20 requests a minute (the default): 5 for the watcher, 15 left for the sensors
        assert fleetio.request_stats()["throttled_total"] == 0

    def test_the_watch_interval_is_the_asked_one_when_within_the_share():
        assert watch.watch_interval(60, 20) == 60 and watch.watch_interval(1, 20) == 12
        assert watch.watch_interval(1, 400) == 1

    async def test_watches_on_one_connection_share_one_poll(fleetio, fleetio_conn):
        one, two = (
            trigger(fleetio_conn),
            watch.FleetioImportWatchTrigger(conn_id=fleetio_conn, import_type="FuelEntryImport"),
        )
        assert one.shared_stream_key() != two.shared_stream_key()  # different poll intervals
        same = watch.FleetioImportWatchTrigger(conn_id=fleetio_conn, import_type="FuelEntryImport", poll_interval=5)
        assert one.shared_stream_key() == same.shared_stream_key()
        classpath, kwargs = one.serialize()
        assert classpath == "airflow_provider_metrika.fleetio.watch.FleetioImportWatchTrigger"
        assert watch.FleetioImportWatchTrigger(**kwargs).serialize() == (classpath, kwargs)

    @pytest.mark.parametrize(
        ("kwargs", "match"),
        [
            ({"import_type": ""}, "import_type must be"),
            ({"import_type": "VehicleImport", "statuses": ["processing"]}, "statuses must be terminal"),
            ({"import_type": "VehicleImport", "poll_interval": 0}, "poll_interval"),
        ],
    )
    def test_bad_parameters_are_named(kwargs, match):
        with pytest.raises(MetrikaConfigError, match=match):
            watch.FleetioImportWatchTrigger(conn_id="c", **kwargs)

    def test_watermark_ties_and_order():
        mark = watch.advance(
            None, [{"id": 1, "updated_at": "2026-01-01T00:00:00Z"}, {"id": 2, "updated_at": "2026-01-01T00:00:00.000Z"}]
        )
        assert mark == {"updated_at": "2026-01-01T00:00:00Z", "ids": [1, 2]}
        assert not watch.watermark_after(mark, {"id": 2, "updated_at": "2026-01-01T00:00:00Z"})
        assert watch.watermark_after(mark, {"id": 3, "updated_at": "2026-01-01T00:00:00Z"})
        assert watch.watermark_after(mark, {"id": 1, "updated_at": "2026-01-01T00:00:01+00:00"})
        assert not watch.watermark_after(mark, {"id": 4, "updated_at": "garbage"})
