"""Offline conversions CSV (§2.5), and the event-file format it shares with calls (§3.1).

Both are "a visitor id + a unix-seconds DateTime + optional value" files that Metrika links to
visits within a linkage window; only their column sets differ.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from airflow_provider_metrika.formats.base import FileFormat
from airflow_provider_metrika.formats.checker import HeaderContext, RowRules
from airflow_provider_metrika.formats.options import ValidationOptions
from airflow_provider_metrika.formats.report import preview
from airflow_provider_metrika.formats.values import (
    check_client_id,
    check_currency,
    check_decimal,
    check_digits,
    make_event_time_check,
)
from airflow_provider_metrika.formats.writer import (
    Column,
    column_lookup,
    encode_columns,
    to_decimal_text,
    to_unix_seconds,
)

DATETIME = "DateTime"

CLIENT_ID = Column("ClientId", check_client_id, ("client_id", "clientid"), to_decimal_text)
USER_ID = Column("UserId", None, ("user_id", "userid"))
YCLID = Column("Yclid", check_digits, ("yclid",), to_decimal_text)
PURCHASE_ID = Column("PurchaseId", None, ("purchase_id", "purchaseid"))
DATE_TIME = Column(DATETIME, None, ("date_time", "datetime"), to_unix_seconds)
PRICE = Column("Price", check_decimal, ("price",), to_decimal_text)
CURRENCY = Column("Currency", check_currency, ("currency",), lambda value: str(value).strip().upper())


def canonical_name(name: str, known: Iterable[str]) -> str:
    """``name`` spelled as the documented column it matches case-insensitively after trimming, else as given."""
    key = name.strip().lower()
    return next((column for column in known if column.lower() == key), name)


def match_header(header: list[str], known: Iterable[str], context: HeaderContext) -> dict[str, int]:
    """Documented column name -> first position, matched case-insensitively after trimming.

    Metrika's own pages spell the same columns ``ClientId`` and ``ClientID``, ``Yclid`` and
    ``yclid`` (https://yandex.com/support/metrica/en/data/offline-conversion-data), and clients
    pad names after the comma; the server accepts them all. A spelling that differs gets a
    warning; the file is sent as written.
    """
    known = tuple(known)
    index: dict[str, int] = {}
    for position, raw in enumerate(header):
        name = canonical_name(raw, known)
        if name != raw and name in known:
            context.warn(
                f"column {raw!r} is read as {name} (Metrika matches column names case-insensitively "
                "after trimming; the file is sent as written)"
            )
        if name in index and name in known and header[index[name]] != raw:
            context.problem(name, f"columns {header[index[name]]!r} and {raw!r} are the same column to Metrika")
        index.setdefault(name, position)
    return index


def index_columns(
    header: list[str],
    known: Iterable[str],
    required: Iterable[str],
    context: HeaderContext,
    *,
    format_name: str = "",
    foreign: Iterable[str] = (),
) -> dict[str, int]:
    """:func:`match_header`, then a problem per missing required column and a warning per column that is
    not ``known`` (``foreign`` ones: columns of a sibling format, ignored by Metrika)."""
    known = tuple(known)
    index = match_header(header, known, context)
    for name in required:
        if name not in index:
            context.problem(name, f"required column {name} is missing")
    foreign_names = {name.lower() for name in foreign}
    ignored: list[str] = []
    unknown: list[str] = []
    for raw in header:
        name = raw.strip()
        if name.lower() in foreign_names:
            ignored.append(raw)
        elif name and canonical_name(name, known) not in known:
            unknown.append(raw)
    if ignored:
        context.warn(f"{preview(ignored, 'column')} not part of the {format_name} format; ignored")
    if unknown:
        context.warn(f"{preview(unknown, 'unknown column')}; Metrika may ignore or reject them")
    return index


class EventFileFormat(FileFormat):
    """A CSV of events with visitor ids and a unix-seconds DateTime, checked against ``now`` and the window."""

    def __init__(
        self,
        name: str,
        columns: Iterable[Column],
        required: tuple[str, ...],
        ids: tuple[str, ...],
        foreign: tuple[str, ...] = (),
    ) -> None:
        self.name = name
        self.columns = tuple(columns)
        self.required = required
        self.ids = ids
        self.foreign = foreign
        self._order = [column.name for column in self.columns]
        self._lookup = column_lookup(self.columns)

    def compile_rules(self, header: list[str], options: ValidationOptions, context: HeaderContext) -> RowRules:
        index = index_columns(header, self._order, self.required, context, format_name=self.name, foreign=self.foreign)
        id_columns = [name for name in self.ids if name in index]
        if not id_columns:
            context.problem(None, f"no id column: the header needs at least one of {', '.join(self.ids)}")
        checks = [(index[c.name], c.name, c.check) for c in self.columns if c.check is not None and c.name in index]
        if DATETIME in index:
            now = options.now_timestamp()
            window_start = now - options.linkage_window_days * 86400
            checks.append((index[DATETIME], DATETIME, make_event_time_check(now, window_start)))
        id_group = (tuple(index[name] for name in id_columns), f"no id: fill at least one of {', '.join(id_columns)}")
        return RowRules(
            width=len(header),
            checks=tuple(checks),
            required=tuple((index[name], name) for name in self.required if name in index),
            any_of=(id_group,) if id_columns else (),
        )

    def encode_csv_row(self, row: Mapping[str, Any], options: ValidationOptions) -> dict[str, str]:
        return encode_columns(row, self._lookup, allow_unknown=False)

    def header_for(self, columns: Iterable[str]) -> list[str]:
        present = set(columns)
        return [name for name in self._order if name in present]


OFFLINE_CONVERSIONS = EventFileFormat(
    "offline_conversions",
    columns=(CLIENT_ID, USER_ID, YCLID, PURCHASE_ID, Column("Target", None, ("target",)), DATE_TIME, PRICE, CURRENCY),
    required=("Target", DATETIME),
    ids=("ClientId", "UserId", "Yclid", "PurchaseId"),
)
