"""CRM (CDP) data (§5.5-5.9): contacts, orders and simple orders, as CSV and as JSON rows.

The three share one field vocabulary (dates not before 1970, emails, phones, decimals, goals), so
each is a table of :class:`CdpField` rows; one class compiles CSV headers (through
``columns_mapping``), checks JSON rows and converts values for both writers.
"""

from __future__ import annotations

import dataclasses
import numbers
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime, tzinfo
from decimal import Decimal
from typing import Any

from airflow_provider_metrika.formats.base import CellError, FileFormat, Source, open_binary, source_name
from airflow_provider_metrika.formats.checker import HeaderContext, RowRules, StreamChecker
from airflow_provider_metrika.formats.json_source import MAX_DEPTH, JsonSourceError, iter_json_rows
from airflow_provider_metrika.formats.normalize import normalize_email, normalize_phone
from airflow_provider_metrika.formats.options import ValidationOptions
from airflow_provider_metrika.formats.report import ValidationReport, raise_problem, shown
from airflow_provider_metrika.formats.values import (
    CellCheck,
    check_attribute_id,
    check_cdp_date,
    check_cdp_datetime,
    check_client_id,
    check_currency,
    check_decimal,
    check_email,
    check_goals_cell,
    check_items,
    check_json_date,
    check_json_datetime,
    check_md5,
    check_phone,
    check_products_cell,
    control_character_problem,
    make_equals_check,
    make_max_decimal_check,
    make_max_length_check,
    make_multi_check,
)
from airflow_provider_metrika.formats.writer import (
    as_list,
    is_missing,
    iter_records,
    to_cdp_time,
    to_decimal_text,
    to_text,
)

JsonCheck = Callable[[Any], "str | None"]
Convert = Callable[[Any, "tzinfo | None"], Any]
MAX_REVENUE = 9223372036854
MAX_COMMENT = 1000
MAX_GOALS = 100
ATTRIBUTE_VALUES = "attribute_values"
CONTACT_FIELDS = ("client_ids", "emails", "phones", "emails_md5", "phones_md5")
#: Order statuses usable without mapping (https://yandex.ru/dev/metrika/en/data-import/maporderstatuses-about).
DEFAULT_ORDER_STATUSES = ("PAID", "IN_PROGRESS", "CANCELLED", "SPAM")
UNMAPPED_STATUS = (
    "order_status is neither a default status (PAID, IN_PROGRESS, CANCELLED, SPAM) nor declared in order_statuses: "
    "Metrika fails orders with an unmapped status unless it is a JavaScript-goal id "
    "(map CRM statuses first with MetrikaCdpEnsureSchemaOperator)"
)


@dataclasses.dataclass(frozen=True)
class CdpField:
    """One CDP attribute: how its CSV cell and JSON value are checked, and how inputs are converted."""

    name: str
    csv_check: CellCheck | None
    json_check: JsonCheck
    to_csv: Convert
    to_json: Convert
    required: bool = False


def _scalar_json(check: CellCheck | None) -> JsonCheck:
    def json_check(value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            return f"must be a string or number, not {type(value).__name__}"
        if isinstance(value, str) and (problem := control_character_problem(value)) is not None:
            return problem
        return check(str(value)) if check is not None and str(value) else None

    return json_check


def text(name: str, check: CellCheck | None = None, required: bool = False) -> CdpField:
    return CdpField(name, check, _scalar_json(check), lambda v, _z: to_text(v), lambda v, _z: to_text(v), required)


def time(name: str, date_only: bool = False, required: bool = False) -> CdpField:
    csv_check = check_cdp_date if date_only else check_cdp_datetime
    json_check = check_json_date if date_only else check_json_datetime

    def check_json(value: Any) -> str | None:
        return json_check(value) if isinstance(value, str) else f"must be a string, not {type(value).__name__}"

    def to_json(value: Any, zone: tzinfo | None) -> str:
        if not date_only and isinstance(value, date) and not isinstance(value, datetime):
            value = datetime.combine(value, datetime.min.time())  # JSON date-times need a time of day
        return to_cdp_time(value, zone)

    return CdpField(name, csv_check, check_json, to_cdp_time, to_json, required)


def _json_number(value: Any, _zone: tzinfo | None) -> Any:
    text_value = to_decimal_text(value)
    problem = check_decimal(text_value) if text_value else f"{shown(value)} is not a decimal number"
    if problem is not None:
        raise ValueError(problem)
    number = Decimal(text_value)
    return int(number) if number == number.to_integral_value() and "." not in text_value else float(number)


def decimal(name: str, check: CellCheck = check_decimal) -> CdpField:
    def check_json(value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, numbers.Real | str):
            return f"must be a number, not {type(value).__name__}"
        try:
            return check(to_decimal_text(value))
        except ValueError as exc:
            return str(exc)

    return CdpField(name, check, check_json, lambda v, _z: to_decimal_text(v), _json_number)


def multi(
    name: str,
    item_check: CellCheck,
    max_items: int,
    normalise: Callable[[Any], Any] = to_text,
    json_item: Callable[[str], Any] = str,
) -> CdpField:
    def check_json(value: Any) -> str | None:
        if not isinstance(value, list):
            return f"must be a list, not {type(value).__name__}"
        if any(isinstance(item, bool) or not isinstance(item, str | int) for item in value):
            return "list items must be strings or integers"
        return check_items([str(item) for item in value], item_check, max_items)

    def to_csv(value: Any, _zone: tzinfo | None) -> str:
        return ",".join(dict.fromkeys(str(normalise(item)) for item in as_list(value)))

    def to_json(value: Any, _zone: tzinfo | None) -> list[Any]:
        return [json_item(item) for item in dict.fromkeys(str(normalise(item)) for item in as_list(value))]

    return CdpField(name, make_multi_check(item_check, max_items), check_json, to_csv, to_json)


_check_json_decimal = decimal("price").json_check


def _goal_items(value: Any) -> list[tuple[str, str]]:
    """Goals as (goal id, price text) from a cell string, dicts, pairs or bare ids."""
    if isinstance(value, str):
        return [(g.rpartition(":")[0] or g, g.rpartition(":")[2] if ":" in g else "") for g in as_list(value)]
    items = []
    for goal in as_list(value):
        if isinstance(goal, Mapping):
            price = goal.get("price")
            items.append((to_text(goal.get("goal_action_id", "")), "" if is_missing(price) else to_decimal_text(price)))
        elif isinstance(goal, tuple | list) and len(goal) == 2:
            items.append((to_text(goal[0]), to_decimal_text(goal[1])))
        else:
            items.append((to_text(goal), ""))
    return items


def _goals_to_csv(value: Any, _zone: tzinfo | None) -> str:
    return ",".join(f"{goal}:{price}" if price else goal for goal, price in _goal_items(value))


def _goals_to_json(value: Any, _zone: tzinfo | None) -> list[dict[str, Any]]:
    return [
        {"goal_action_id": goal, **({"price": _json_number(price, None)} if price else {})}
        for goal, price in _goal_items(value)
    ]


def _check_goals_json(value: Any) -> str | None:
    if not isinstance(value, list):
        return f"must be a list of {{goal_action_id, price}} objects, not {type(value).__name__}"
    if len(value) > MAX_GOALS:
        return f"has {len(value)} goals; at most {MAX_GOALS} allowed"
    for goal in value:
        if not isinstance(goal, Mapping) or not isinstance(goal.get("goal_action_id"), str):
            return "each goal must be an object with a string goal_action_id"
        problem = check_attribute_id(goal["goal_action_id"]) if goal["goal_action_id"] else "goal_action_id is empty"
        price = goal.get("price")
        if problem is None and price is not None:
            problem = _check_json_decimal(price)
        if problem is not None:
            return problem
    return None


GOALS = CdpField("goals", check_goals_cell, _check_goals_json, _goals_to_csv, _goals_to_json)


def _product_items(value: Any) -> list[tuple[str, str]]:
    if isinstance(value, str):
        return [(p.rpartition(":")[0], p.rpartition(":")[2]) for p in as_list(value)]
    if isinstance(value, Mapping):
        return [(to_text(k), to_decimal_text(v)) for k, v in value.items()]
    raise ValueError("products must be a {name: quantity} mapping or a 'Name:qty,...' cell")


def _check_products_json(value: Any) -> str | None:
    if not isinstance(value, Mapping):
        return f"must be an object {{product: quantity}}, not {type(value).__name__}"
    for name, quantity in value.items():
        if not isinstance(name, str) or not name:
            return "product names must be non-empty strings"
        problem = _check_json_decimal(quantity)
        if problem is not None:
            return f"{shown(name)}: {problem}"
    return None


PRODUCTS = CdpField(
    "products",
    check_products_cell,
    _check_products_json,
    lambda v, _z: ",".join(f"{name}:{qty}" for name, qty in _product_items(v)),
    lambda v, _z: {name: _json_number(qty, None) for name, qty in _product_items(v)},
)

COMMENT = text("user_comment", make_max_length_check(MAX_COMMENT))
CURRENCY = text("currency", check_currency)
CLIENT_IDS = multi("client_ids", check_client_id, 500, json_item=int)
EMAILS = multi("emails", check_email, 50, normalise=normalize_email)
PHONES = multi("phones", check_phone, 50, normalise=normalize_phone)
EMAILS_MD5 = multi("emails_md5", check_md5, 50, normalise=lambda v: to_text(v).lower())
PHONES_MD5 = multi("phones_md5", check_md5, 50, normalise=lambda v: to_text(v).lower())


class CdpFormat(FileFormat):
    """A CDP entity: CSV through ``columns_mapping`` with a chosen delimiter, and (contacts, orders) JSON.

    ``warn_if_empty`` columns must be in the file but may hold empty values (counted in a
    warning): simple orders' ``id``, which the docs' own example leaves empty in one row
    (https://yandex.ru/dev/metrika/en/data-import/simple-orders-data). ``status_field`` values
    that are neither default statuses nor in ``options.order_statuses`` are counted in a warning.
    """

    honours_delimiter = True

    def __init__(
        self,
        name: str,
        fields: Iterable[CdpField],
        json_root: str | None = None,
        any_of: tuple[str, ...] = (),
        warn_if_empty: tuple[str, ...] = (),
        status_field: str | None = None,
    ) -> None:
        self.name = name
        self.fields = {field.name: field for field in fields}
        self.json_root = json_root
        self.any_of = any_of
        self.warn_if_empty = warn_if_empty
        self.status_field = status_field

    # -- CSV -----------------------------------------------------------------------------
    def compile_rules(self, header: list[str], options: ValidationOptions, context: HeaderContext) -> RowRules:
        positions: dict[str, int] = {}
        for position, column in enumerate(header):
            positions.setdefault(column, position)
        mapping = options.columns_mapping
        if mapping:
            columns = {}
            for attribute, column in mapping.items():
                if column in positions:
                    columns[attribute] = column
                else:
                    context.problem(
                        column, f'columns_mapping entry "{attribute}":"{column}" names a column the file lacks'
                    )
        else:
            columns = {column: column for column in positions}
        where = " (map it in columns_mapping)" if mapping else ""
        for field in self.fields.values():
            if field.required and field.name not in columns:
                context.problem(field.name, f"required field {field.name} is missing{where}")
        for name in self.warn_if_empty:
            if name not in columns:
                context.problem(
                    name,
                    f"required column {name} is missing{where} (its values may be empty, the column may not)",
                )
        contact_columns = [name for name in self.any_of if name in columns]
        if self.any_of and not contact_columns:
            context.problem(None, f"no contact column: the header needs at least one of {', '.join(self.any_of)}")
        at = {attribute: positions[column] for attribute, column in columns.items()}
        unmapped = self._unmapped_status(options)
        return RowRules(
            warn_when=((at[self.status_field], columns[self.status_field], unmapped, UNMAPPED_STATUS),)
            if self.status_field in at
            else (),
            width=len(header),
            checks=tuple(
                (at[name], columns[name], field.csv_check)
                for name, field in self.fields.items()
                if name in at and field.csv_check is not None
            ),
            required=tuple((at[n], columns[n]) for n, f in self.fields.items() if f.required and n in at),
            any_of=((tuple(at[n] for n in contact_columns), f"no contact: fill one of {', '.join(contact_columns)}"),)
            if contact_columns
            else (),
            warn_if_empty=tuple(
                (at[n], columns[n], "empty id: the order cannot be updated later")
                for n in self.warn_if_empty
                if n in at
            ),
        )

    def _unmapped_status(self, options: ValidationOptions) -> Callable[[str], bool]:
        known = frozenset(DEFAULT_ORDER_STATUSES) | (options.order_statuses or frozenset())
        return lambda value: bool(value) and value not in known

    def encode_csv_row(self, row: Mapping[str, Any], options: ValidationOptions) -> dict[str, str]:
        return self._encode(row, options, json=False)

    def header_for(self, columns: Iterable[str]) -> list[str]:
        present = [*columns, *self.warn_if_empty]
        return [n for n in self.fields if n in present] + [n for n in present if n not in self.fields]

    def _encode(self, row: Mapping[str, Any], options: ValidationOptions, json: bool) -> dict[str, Any]:
        if not isinstance(row, Mapping):
            raise CellError(None, f"a row must be a mapping, not {type(row).__name__}")
        zone = options.counter_timezone
        encoded: dict[str, Any] = {}
        for key, value in row.items():
            name = str(key)
            field = self.fields.get(name)
            if is_missing(value):
                if not json:
                    encoded[name] = ""
                continue
            if field is None and json and name != ATTRIBUTE_VALUES:
                raise CellError(name, f"unknown field; custom attributes go under {ATTRIBUTE_VALUES}")
            try:
                if field is not None:
                    encoded[name] = field.to_json(value, zone) if json else field.to_csv(value, zone)
                else:
                    encoded[name] = value if json else to_text(value)
            except (ValueError, TypeError, ArithmeticError) as exc:
                raise CellError(name, str(exc)) from None
        return encoded

    # -- JSON ----------------------------------------------------------------------------
    def validate_rows(
        self, rows: Iterable[Mapping[str, Any]], options: ValidationOptions | None = None, file_name: str = "<rows>"
    ) -> ValidationReport:
        """JSON rows (contacts/orders) are checked as JSON values; "row N" is the N-th object (1-based).

        For simple orders (CSV only) rows are checked as the CSV writer would emit them.
        """
        if self.json_root is None:
            return super().validate_rows(rows, options, file_name)
        checker = self._json_checker(file_name, options)
        for index, row in enumerate(iter_records(rows), start=1):
            self._check_json_row(checker, index, row)
        return checker.finish(no_rows_message=f"no {self.json_root}: at least one is required", no_rows_row=None)

    def validate_json(
        self, source: Source, file_name: str | None = None, options: ValidationOptions | None = None
    ) -> ValidationReport:
        """Check a JSON body file (``{"orders": [...]}`` or a bare list) element by element, holding one
        element at a time; never raises for bad content. "row N" is the N-th element (1-based)."""
        if self.json_root is None:
            return super().validate_json(source, file_name, options)
        name = file_name or source_name(source)
        checker = self._json_checker(name, options)
        no_rows: str | None = f"no {self.json_root}: at least one is required"
        with open_binary(source) as stream:
            try:
                for index, row in enumerate(iter_json_rows(stream, name, self.json_root), start=1):
                    self._check_json_row(checker, index, row)
            except JsonSourceError as exc:
                problem = exc.problem
                if problem.row is None:
                    checker.add_problem(None, problem.column, problem.message)
                else:
                    checker.reject_row(problem.row, problem.column, problem.message)
                no_rows = None
        return checker.finish(no_rows_message=no_rows, no_rows_row=None)

    def _json_checker(self, file_name: str, options: ValidationOptions | None) -> StreamChecker:
        options = dataclasses.replace(options or ValidationOptions(), columns_mapping=None)
        checker = self.stream_checker(file_name, options, fail_fast=False)
        checker.take_header(list(self.fields))
        return checker

    def _check_json_row(self, checker: StreamChecker, index: int, row: Any) -> None:
        problems = self._json_row_problems(row)
        for column, message in problems:
            checker.add_problem(index, column, message)
        checker.record_row(ok=not problems)
        status = row.get(self.status_field) if self.status_field and isinstance(row, Mapping) else None
        if self._unmapped_status(checker.options)(str(status or "")):
            checker.count_warning(f"{UNMAPPED_STATUS} (field {self.status_field})")

    def _json_row_problems(self, row: Any) -> list[tuple[str | None, str]]:
        if not isinstance(row, Mapping):
            return [(None, f"must be an object, not {json_type(row)}")]
        problems: list[tuple[str | None, str]] = []
        for key, value in row.items():
            field = self.fields.get(key) if isinstance(key, str) else None
            if field is None:
                if key != ATTRIBUTE_VALUES:
                    problems.append((str(key), "unknown field"))
                elif nesting_depth(value, MAX_DEPTH) > MAX_DEPTH:
                    problems.append((ATTRIBUTE_VALUES, f"nested more than {MAX_DEPTH} levels deep"))
                continue
            if value is None or value == "" or value == []:
                continue
            message = field.json_check(value)
            if message is not None:
                problems.append((field.name, message))
        for field in self.fields.values():
            if field.required and row.get(field.name) in (None, "", []):
                problems.append((field.name, "is missing or empty; a value is required"))
        return problems

    def to_json_body(
        self,
        rows: Iterable[Mapping[str, Any]] | Any,
        options: ValidationOptions | None = None,
        file_name: str = "<rows>",
    ) -> dict[str, list[dict[str, Any]]]:
        """``{"contacts": [...]}`` / ``{"orders": [...]}`` with values converted, checked before returning.

        Problems name ``file_name`` (the JSON file, or ``<rows>``) and the row's 1-based index.
        """
        if self.json_root is None:
            return super().to_json_body(rows, options)
        options = options or ValidationOptions()
        encoded = []
        for index, row in enumerate(iter_records(rows), start=1):
            try:
                encoded.append(self._encode(row, options, json=True))
            except CellError as exc:
                raise_problem(file_name, index, exc.column, exc.reason)
        self.validate_rows(encoded, options, file_name).raise_for_problems()
        return {self.json_root: encoded}


def json_type(value: Any) -> str:
    """The JSON name of a value's type, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, numbers.Number):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list | tuple):
        return "a list"
    return type(value).__name__


def nesting_depth(value: Any, limit: int) -> int:
    """How deep lists and mappings nest in ``value``, counted without recursion and only up to ``limit + 1``."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, Mapping):
            children: Iterable[Any] = item.values()
        elif isinstance(item, list | tuple):
            children = item
        else:
            continue
        deepest = max(deepest, depth)
        if depth > limit:
            return depth
        stack.extend((child, depth + 1) for child in children)
    return deepest


CONTACTS = CdpFormat(
    "contacts",
    (
        text("uniq_id", required=True),
        text("name"),
        time("create_date_time"),
        time("update_date_time"),
        time("birth_date", date_only=True),
        CLIENT_IDS,
        multi("user_ids", lambda _v: None, 500),
        EMAILS,
        PHONES,
        EMAILS_MD5,
        PHONES_MD5,
        text("company_uniq_id"),
        COMMENT,
    ),
    json_root="contacts",
)

ORDERS = CdpFormat(
    "orders",
    (
        text("id", required=True),
        text("client_uniq_id", required=True),
        text("client_type", make_equals_check("CONTACT"), required=True),
        time("create_date_time", required=True),
        time("update_date_time"),
        time("finish_date_time"),
        text("order_status", check_attribute_id, required=True),
        decimal("revenue", make_max_decimal_check(MAX_REVENUE)),
        decimal("cost"),
        CURRENCY,
        GOALS,
        PRODUCTS,
        COMMENT,
    ),
    json_root="orders",
    status_field="order_status",
)

SIMPLE_ORDERS = CdpFormat(
    "simple_orders",
    (
        text("id"),
        time("create_date_time", required=True),
        text("client_uniq_id"),
        CLIENT_IDS,
        EMAILS,
        PHONES,
        EMAILS_MD5,
        PHONES_MD5,
        text("order_status", check_attribute_id),
        decimal("revenue", make_max_decimal_check(MAX_REVENUE)),
        decimal("cost"),
        GOALS,
        CURRENCY,
    ),
    any_of=CONTACT_FIELDS,
    warn_if_empty=("id",),
)
