"""Chats CSV: offline conversions of type ``CHATS`` (a messenger conversation linked to a visit).

Metrika documents the ids (``ClientID``, ``UserID``, ``Yclid``, ``PurchaseID``) and the event time
for chats, and names further data (the messenger, whether the chat was answered, a tag) without a
published column table: https://yandex.com/dev/metrika/en/management/chats and
https://yandex.com/dev/metrika/en/management/chats-transfer-data. So the ids and ``DateTime`` are
checked like an offline-conversion file, and any other column is passed through with a warning.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from airflow_provider_metrika.formats.offline_conversions import (
    CLIENT_ID,
    CURRENCY,
    DATE_TIME,
    DATETIME,
    PRICE,
    PURCHASE_ID,
    USER_ID,
    YCLID,
    EventFileFormat,
)
from airflow_provider_metrika.formats.options import ValidationOptions
from airflow_provider_metrika.formats.writer import encode_columns


class ChatsFileFormat(EventFileFormat):
    """An event file whose undocumented extra columns (messenger, tag, ...) are kept as given."""

    def encode_csv_row(self, row: Mapping[str, Any], options: ValidationOptions) -> dict[str, str]:
        return encode_columns(row, self._lookup, allow_unknown=True)

    def header_for(self, columns: Iterable[str]) -> list[str]:
        names = list(columns)
        known = super().header_for(names)
        return known + [name for name in names if name not in known]


CHATS = ChatsFileFormat(
    "chats",
    columns=(CLIENT_ID, USER_ID, YCLID, PURCHASE_ID, DATE_TIME, PRICE, CURRENCY),
    required=(DATETIME,),
    ids=("ClientId", "UserId", "Yclid", "PurchaseId"),
    foreign=("Target",),
)
