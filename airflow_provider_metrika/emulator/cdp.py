"""Synchronous validation of CDP (CRM) uploads: contacts, orders, simple orders (§5.5-5.9).

Request-level problems (merge mode, columns_mapping syntax, malformed JSON) are HTTP 400.
Row-level problems do not fail the request: the uploading is stored with
``api_validation_status: FAILED`` and messages like ``"row 3: emails: 'x' is not an email"``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Collection, Mapping
from typing import Any

from airflow_provider_metrika.emulator.csvstream import CsvStream
from airflow_provider_metrika.emulator.errors import invalid_parameter, missing_parameter
from airflow_provider_metrika.emulator.receive import parse_json
from airflow_provider_metrika.emulator.rules import check_choice

MERGE_MODES = ("SAVE", "UPDATE", "APPEND")
DELIMITERS = {"COMMA": ",", "SEMICOLON": ";"}
MAX_REPORTED_ERRORS = 100

_MAPPING_PAIR = re.compile(r'\s*"([^"]+)"\s*:\s*"([^"]+)"\s*(?:,|$)')
_EMAIL = re.compile(r"[^@\s,]+@[^@\s,]+\.[^@\s,]+")
_DATE_TIME = re.compile(
    r"(?:(?P<d>\d{2})\.(?P<m>\d{2})\.(?P<y>\d{4}|\d{2})|(?P<Y>\d{4})-(?P<M>\d{2})-(?P<D>\d{2}))"
    r"(?:(?P<sep>[ T])(?P<hh>\d{2}):(?P<mm>\d{2})(?::(?P<ss>\d{2})(?P<frac>\.\d{1,6})?)?(?P<z>Z)?)?"
)
_EPOCH_YEAR = 1970


@dataclasses.dataclass(frozen=True)
class CdpEntity:
    """What one CDP entity requires of each row."""

    kind: str
    subtype: str
    required: tuple[str, ...]
    date_fields: tuple[str, ...] = ()
    email_fields: tuple[str, ...] = ()
    fixed: Mapping[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)
    one_of: tuple[str, ...] = ()
    #: Columns the file must have although a row's value may be empty (simple orders' ``id``:
    #: the docs' example leaves it empty in one row, https://yandex.ru/dev/metrika/en/data-import/simple-orders-data).
    columns: tuple[str, ...] = ()
    #: The field whose value must be a default or mapped order status (under a strict schema).
    status_field: str | None = None


@dataclasses.dataclass(frozen=True)
class SchemaRules:
    """What a counter's schema allows: order status ids and attribute names of the entity."""

    statuses: frozenset[str]
    attributes: frozenset[str]

    def status_problem(self, entity: CdpEntity, record: Mapping[str, Any]) -> str | None:
        value = record.get(entity.status_field) if entity.status_field else None
        if _is_empty(value) or str(value) in self.statuses:
            return None
        return f"{entity.status_field} {value!r} is neither a default status nor mapped (schema/order_statuses)"

    def attribute_problem(self, attribute: str) -> str | None:
        if attribute in self.attributes:
            return None
        return f"attribute {attribute!r} is neither a system attribute nor created (schema/attributes)"


CDP_ENTITIES = {
    entity.kind: entity
    for entity in (
        CdpEntity(
            "contacts",
            "CONTACT",
            required=("uniq_id",),
            date_fields=("create_date_time", "update_date_time", "birth_date"),
            email_fields=("emails",),
        ),
        CdpEntity(
            "orders",
            "ORDER",
            required=("id", "client_uniq_id", "client_type", "create_date_time", "order_status"),
            date_fields=("create_date_time", "update_date_time", "finish_date_time"),
            fixed={"client_type": ("CONTACT",)},
            status_field="order_status",
        ),
        CdpEntity(
            "simple_orders",
            "SIMPLE_ORDER",
            required=("create_date_time",),
            columns=("id",),
            date_fields=("create_date_time",),
            email_fields=("emails",),
            one_of=("client_ids", "emails", "phones", "emails_md5", "phones_md5"),
        ),
    )
}


def check_merge_mode(value: str | None) -> str:
    return check_choice("merge_mode", value, MERGE_MODES)


def delimiter_of(value: str | None) -> str:
    return DELIMITERS[check_choice("delimiter_type", value, tuple(DELIMITERS), default="COMMA")]


def parse_columns_mapping(raw: str | None) -> dict[str, str]:
    """``"uniq_id":"ID","name":"Name"`` (optionally wrapped in braces) -> ``{attribute: header}``."""
    if raw is None or not raw.strip():
        raise missing_parameter('query parameter columns_mapping is required, e.g. "uniq_id":"ID","name":"Name"')
    text = raw.strip()
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1]
    mapping: dict[str, str] = {}
    position = 0
    while position < len(text):
        match = _MAPPING_PAIR.match(text, position)
        if match is None:
            raise invalid_parameter(
                f'columns_mapping is not a list of "attribute":"Column" pairs (problem at character {position})'
            )
        mapping[match.group(1)] = match.group(2)
        position = match.end()
    if not mapping:
        raise invalid_parameter("columns_mapping maps no columns")
    return mapping


class ProblemList:
    """Validation messages, keeping the first :data:`MAX_REPORTED_ERRORS` and a total."""

    def __init__(self) -> None:
        self.messages: list[str] = []
        self.total = 0

    def add(self, message: str) -> None:
        self.total += 1
        if len(self.messages) < MAX_REPORTED_ERRORS:
            self.messages.append(message)

    def reported(self) -> list[str]:
        hidden = self.total - len(self.messages)
        return self.messages + ([f"... and {hidden} more problems"] if hidden else [])


def check_date(value: str, json_mode: bool) -> str | None:
    """A problem with a CRM date/date-time string, or None when it is fine (§5.9)."""
    match = _DATE_TIME.fullmatch(value.strip())
    if match is None or (not json_mode and (match["sep"] == "T" or match["frac"] or match["z"])):
        return f"{value!r} is not a date in a supported format (e.g. 2024-05-31 or 2024-05-31 12:00:00)"
    if json_mode and match["d"]:
        return f"{value!r}: JSON dates are yyyy-MM-dd or yyyy-MM-dd HH:mm:ss"
    if match["y"] is not None:
        day, month, year = int(match["d"]), int(match["m"]), int(match["y"])
        if len(match["y"]) == 2:
            year += 1900 if year >= 69 else 2000
    else:
        day, month, year = int(match["D"]), int(match["M"]), int(match["Y"])
    try:
        dt.datetime(year, month, day, int(match["hh"] or 0), int(match["mm"] or 0), int(match["ss"] or 0))
    except ValueError as error:
        return f"{value!r} is not a valid date ({error})"
    if year < _EPOCH_YEAR:
        return f"{value!r} is before 1970"
    return None


def check_record(
    entity: CdpEntity, record: Mapping[str, Any], json_mode: bool, reported: Collection[str] = ()
) -> list[str]:
    """Problems of one contact/order (attribute -> value); ``reported`` fields were flagged file-wide."""
    required = (name for name in entity.required if name not in reported)
    problems = [f"{name} is required" for name in required if _is_empty(record.get(name))]
    for name, allowed in entity.fixed.items():
        value = record.get(name)
        if not _is_empty(value) and value not in allowed:
            problems.append(f"{name} must be {' or '.join(allowed)}, not {value!r}")
    for name in entity.date_fields:
        value = record.get(name)
        if _is_empty(value):
            continue
        problem = check_date(value, json_mode) if isinstance(value, str) else f"{value!r} is not a date string"
        if problem:
            problems.append(f"{name}: {problem}")
    for name in entity.email_fields:
        for email in _values(record.get(name)):
            if not _EMAIL.fullmatch(email):
                problems.append(f"{name}: {email!r} is not an email address")
    if entity.one_of and all(_is_empty(record.get(name)) for name in entity.one_of):
        problems.append(f"at least one of {', '.join(entity.one_of)} is required")
    return problems


def _is_empty(value: Any) -> bool:
    if isinstance(value, str):
        return not value.strip()
    return value is None or (isinstance(value, list | dict) and not value)


def _values(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [str(item) for item in value]
    return [item.strip() for item in str(value).split(",") if item.strip()]


class CdpCsvFile(CsvStream):
    """A CDP CSV upload, validated row by row as it streams in."""

    def __init__(
        self,
        entity: CdpEntity,
        mapping: Mapping[str, str] | None,
        delimiter: str,
        schema: SchemaRules | None = None,
    ):
        super().__init__(delimiter)
        self.entity = entity
        self.schema = schema
        self.mapping = dict(mapping) if mapping is not None else None
        self.problems = ProblemList()
        self._columns: dict[str, int] = {}
        self._missing: set[str] = set()

    def check_header(self, header: list[str]) -> None:
        positions = {name: index for index, name in reversed(list(enumerate(header)))}
        if self.mapping is None:
            self._columns = {name.lower(): index for name, index in positions.items()}
            needed = (*self.entity.required, *self.entity.columns)
            self._missing = {name for name in needed if name not in self._columns}
            for name in sorted(self._missing):
                self.problems.add(f"header: required column {name} is missing")
            return
        for attribute, column in self.mapping.items():
            unknown = self.schema.attribute_problem(attribute) if self.schema else None
            if unknown:
                self.problems.add(f"columns_mapping: {unknown}")
            if column in positions:
                self._columns[attribute] = positions[column]
            else:
                self._missing.add(attribute)
                self.problems.add(f"columns_mapping: column {column!r} (for {attribute}) is not in the file header")
        for name in self.entity.required:
            if name not in self.mapping:
                self._missing.add(name)
                self.problems.add(f"columns_mapping: required attribute {name} is not mapped to a column")

    def check_block(self, block: bytes) -> None:
        for row, fields in self.records(block):
            record = {name: fields[index] for name, index in self._columns.items() if index < len(fields)}
            for problem in check_record(self.entity, record, json_mode=False, reported=self._missing):
                self.problems.add(f"row {row}: {problem}")
            status = self.schema.status_problem(self.entity, record) if self.schema else None
            if status:
                self.problems.add(f"row {row}: {status}")


def check_json_upload(
    entity: CdpEntity, root: str, body: bytes, schema: SchemaRules | None = None
) -> tuple[int, ProblemList]:
    """Validate a ``{"contacts": [...]}`` / ``{"orders": [...]}`` body: (elements, problems).

    Under a ``schema``, statuses must be default or mapped and ``attribute_values`` may name
    only known attributes (an object keyed by name, or a list of ``{"name", ...}`` objects).
    """
    document = parse_json(body)
    if not isinstance(document, dict) or root not in document:
        raise invalid_parameter(f'request body must be a JSON object {{"{root}": [...]}}')
    items = document[root]
    if not isinstance(items, list) or not items:
        raise invalid_parameter(f"{root} must be a non-empty array")
    problems = ProblemList()
    for row, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            problems.add(f"row {row}: must be a JSON object")
            continue
        for problem in check_record(entity, item, json_mode=True):
            problems.add(f"row {row}: {problem}")
        if schema is not None:
            for problem in (schema.status_problem(entity, item), *map(schema.attribute_problem, _named(item))):
                if problem:
                    problems.add(f"row {row}: {problem}")
    return len(items), problems


def _named(item: Mapping[str, Any]) -> list[str]:
    """The attribute names an element's ``attribute_values`` uses."""
    values = item.get("attribute_values")
    if isinstance(values, Mapping):
        return [str(name) for name in values]
    if isinstance(values, list):
        return [str(value["name"]) for value in values if isinstance(value, Mapping) and "name" in value]
    return []
