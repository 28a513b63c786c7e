"""What tests read from and do to the vendor emulators besides their APIs: request counts, imports a person
makes by hand, waits that move the emulator's clock instead of sleeping."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def requests_to(emulator: Any, route: str, method: str | None = None) -> int:
    """How many requests the emulator answered on ``route`` (and ``method``, if given) since its last reset."""
    return sum(
        row["count"]
        for row in emulator.request_stats()["requests"]
        if row["route"] == route and method in (None, row["method"])
    )


def clock_sleep(emulator: Any) -> tuple[list[float], Callable[[float], None]]:
    """A hook's ``sleep`` that advances the emulator's clock instead of waiting, and the list of what it waited."""
    waited: list[float] = []

    def sleep(seconds: float) -> None:
        waited.append(seconds)
        emulator.advance(seconds)

    return waited, sleep


def person_imports(fleetio: Any, file_name: str = "vehicles.csv", rows: list | None = None, **extra: Any) -> int:
    """Play the fleet manager who uploads a file in Fleetio's web app (the API cannot); returns the import's id."""
    body = {"type": "VehicleImport", "file_name": file_name, "rows": rows or [{"status": "created"}], **extra}
    return fleetio.call("POST", "fleetio/imports", json=body)["id"]
