"""Deferrable wait on Metrika uploadings.

The trigger only polls (GET): it can be rebuilt from ``serialize()`` and restarted
by the triggerer any number of times without ever repeating an upload.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from airflow_provider_metrika.exceptions import MetrikaClientError, MetrikaConfigError, MetrikaError
from airflow_provider_metrika.hooks.metrika_async import MetrikaAsyncHook
from airflow_provider_metrika.uploads import Uploading
from airflow_provider_metrika.version_compat import BaseTrigger, TriggerEvent
from airflow_provider_metrika.waiting import outcome

DEFAULT_POLL_INTERVAL = 60.0
DEFAULT_MAX_CONSECUTIVE_FAILURES = 10


def next_interval(current: float, maximum: float, factor: float = 1.5) -> float:
    """Poll less often as a wait gets older, never beyond ``maximum``."""
    return min(maximum, current * factor) if maximum > current else current


class MetrikaUploadingTrigger(BaseTrigger):
    """Poll uploadings of one kind and counter until all are terminal.

    :param kind: upload kind (``offline_conversions``, ``calls``, ``user_params``)
    :param counter_id: Metrika counter id
    :param uploading_ids: ids to wait for
    :param metrika_conn_id: Airflow connection (the token is read in the triggerer, never serialized)
    :param poll_interval: seconds between polls at the start
    :param max_poll_interval: polls back off up to this many seconds (equal to ``poll_interval``: no backoff)
    :param max_consecutive_failures: transient poll errors tolerated in a row before giving up
    """

    def __init__(
        self,
        *,
        kind: str,
        counter_id: int,
        uploading_ids: list[str],
        metrika_conn_id: str = "metrika_default",
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        max_poll_interval: float | None = None,
        max_consecutive_failures: int = DEFAULT_MAX_CONSECUTIVE_FAILURES,
    ) -> None:
        super().__init__()
        self.kind = kind
        self.counter_id = int(counter_id)
        self.uploading_ids = [str(i) for i in uploading_ids]
        self.metrika_conn_id = metrika_conn_id
        self.poll_interval = float(poll_interval)
        self.max_poll_interval = float(max_poll_interval if max_poll_interval is not None else poll_interval)
        self.max_consecutive_failures = int(max_consecutive_failures)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "kind": self.kind,
                "counter_id": self.counter_id,
                "uploading_ids": list(self.uploading_ids),
                "metrika_conn_id": self.metrika_conn_id,
                "poll_interval": self.poll_interval,
                "max_poll_interval": self.max_poll_interval,
                "max_consecutive_failures": self.max_consecutive_failures,
            },
        )

    def _hook(self) -> MetrikaAsyncHook:
        return MetrikaAsyncHook(self.metrika_conn_id)

    async def fetch(self, hook: MetrikaAsyncHook) -> list[Uploading]:
        """One poll: the current state of every awaited uploading."""
        return [await hook.get_uploading(self.kind, self.counter_id, uid) for uid in self.uploading_ids]

    async def run(self) -> AsyncIterator[TriggerEvent]:
        interval = self.poll_interval
        failures = 0
        hook = self._hook()
        try:
            while True:
                try:
                    uploadings = await self.fetch(hook)
                except (MetrikaClientError, MetrikaConfigError) as err:
                    yield TriggerEvent(self._error(f"polling stopped: {err}"))
                    return
                except (MetrikaError, OSError, asyncio.TimeoutError) as err:
                    failures += 1
                    self.log.warning(
                        "Transient error polling Metrika (%d/%d in a row): %s",
                        failures,
                        self.max_consecutive_failures,
                        err,
                    )
                    if failures >= self.max_consecutive_failures:
                        yield TriggerEvent(
                            self._error(f"gave up after {failures} consecutive failed polls; last error: {err}")
                        )
                        return
                else:
                    failures = 0
                    event = outcome(uploadings)
                    if event is not None:
                        yield TriggerEvent(event)
                        return
                    self.log.info(
                        "Waiting %.0fs; %s",
                        interval,
                        "; ".join(f"{u.uploading_id}: {u.status}" for u in uploadings),
                    )
                await asyncio.sleep(interval)
                interval = next_interval(interval, self.max_poll_interval)
        finally:
            await hook.close()

    def _error(self, message: str) -> dict[str, Any]:
        return {
            "status": "error",
            "message": f"{self.kind} uploadings {', '.join(self.uploading_ids)} of counter {self.counter_id}: {message}",
            "uploadings": [],
        }
