"""Ad expenses in the emulator: file checks for uploads and deletions, and the ledger they leave.

Metrika documents the columns (https://yandex.com/dev/metrika/en/management/openapi/expense/uploadMultipart,
.../uploadRemoveBody_1) but not how a deletion matches uploaded rows. The emulator's choice: a deletion
row removes every processed expense row whose ``Date`` (a day or a range) lies inside the deletion's
``Date``, of the deletion's ``provider`` (every provider when none was given), and, for each tag or
traffic-source column the deletion fills, with exactly that value (UTM values are case-sensitive).
Uploadings and deletions take effect in the order they were made, once processed.
"""

from __future__ import annotations

import csv
import dataclasses
import re
from collections.abc import Iterable

from airflow_provider_metrika.emulator.csvstream import CsvStream
from airflow_provider_metrika.emulator.errors import invalid_uploading
from airflow_provider_metrika.formats.expenses import parse_date_range

DEFAULT_PROVIDER = "default"
UPLOAD, REMOVAL = "EXPENSES", "REMOVES"
MATCHED_COLUMNS = (
    "utmsource",
    "utmmedium",
    "utmcampaign",
    "utmterm",
    "utmcontent",
    "trafficsource",
    "trafficsourcedetail",
)
_DECIMAL = re.compile(r"\d+(?:\.\d+)?")
_CURRENCY = re.compile(r"[A-Z]{3}")


class ExpenseFile(CsvStream):
    """An expenses upload (``removal=False``) or a deletion file; column names match case-insensitively."""

    def __init__(self, removal: bool) -> None:
        super().__init__(",")
        self.removal = removal
        self._positions: dict[str, int] = {}

    def check_header(self, header: list[str]) -> None:
        positions: dict[str, int] = {}
        for index, name in enumerate(header):
            positions.setdefault(name.strip().lower(), index)
        if "date" not in positions:
            raise invalid_uploading(f"the header has no Date column (header: {','.join(header)})")
        if not self.removal:
            if "expenses" not in positions:
                raise invalid_uploading(f"the header has no Expenses column (header: {','.join(header)})")
            if "utmsource" not in positions and "trafficsource" not in positions:
                raise invalid_uploading("the header needs a UTMSource or a TrafficSource column")
        self._positions = positions

    def check_block(self, block: bytes) -> None:
        for row, fields in self.records(block):
            self.check_row(row, fields)

    def check_row(self, row: int, fields: list[str]) -> None:
        def cell(name: str) -> str:
            index = self._positions.get(name)
            return fields[index].strip() if index is not None and index < len(fields) else ""

        if parse_date_range(cell("date")) is None:
            raise invalid_uploading(f"row {row}: Date {cell('date')!r} is not YYYY-MM-DD or YYYY-MM-DD/YYYY-MM-DD")
        if self.removal:
            return
        if not _DECIMAL.fullmatch(cell("expenses")):
            raise invalid_uploading(f"row {row}: Expenses {cell('expenses')!r} is not a number with '.' decimals")
        if not cell("utmsource") and not cell("trafficsource"):
            raise invalid_uploading(f"row {row}: UTMSource or TrafficSource must be filled")
        if cell("clicks") and not cell("clicks").isdigit():
            raise invalid_uploading(f"row {row}: Clicks {cell('clicks')!r} is not a whole number")
        if cell("currency") and not _CURRENCY.fullmatch(cell("currency")):
            raise invalid_uploading(f"row {row}: Currency {cell('currency')!r} is not an ISO 4217 code")


@dataclasses.dataclass(frozen=True)
class ExpenseBatch:
    """One processed uploading as the ledger sees it: its kind, provider and rows (lower-case keys)."""

    uploading_id: int
    variant: str
    provider: str | None
    rows: tuple[dict[str, str], ...]


def read_rows(path: str) -> tuple[dict[str, str], ...]:
    """The spooled CSV's rows with lower-case, trimmed column names."""
    with open(path, encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        header = [name.strip().lower() for name in next(reader, [])]
        return tuple(dict(zip(header, (v.strip() for v in fields), strict=False)) for fields in reader if fields)


def ledger(batches: Iterable[ExpenseBatch]) -> list[dict[str, str]]:
    """The expense rows a counter holds after ``batches`` (oldest first) took effect."""
    held: list[dict[str, str]] = []
    for batch in batches:
        if batch.variant == UPLOAD:
            held.extend({**row, "provider": batch.provider or DEFAULT_PROVIDER, "uploading_id": str(batch.uploading_id)}
                        for row in batch.rows)  # fmt: skip
            continue
        for condition in batch.rows:
            held = [row for row in held if not _deleted(row, condition, batch.provider)]
    return held


def _deleted(row: dict[str, str], condition: dict[str, str], provider: str | None) -> bool:
    days, within = parse_date_range(row.get("date", "")), parse_date_range(condition.get("date", ""))
    if days is None or within is None or days[0] < within[0] or days[1] > within[1]:
        return False
    if provider is not None and row["provider"] != provider:
        return False
    return all(row.get(name, "") == condition[name] for name in MATCHED_COLUMNS if condition.get(name))
