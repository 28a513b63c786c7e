"""Validation options: how strictly to check and the facts a check needs."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, tzinfo

from airflow_provider_metrika.exceptions import MetrikaConfigError
from airflow_provider_metrika.formats.report import shown

STALE_POLICIES = ("warn", "drop", "fail")
MERGE_MODES = ("SAVE", "UPDATE", "APPEND")
_DELIMITERS = {",": ",", ";": ";", "comma": ",", "semicolon": ";"}


def parse_columns_mapping(value: Mapping[str, str] | str | None) -> dict[str, str] | None:
    """Accept a dict, a JSON object, or Metrika's own ``"attr":"Header",...`` query form."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        try:
            value = json.loads(text if text.startswith(("{", "[")) else "{" + text + "}")
        except ValueError:
            raise MetrikaConfigError(f'columns_mapping {value!r} is neither JSON nor "attr":"Header" pairs') from None
    if not isinstance(value, Mapping):
        raise MetrikaConfigError(
            "columns_mapping must map Metrika attribute names to CSV header names (an object), "
            f"not {type(value).__name__} {shown(value)}"
        )
    if not all(isinstance(k, str) and isinstance(v, str) and k and v for k, v in value.items()):
        raise MetrikaConfigError("columns_mapping must map Metrika attribute names to CSV header names (strings)")
    return dict(value)


@dataclasses.dataclass(frozen=True)
class ValidationOptions:
    """How strictly to check, and the facts a check needs (now, delimiter, column mapping).

    Values are normalised on creation: ``delimiter`` accepts ``,``/``;``/``comma``/``semicolon``,
    ``merge_mode`` any case, ``columns_mapping`` a dict, JSON or Metrika's query form.
    ``counter_timezone`` is used by the CDP writers to convert aware datetimes.
    ``order_statuses`` are the CRM status ids mapped in the counter: an order with a status
    neither default nor among them gets a warning.
    """

    max_problems: int = 20
    now: datetime | None = None
    stale_rows: str = "warn"
    linkage_window_days: int = 21
    delimiter: str = ","
    columns_mapping: Mapping[str, str] | None = None
    merge_mode: str | None = None
    counter_timezone: tzinfo | str | None = None
    order_statuses: Iterable[str] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.max_problems, int) or self.max_problems < 1:
            raise MetrikaConfigError(f"max_problems must be a positive integer, not {self.max_problems!r}")
        if self.now is not None and (not isinstance(self.now, datetime) or self.now.utcoffset() is None):
            raise MetrikaConfigError("now must be a timezone-aware datetime")
        if self.stale_rows not in STALE_POLICIES:
            raise MetrikaConfigError(f"stale_rows={self.stale_rows!r}: expected one of {', '.join(STALE_POLICIES)}")
        if not isinstance(self.linkage_window_days, int) or self.linkage_window_days < 0:
            raise MetrikaConfigError("linkage_window_days must be a non-negative integer")
        delimiter = _DELIMITERS.get(str(self.delimiter).lower())
        if delimiter is None:
            raise MetrikaConfigError(f"delimiter={self.delimiter!r}: expected ',' (COMMA) or ';' (SEMICOLON)")
        object.__setattr__(self, "delimiter", delimiter)
        object.__setattr__(self, "columns_mapping", parse_columns_mapping(self.columns_mapping))
        if self.merge_mode is not None:
            mode = str(self.merge_mode).upper()
            if mode not in MERGE_MODES:
                raise MetrikaConfigError(f"merge_mode={self.merge_mode!r}: expected one of {', '.join(MERGE_MODES)}")
            object.__setattr__(self, "merge_mode", mode)
        if isinstance(self.counter_timezone, str):
            object.__setattr__(self, "counter_timezone", _zone(self.counter_timezone))
        if self.order_statuses is not None:
            if isinstance(self.order_statuses, str) or not all(isinstance(s, str) for s in self.order_statuses):
                raise MetrikaConfigError("order_statuses must be a collection of status ids (strings)")
            object.__setattr__(self, "order_statuses", frozenset(self.order_statuses))

    @property
    def delimiter_type(self) -> str:
        """The CDP ``delimiter_type`` query value for this delimiter."""
        return "SEMICOLON" if self.delimiter == ";" else "COMMA"

    def now_timestamp(self) -> int:
        return int((self.now or datetime.now(UTC)).timestamp())


def _zone(name: str) -> tzinfo:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise MetrikaConfigError(f"counter_timezone {name!r} is not a known time zone") from None
