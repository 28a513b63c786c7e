"""Server-side checks of uploaded files and query parameters (management API).

Offline conversions / calls / chats and user-parameter files are checked as they
stream in (see :mod:`csvstream`). Linkage is not decided here: the raw file is
spooled and :mod:`linkage` counts linked rows once a status turns terminal.
"""

from __future__ import annotations

import dataclasses
import re

from airflow_provider_metrika.emulator.csvstream import CsvStream
from airflow_provider_metrika.emulator.errors import invalid_parameter, invalid_uploading, missing_parameter

MAX_COMMENT_CHARS = 255
_COMMENT_OK = re.compile(r"[0-9A-Za-z\u0410-\u044f\u0401\u0451]*")  # Cyrillic letters incl. Yo

CONVERSION_TYPES = ("BASIC", "CALLS", "CHATS")
ID_COLUMNS = {"clientid": "CLIENT_ID", "userid": "USER_ID", "yclid": "YCLID", "purchaseid": "PURCHASE_ID"}
ID_COLUMN_NAMES = "ClientId, UserId, Yclid, PurchaseId"
USER_PARAMS_ACTIONS = ("update", "delete_keys")
USER_PARAMS_ID_COLUMNS = {"clientid": "CLIENT_ID", "userid": "USER_ID"}
#: ``content_id_type`` of user parameters as the docs' enum and production clients write it.
CONTENT_ID_TYPES = ("client_id", "user_id")
TRIPLE_COLUMNS = 3


def check_comment(comment: str | None, chars: str) -> str:
    """At most 255 characters; with ``chars="seed"`` also only Latin and Cyrillic letters and digits.

    The letters-and-digits rule is the offline-conversions upload page's
    (https://yandex.com/dev/metrika/en/management/openapi/offline_conversions/upload_1);
    clients tested against production send spaces and punctuation without complaint,
    so ``chars="any"`` checks the length only.
    """
    comment = comment or ""
    if len(comment) > MAX_COMMENT_CHARS:
        raise invalid_parameter(f"comment is longer than {MAX_COMMENT_CHARS} characters ({len(comment)})")
    if chars == "seed" and not _COMMENT_OK.fullmatch(comment):
        bad = sorted({ch for ch in comment if not _COMMENT_OK.fullmatch(ch)})
        raise invalid_parameter(
            f"comment may contain only Latin and Cyrillic letters and digits; found {''.join(bad)!r}"
        )
    return comment


def check_choice(name: str, value: str | None, choices: tuple[str, ...], default: str | None = None) -> str:
    """A query parameter limited to ``choices`` (case-insensitive); 400 when wrong."""
    if value is None or value == "":
        if default is None:
            raise missing_parameter(f"query parameter {name} is required: one of {', '.join(choices)}")
        return default
    for choice in choices:
        if value.lower() == choice.lower():
            return choice
    raise invalid_parameter(f"{name} must be one of {', '.join(choices)}, not {value!r}")


@dataclasses.dataclass(frozen=True)
class LinkageColumns:
    """Where the deferred linkage pass finds visitor ids (and the calls' StaticCall flag)."""

    id_columns: tuple[int, ...]
    static_column: int | None = None
    has_header: bool = True

    def to_json(self) -> dict:
        return {"id_columns": list(self.id_columns), "static_column": self.static_column, "has_header": self.has_header}

    @classmethod
    def from_json(cls, data: dict) -> LinkageColumns:
        return cls(tuple(data["id_columns"]), data.get("static_column"), data.get("has_header", True))


def _positions(header: list[str]) -> dict[str, int]:
    positions: dict[str, int] = {}
    for index, name in enumerate(header):
        positions.setdefault(name.lower(), index)
    return positions


class ConversionFile(CsvStream):
    """Offline conversions (BASIC), calls (CALLS) and chats (CHATS) CSV.

    Needs ``DateTime`` (unix seconds, not after ``latest_datetime``), ``Target`` for
    BASIC, and at least one visitor id column. Column names match case-insensitively.
    """

    def __init__(self, conversion_type: str, latest_datetime: float):
        super().__init__(",")
        self.conversion_type = conversion_type
        self.latest_datetime = int(latest_datetime)
        self.client_id_type = ""
        self.linkage_columns = LinkageColumns(())
        self._datetime_index = 0

    def check_header(self, header: list[str]) -> None:
        positions = _positions(header)
        required = ["DateTime"] if self.conversion_type != "BASIC" else ["Target", "DateTime"]
        known = {*ID_COLUMNS, "target", "datetime", "staticcall", "price", "currency"}
        if not known & positions.keys():
            raise invalid_uploading(
                f"file has no header row: the first line must name the columns, e.g. ClientId,{','.join(required)}"
            )
        for name in required:
            if name.lower() not in positions:
                raise invalid_uploading(f"the header has no {name} column (header: {','.join(header)})")
        id_indexes = sorted(positions[name] for name in ID_COLUMNS if name in positions)
        if not id_indexes:
            raise invalid_uploading(f"the header has no visitor id column: expected one of {ID_COLUMN_NAMES}")
        self.client_id_type = ID_COLUMNS[header[id_indexes[0]].lower()]
        static = positions.get("staticcall") if self.conversion_type == "CALLS" else None
        self.linkage_columns = LinkageColumns(tuple(id_indexes), static)
        self._datetime_index = positions["datetime"]

    def check_block(self, block: bytes) -> None:
        latest = self.digit_column_max(block, self._datetime_index)
        if latest is not None and latest <= self.latest_datetime:
            self.rows += block.count(b"\n")
            return
        for row, fields in self.records(block):
            value = fields[self._datetime_index] if self._datetime_index < len(fields) else ""
            self._check_datetime(row, value)

    def _check_datetime(self, row: int, value: str) -> None:
        value = value.strip()  # clients pad values after the comma ("id, 1481714026"), as they pad headers
        if not (value.isascii() and value.isdigit()):
            raise invalid_uploading(f"row {row}: DateTime {value!r} is not a unix timestamp in seconds")
        if int(value) > self.latest_datetime:
            hint = " (milliseconds? DateTime is in seconds)" if len(value) >= 13 else ""
            raise invalid_uploading(
                f"row {row}: DateTime {value} is in the future (emulator time {self.latest_datetime}){hint}"
            )


class UserParamsFile(CsvStream):
    """User parameters: a ``ClientId`` or ``UserId`` column plus at least one parameter column.

    Or, header-less, ``id,key,value`` triples (no id column named, exactly three columns):
    the layout a client tested against production uploads, declaring the id type only in
    the confirm body (https://github.com/pikhovkin/yametrikapy, its test suite). The
    official layout is not published; ``content_id_type`` stays empty until the confirm.
    """

    def __init__(self) -> None:
        super().__init__(",")
        self.content_id_type = ""
        self.linkage_columns = LinkageColumns(())
        self.triples = False

    def check_header(self, header: list[str]) -> None:
        positions = _positions(header)
        id_indexes = sorted(positions[name] for name in USER_PARAMS_ID_COLUMNS if name in positions)
        if not id_indexes and len(header) == TRIPLE_COLUMNS:
            self.triples = True
            self.rows += 1  # the first line is data
            self.linkage_columns = LinkageColumns((0,), has_header=False)
            return
        if not id_indexes:
            raise invalid_uploading(
                "user parameters file needs a ClientId or UserId column in its header row "
                "(or header-less id,key,value triples)"
            )
        if len(header) < 2:
            raise invalid_uploading("user parameters file needs at least one parameter column besides the id")
        self.content_id_type = USER_PARAMS_ID_COLUMNS[header[id_indexes[0]].lower()]
        self.linkage_columns = LinkageColumns((id_indexes[0],))

    def check_block(self, block: bytes) -> None:
        if b'"' not in block and b"\n\n" not in block and not block.startswith(b"\n"):
            self.rows += block.count(b"\n")
            return
        super().check_block(block)
