"""The base of every vendor's emulator settings: checked changes, JSON form, stored overrides.

Settings are frozen dataclasses; ``POST /_emulator/config`` changes them through
:meth:`EmulatorSettings.updated`, which names the bad key or value in a 400 answer.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

from airflow_provider_metrika.emulator.errors import invalid_parameter


class EmulatorSettings:
    """Mixin for a frozen settings dataclass; subclasses say how each field is checked in :meth:`coerce`."""

    def updated(self, changes: Mapping[str, Any]) -> Any:
        """A copy with ``changes`` applied; 400 ``invalid_parameter`` on unknown keys or bad values."""
        known = {f.name for f in dataclasses.fields(self)}  # type: ignore[arg-type]
        unknown = sorted(set(changes) - known)
        if unknown:
            raise invalid_parameter(f"unknown config keys: {', '.join(unknown)}; expected some of {sorted(known)}")
        values = {name: self.coerce(name, value) for name, value in changes.items()}
        return dataclasses.replace(self, **values)  # type: ignore[type-var]

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)  # type: ignore[call-overload]

    def with_stored(self, overrides: Mapping[str, Any]) -> Any:
        """Apply overrides read back from the store (already checked when they were set)."""
        return dataclasses.replace(self, **overrides)  # type: ignore[type-var]

    @classmethod
    def coerce(cls, name: str, value: Any) -> Any:
        """The checked value of field ``name``; raise ``invalid_parameter`` naming it."""
        raise NotImplementedError


def number(name: str, value: Any, minimum: float, integer: bool = False) -> float:
    """A JSON number >= ``minimum`` (whole when ``integer``); the error names the setting."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise invalid_parameter(f"{name} must be a finite {'whole ' if integer else ''}number")
    if integer and int(value) != value:
        raise invalid_parameter(f"{name} must be a whole number")
    if value < minimum:
        raise invalid_parameter(f"{name} must be >= {minimum}")
    return value


def boolean(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise invalid_parameter(f"{name} must be true or false")
    return value
