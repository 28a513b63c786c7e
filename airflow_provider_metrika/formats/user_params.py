"""User (visitor) parameters CSV (§4.5): an id column (ClientId or UserId) and one column per parameter.

The layout is not published; this follows the known facts and is lenient on case. A
header-less file of ``id,key,value`` triples is accepted too: a client tested against
production uploads that layout and declares the id type only when confirming
(https://github.com/pikhovkin/yametrikapy, its test suite).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from airflow_provider_metrika.formats.base import CellError, FileFormat
from airflow_provider_metrika.formats.checker import HeaderContext, RowRules
from airflow_provider_metrika.formats.offline_conversions import CLIENT_ID, USER_ID
from airflow_provider_metrika.formats.options import ValidationOptions
from airflow_provider_metrika.formats.values import check_client_id
from airflow_provider_metrika.formats.writer import column_lookup, encode_columns

ID_COLUMNS = {"clientid": "ClientId", "userid": "UserId"}
TRIPLE = ("id", "key", "value")


def is_triples_header(first_row: list[str]) -> bool:
    """No ClientId/UserId column and exactly three fields: a header-less ``id,key,value`` line."""
    return len(first_row) == len(TRIPLE) and not any(name.strip().lower() in ID_COLUMNS for name in first_row)


class UserParamsFormat(FileFormat):
    name = "user_params"

    def __init__(self) -> None:
        self._lookup = column_lookup((CLIENT_ID, USER_ID))

    def header_is_data(self, first_row: list[str]) -> bool:
        return is_triples_header(first_row)

    def compile_rules(self, header: list[str], options: ValidationOptions, context: HeaderContext) -> RowRules:
        if is_triples_header(header):
            context.warn(
                "no header: read as id,key,value triples; the id type (content_id_type) must be given at confirm"
            )
            return RowRules(width=len(TRIPLE), required=((0, "id"), (1, "key")))
        ids = [(position, name) for position, name in enumerate(header) if name.strip().lower() in ID_COLUMNS]
        if not ids:
            context.problem(None, "no id column: the header needs ClientId or UserId")
        if len([name for name in header if name.strip().lower() not in ID_COLUMNS]) == 0:
            context.problem(None, "no parameter column: add at least one column besides the id")
        checks = tuple((p, name, check_client_id) for p, name in ids if name.strip().lower() == "clientid")
        any_of = ((tuple(p for p, _ in ids), f"no id: fill {' or '.join(n for _, n in ids)}"),) if ids else ()
        return RowRules(width=len(header), checks=checks, any_of=any_of)

    def encode_csv_row(self, row: Mapping[str, Any], options: ValidationOptions) -> dict[str, str]:
        cells = encode_columns(row, self._lookup, allow_unknown=True)
        if not any(name in cells for name in ID_COLUMNS.values()):
            raise CellError("ClientId", "a row needs ClientId or UserId (or client_id / user_id)")
        return cells

    def header_for(self, columns: Iterable[str]) -> list[str]:
        names = list(columns)
        return [n for n in ID_COLUMNS.values() if n in names] + [n for n in names if n not in ID_COLUMNS.values()]


USER_PARAMS = UserParamsFormat()
