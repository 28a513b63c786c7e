"""What an import does to the organization's data: validate each input, upsert it by natural key.

Each input is an upsert matched by ``id`` or by the resource's natural key (SKUs by ``code``,
customers by ``email``, prices by ``sku_code`` + ``price_list_id``, ...), so importing the same
inputs twice leaves the same records (https://docs.commercelayer.io/core/importing-resources).
Only a few attribute rules are modelled — enough to produce row errors a client must handle.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping
from typing import Any

#: Resource types the import API accepts (the official CLI's list,
#: https://github.com/commercelayer/commercelayer-cli-plugin-imports).
RESOURCE_TYPES = frozenset(
    {
        "addresses",
        "bundles",
        "coupons",
        "customer_addresses",
        "customer_payment_sources",
        "customer_subscriptions",
        "customers",
        "gift_cards",
        "line_items",
        "line_item_options",
        "orders",
        "price_tiers",
        "prices",
        "shipping_categories",
        "sku_lists",
        "sku_list_items",
        "sku_options",
        "skus",
        "stock_items",
        "stock_transfers",
        "tags",
        "tax_categories",
    }
)
NATURAL_KEYS: dict[str, tuple[str, ...]] = {
    "orders": ("number",),
    "coupons": ("code", "promotion_rule_id"),
    "skus": ("code",),
    "prices": ("sku_code", "price_list_id"),
    "stock_items": ("sku_code", "stock_location_id"),
    "gift_cards": ("code",),
    "customers": ("email",),
    "customer_subscriptions": ("customer_id", "reference"),
    "tax_categories": ("code", "tax_calculator_id"),
}
#: The attribute ``parent_resource_id`` stands for, per resource type.
PARENT_ATTRIBUTES = {
    "prices": "price_list_id",
    "stock_items": "stock_location_id",
    "orders": "market_id",
    "gift_cards": "market_id",
    "coupons": "promotion_rule_id",
    "tax_categories": "tax_calculator_id",
}
_REQUIRED = {
    "skus": ("code", "name"),
    "customers": ("email",),
    "prices": ("sku_code", "price_list_id", "amount_cents"),
    "stock_items": ("sku_code", "stock_location_id", "quantity"),
}
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def csv_inputs(text: str) -> list[dict[str, Any]]:
    """CSV inputs (header line first) as objects; empty cells are left out."""
    reader = csv.DictReader(io.StringIO(text))
    return [{key: value for key, value in row.items() if key and value not in (None, "")} for row in reader]


def with_parent(resource_type: str, item: Mapping[str, Any], parent_id: str | None) -> dict[str, Any]:
    """The input with the parent's id filled in where the input leaves it out."""
    attributes = dict(item)
    parent = PARENT_ATTRIBUTES.get(resource_type)
    if parent_id and parent and not attributes.get(parent):
        attributes[parent] = parent_id
    return attributes


def natural_key(resource_type: str, item: Mapping[str, Any]) -> str | None:
    """The key an input is matched by: its id, else its natural key; None when it has neither."""
    if item.get("id"):
        return f"id:{item['id']}"
    fields = NATURAL_KEYS.get(resource_type)
    if not fields or any(item.get(name) in (None, "") for name in fields):
        return None
    return "|".join(str(item[name]) for name in fields)


def problems(resource_type: str, item: Any) -> dict[str, list[str]]:
    """Attribute -> messages for an input that cannot be imported (empty when it can)."""
    if not isinstance(item, Mapping):
        return {"base": ["must be an object"]}
    found: dict[str, list[str]] = {}
    for name in _REQUIRED.get(resource_type, ()):
        if item.get(name) in (None, ""):
            found[name] = ["can't be blank"]
    email = item.get("email")
    if resource_type == "customers" and email and not _EMAIL.fullmatch(str(email)):
        found["email"] = ["is invalid"]
    for name in ("amount_cents", "quantity"):
        value = item.get(name)
        if value not in (None, "") and not str(value).lstrip("-").isdigit():
            found[name] = ["is not a number"]
    return found


def log_key(resource_type: str, item: Any, index: int) -> str:
    """How ``errors_log`` names an input: its natural key (a SKU's code), else its position."""
    if isinstance(item, Mapping):
        fields = NATURAL_KEYS.get(resource_type, ())
        if fields and item.get(fields[0]) not in (None, ""):
            return str(item[fields[0]])
        if item.get("id"):
            return str(item["id"])
    return str(index)
