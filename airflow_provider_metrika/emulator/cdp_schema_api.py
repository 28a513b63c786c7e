"""Handlers of the CDP schema: order statuses, attributes, products, types; per-counter state.

What a counter has mapped or created decides what its CDP uploads may use
(https://yandex.ru/dev/metrika/en/data-import/maporderstatuses-about): under the
``cdp_schema="strict"`` switch an order whose status is neither default nor mapped, and a
mapping or ``attribute_values`` entry naming an attribute that is neither system nor
created, make the uploading ``FAILED``. JavaScript-goal ids are also valid statuses in
Metrika; the emulator knows no goals, so it accepts only the default and mapped ones.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from airflow_provider_metrika.cdp_schema import DEFAULT_ORDER_STATUSES, ORDER_STATUS_TYPES, SYSTEM_ATTRIBUTES
from airflow_provider_metrika.emulator.errors import invalid_parameter
from airflow_provider_metrika.emulator.management_api import counter_id_of
from airflow_provider_metrika.emulator.receive import parse_json, read_body
from airflow_provider_metrika.emulator.rules import check_choice
from airflow_provider_metrika.emulator.state import STATE, EmulatorState

SCHEMA_BODY_BYTES = 16 << 20
ENTITY_TYPES = (*SYSTEM_ATTRIBUTES, "COMPANY")
_NAME = re.compile(r"[\w:-]{1,255}")
_TYPES = ("text", "numeric", "date", "datetime", "email", "phone", "boolean", "product")
#: The old docs spell it CANCELED; both are read as CANCELLED.
_STATUS_ALIASES = {"CANCELED": "CANCELLED"}


@dataclasses.dataclass
class CounterSchema:
    """One counter's mapped statuses (id -> status object) and custom attributes (entity -> name -> attribute)."""

    order_statuses: dict[str, dict[str, Any]]
    attributes: dict[str, dict[str, dict[str, Any]]]
    products: dict[str, Any] | None = None

    def status_ids(self) -> frozenset[str]:
        return frozenset(DEFAULT_ORDER_STATUSES) | frozenset(self.order_statuses)

    def attribute_names(self, entity_type: str) -> frozenset[str]:
        return SYSTEM_ATTRIBUTES.get(entity_type, frozenset()) | frozenset(self.attributes.get(entity_type, {}))


def _key(counter_id: int) -> str:
    return f"cdp_schema:{counter_id}"


def load_schema(state: EmulatorState, counter_id: int) -> CounterSchema:
    stored = state.store.get_meta(_key(counter_id)) or {}
    return CounterSchema(stored.get("order_statuses", {}), stored.get("attributes", {}), stored.get("products"))


def _save(state: EmulatorState, counter_id: int, schema: CounterSchema) -> None:
    state.store.set_meta(_key(counter_id), dataclasses.asdict(schema))


async def _body(request: web.Request, root: str) -> list[Any]:
    document = parse_json(await read_body(request, SCHEMA_BODY_BYTES))
    items = document.get(root) if isinstance(document, dict) else None
    if not isinstance(items, list):
        raise invalid_parameter(f'request body must be a JSON object {{"{root}": [...]}}')
    return items


def _entity_type(request: web.Request) -> str:
    return check_choice("entity_type", request.query.get("entity_type"), ENTITY_TYPES)


def _success() -> web.Response:
    return web.json_response({"success": True})


async def get_order_statuses(request: web.Request) -> web.Response:
    schema = load_schema(request.app[STATE], counter_id_of(request))
    return web.json_response({"order_statuses": list(schema.order_statuses.values())})


async def map_order_statuses(request: web.Request) -> web.Response:
    """Add or re-map statuses by id; the whole body is checked before anything changes."""
    state, counter_id = request.app[STATE], counter_id_of(request)
    checked = [_order_status(position, item) for position, item in enumerate(await _body(request, "order_statuses"))]
    schema = load_schema(state, counter_id)
    schema.order_statuses.update({status["id"]: status for status in checked})
    _save(state, counter_id, schema)
    return _success()


def _order_status(position: int, item: Any) -> dict[str, Any]:
    if not isinstance(item, Mapping):
        raise invalid_parameter(f"order_statuses[{position}] must be an object")
    status_id = item.get("id")
    if not isinstance(status_id, str) or not _NAME.fullmatch(status_id):
        raise invalid_parameter(f"order_statuses[{position}].id must match ^[\\w:-]+$ (1-255 characters)")
    kind = _STATUS_ALIASES.get(str(item.get("type")).upper(), str(item.get("type")).upper())
    if kind not in ORDER_STATUS_TYPES:
        raise invalid_parameter(f"order_statuses[{position}].type must be one of {', '.join(ORDER_STATUS_TYPES)}")
    goals = item.get("goal_action_ids") or []
    if not isinstance(goals, list) or len(goals) > 10 or len(set(map(str, goals))) != len(goals):
        raise invalid_parameter(f"order_statuses[{position}].goal_action_ids must be at most 10 unique goal ids")
    humanized = str(item.get("humanized") or status_id)[:4096]
    return {"id": status_id, "type": kind, "humanized": humanized, "goal_action_ids": goals, "source": "USER"}


async def get_attributes(request: web.Request) -> web.Response:
    entity_type = _entity_type(request)
    schema = load_schema(request.app[STATE], counter_id_of(request))
    system = [
        {"name": name, "type_name": "text", "multivalued": False, "type_group": "PREDEFINED"}
        for name in sorted(SYSTEM_ATTRIBUTES.get(entity_type, ()))
    ]
    return web.json_response(
        {"system_attributes": system, "custom_attributes": list(schema.attributes.get(entity_type, {}).values())}
    )


async def create_attributes(request: web.Request) -> web.Response:
    """Create custom attributes; a system name or one that exists already is 400 (nothing is created)."""
    state, counter_id, entity_type = request.app[STATE], counter_id_of(request), _entity_type(request)
    schema = load_schema(state, counter_id)
    known = schema.attribute_names(entity_type)
    created: dict[str, dict[str, Any]] = {}
    for position, item in enumerate(await _body(request, "attributes")):
        attribute = _attribute(position, item)
        if attribute["name"] in known or attribute["name"] in created:
            raise invalid_parameter(f"attribute {attribute['name']!r} of {entity_type} exists already")
        created[attribute["name"]] = attribute
    schema.attributes.setdefault(entity_type, {}).update(created)
    _save(state, counter_id, schema)
    return _success()


def _attribute(position: int, item: Any) -> dict[str, Any]:
    if not isinstance(item, Mapping):
        raise invalid_parameter(f"attributes[{position}] must be an object")
    name = item.get("name")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise invalid_parameter(f"attributes[{position}].name must match ^[\\w:-]+$ (1-255 characters)")
    if not isinstance(item.get("multivalued"), bool):
        raise invalid_parameter(f"attributes[{position}].multivalued is required (true or false)")
    type_name = str(item.get("type_name") or "text").lower()
    if type_name not in _TYPES:
        raise invalid_parameter(f"attributes[{position}].type_name must be one of {', '.join(_TYPES)}")
    return {
        "name": name,
        "type_name": type_name,
        "multivalued": item["multivalued"],
        "type_group": "CUSTOM_LIST" if item["multivalued"] else "PREDEFINED",
        "humanized": str(item.get("humanized") or name)[:4096],
    }


async def create_products(request: web.Request) -> web.Response:
    state, counter_id = request.app[STATE], counter_id_of(request)
    document = parse_json(await read_body(request, SCHEMA_BODY_BYTES))
    if not isinstance(document, dict) or not isinstance(document.get("attributes"), list):
        raise invalid_parameter('request body must be {"attributes": [...], "items": [...]}')
    items = document.get("items", [])
    if not isinstance(items, list) or not all(isinstance(i, dict) and isinstance(i.get("name"), str) for i in items):
        raise invalid_parameter("items must be objects with a name")
    schema = load_schema(state, counter_id)
    schema.products = {"attributes": document["attributes"], "items": items}
    _save(state, counter_id, schema)
    return _success()


async def get_types(request: web.Request) -> web.Response:
    return web.json_response({"types": [{"humanized": name} for name in _TYPES]})
