"""The CRM (CDP) schema: order statuses and custom attributes a counter must know before data uses them.

Without mapping, only the order statuses ``PAID``, ``IN_PROGRESS``, ``CANCELLED`` and ``SPAM``
(and the counter's JavaScript-goal ids) are usable; a CRM's own statuses are mapped with
``schema/order_statuses`` (https://yandex.ru/dev/metrika/en/data-import/maporderstatuses-about).
A custom attribute must be created with ``schema/attributes`` before a ``columns_mapping`` or
``attribute_values`` names it (https://yandex.com/dev/metrika/en/management/openapi/schema/createAttributes).
This module holds that vocabulary, checks what a user declares, and says what is missing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from airflow_provider_metrika.exceptions import MetrikaConfigError
from airflow_provider_metrika.formats.cdp import CONTACTS, DEFAULT_ORDER_STATUSES, ORDERS, SIMPLE_ORDERS
from airflow_provider_metrika.uploads import CDP

ORDER_STATUSES_PATH = CDP + "/schema/order_statuses"
ATTRIBUTES_PATH = CDP + "/schema/attributes"
PRODUCTS_PATH = CDP + "/schema/products"

#: What a mapped status may mean (``OTHER``: reached goals only).
ORDER_STATUS_TYPES = (*DEFAULT_ORDER_STATUSES, "OTHER")
#: Upload kind -> CDP entity type (``entity_type`` of the attribute calls).
ENTITY_TYPES = {"contacts": "CONTACT", "orders": "ORDER", "simple_orders": "SIMPLE_ORDER"}
#: Attributes every counter has, per entity type (the documented fields of each upload format).
SYSTEM_ATTRIBUTES: dict[str, frozenset[str]] = {
    "CONTACT": frozenset(CONTACTS.fields),
    "ORDER": frozenset(ORDERS.fields),
    "SIMPLE_ORDER": frozenset(SIMPLE_ORDERS.fields),
}
ATTRIBUTE_TYPES = ("text", "numeric", "date", "datetime", "email", "phone", "boolean")
NAME = re.compile(r"[\w:-]{1,255}")


def order_status_list(value: Any, param: str = "order_statuses") -> list[dict[str, Any]]:
    """``{crm_status: type}`` or a list of ``{"id", "type", "humanized"?, "goal_action_ids"?}``, checked."""
    if isinstance(value, Mapping):
        value = [{"id": key, "type": kind} for key, kind in value.items()]
    if not isinstance(value, list | tuple):
        raise MetrikaConfigError(f"{param} must map CRM status ids to types, or list {{id, type}} objects")
    statuses = []
    for position, item in enumerate(value, start=1):
        if not isinstance(item, Mapping):
            raise MetrikaConfigError(f"{param} item {position} must be an object with id and type")
        status_id, kind = item.get("id"), str(item.get("type") or "").upper()
        if not isinstance(status_id, str) or not NAME.fullmatch(status_id):
            raise MetrikaConfigError(
                f"{param} item {position}: id {status_id!r} must be 1-255 letters, digits, '_', ':' or '-'"
            )
        if kind not in ORDER_STATUS_TYPES:
            raise MetrikaConfigError(
                f"{param} item {position} ({status_id}): type {item.get('type')!r} must be one of "
                f"{', '.join(ORDER_STATUS_TYPES)}"
            )
        statuses.append({**item, "id": status_id, "type": kind})
    return statuses


def attribute_lists(value: Any, param: str = "attributes") -> dict[str, list[dict[str, Any]]]:
    """``{entity_type: [attribute, ...]}``; an attribute is a name (a single ``text`` value) or an object
    ``{"name", "type_name", "multivalued", "humanized"}``. System attribute names are refused."""
    if not isinstance(value, Mapping):
        raise MetrikaConfigError(f"{param} must map entity types ({', '.join(SYSTEM_ATTRIBUTES)}) to attribute lists")
    result: dict[str, list[dict[str, Any]]] = {}
    for entity, attributes in value.items():
        entity_type = str(entity).upper()
        if entity_type not in SYSTEM_ATTRIBUTES:
            raise MetrikaConfigError(f"{param}: entity type {entity!r} must be one of {', '.join(SYSTEM_ATTRIBUTES)}")
        if isinstance(attributes, str) or not isinstance(attributes, list | tuple):
            raise MetrikaConfigError(f"{param}[{entity_type}] must be a list of attributes")
        result[entity_type] = [_attribute(item, f"{param}[{entity_type}]", entity_type) for item in attributes]
    return result


def _attribute(item: Any, where: str, entity_type: str) -> dict[str, Any]:
    attribute = {"name": item} if isinstance(item, str) else item
    if not isinstance(attribute, Mapping):
        raise MetrikaConfigError(f"{where}: {item!r} must be a name or an object with name and type_name")
    name = attribute.get("name")
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise MetrikaConfigError(f"{where}: attribute name {name!r} must be 1-255 letters, digits, '_', ':' or '-'")
    if name in SYSTEM_ATTRIBUTES[entity_type]:
        raise MetrikaConfigError(f"{where}: {name!r} is a system attribute of {entity_type}; it exists already")
    type_name = str(attribute.get("type_name") or "text").lower()
    if type_name not in ATTRIBUTE_TYPES:
        allowed = ", ".join(ATTRIBUTE_TYPES)
        raise MetrikaConfigError(f"{where}: {name}: type_name {type_name!r} must be one of {allowed}")
    multivalued = attribute.get("multivalued", False)
    if not isinstance(multivalued, bool):
        raise MetrikaConfigError(f"{where}: {name}: multivalued must be true or false")
    return {**attribute, "name": name, "type_name": type_name, "multivalued": multivalued}


def declared_status_ids(value: Any, param: str = "order_statuses") -> frozenset[str]:
    """The status ids of an ``order_statuses`` declaration: ids, ``{id: type}`` or ``[{id, type}]``."""
    if isinstance(value, Mapping):
        return frozenset(str(key) for key in value)
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise MetrikaConfigError(f"{param} must be a list of CRM status ids, {{id: type}} or [{{id, type}}]")
    ids = [item.get("id") if isinstance(item, Mapping) else item for item in value]
    if not all(isinstance(status_id, str) and status_id for status_id in ids):
        raise MetrikaConfigError(f"{param}: every status id must be a non-empty string")
    return frozenset(ids)


def missing_order_statuses(
    wanted: Iterable[Mapping[str, Any]], existing: Iterable[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """The wanted statuses the counter lacks, or maps to another type (those are mapped again)."""
    known = {item.get("id"): str(item.get("type") or "").upper() for item in existing}
    return [dict(status) for status in wanted if known.get(status["id"]) != status["type"]]


def attribute_names(answer: Mapping[str, Any]) -> set[str]:
    """Names of a ``schema/attributes`` answer's system and custom attributes."""
    names = set()
    for group in ("system_attributes", "custom_attributes"):
        for item in answer.get(group) or ():
            if isinstance(item, Mapping) and isinstance(item.get("name"), str):
                names.add(item["name"])
    return names


def missing_attributes(wanted: Iterable[Mapping[str, Any]], existing: Iterable[str]) -> list[dict[str, Any]]:
    known = set(existing)
    return [dict(attribute) for attribute in wanted if attribute["name"] not in known]
