"""Ensure a counter's CRM (CDP) schema before data uses it: order statuses, custom attributes, products."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from airflow_provider_metrika.cdp_schema import (
    attribute_lists,
    attribute_names,
    missing_attributes,
    missing_order_statuses,
    order_status_list,
)
from airflow_provider_metrika.exceptions import MetrikaConfigError
from airflow_provider_metrika.hooks.metrika import MetrikaHook
from airflow_provider_metrika.version_compat import BaseOperator, Context


class MetrikaCdpEnsureSchemaOperator(BaseOperator):
    """Map CRM order statuses and create custom attributes a counter lacks; change nothing else.

    Idempotent: it reads the counter's schema, diffs, and sends only what is missing, so it
    can run before every orders upload. Without mapping Metrika knows only the statuses
    ``PAID``, ``IN_PROGRESS``, ``CANCELLED``, ``SPAM`` (and JavaScript-goal ids)
    (https://yandex.ru/dev/metrika/en/data-import/maporderstatuses-about); a custom attribute
    must exist before a ``columns_mapping`` or ``attribute_values`` names it.

    :param order_statuses: ``{crm_status_id: type}`` (type one of PAID, IN_PROGRESS, CANCELLED, SPAM, OTHER) or
        a list of ``{"id", "type", "humanized", "goal_action_ids"}`` (templated); a status mapped to another type
        is mapped again
    :param attributes: ``{entity_type: [name or {"name", "type_name", "multivalued", "humanized"}]}`` with entity
        types CONTACT, ORDER, SIMPLE_ORDER (templated); a bare name is a single ``text`` value
    :param products: ``{"attributes": [...], "items": [{"name", "humanized"}]}`` for ``schema/products``
        (templated); Metrika offers no way to read the product list back, so it is sent on every run
    :param counter_id: the counter; the connection's default when omitted (templated)

    Returns (XCom) what it created: ``{"order_statuses": [ids], "attributes": {entity_type: [names]},
    "products": bool}``.
    """

    template_fields: Sequence[str] = ("counter_id", "order_statuses", "attributes", "products", "metrika_conn_id")
    ui_color = "#ffdb4d"

    def __init__(
        self,
        *,
        order_statuses: Mapping[str, str] | Sequence[Mapping[str, Any]] | None = None,
        attributes: Mapping[str, Sequence[Any]] | None = None,
        products: Mapping[str, Any] | None = None,
        counter_id: int | str | None = None,
        metrika_conn_id: str = MetrikaHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if order_statuses is None and attributes is None and products is None:
            raise MetrikaConfigError(f"{type(self).__name__}: give order_statuses, attributes or products")
        self.order_statuses = order_statuses
        self.attributes = attributes
        self.products = products
        self.counter_id = counter_id
        self.metrika_conn_id = metrika_conn_id

    def execute(self, context: Context) -> dict[str, Any]:
        statuses = order_status_list(self.order_statuses) if self.order_statuses is not None else []
        attributes = attribute_lists(self.attributes) if self.attributes is not None else {}
        products = _products(self.products)
        hook = MetrikaHook(self.metrika_conn_id)
        counter_id = hook.resolve_counter_id(self.counter_id)
        created: dict[str, Any] = {"order_statuses": [], "attributes": {}, "products": False}
        if statuses:
            missing = missing_order_statuses(statuses, hook.get_order_statuses(counter_id))
            if missing:
                hook.map_order_statuses(counter_id, missing)
                self.log.info("Mapped order statuses: %s", ", ".join(f"{s['id']}={s['type']}" for s in missing))
            created["order_statuses"] = [status["id"] for status in missing]
        for entity_type, wanted in attributes.items():
            missing = missing_attributes(wanted, attribute_names(hook.get_attributes(counter_id, entity_type)))
            if missing:
                hook.create_attributes(counter_id, entity_type, missing)
                self.log.info("Created %s attributes: %s", entity_type, ", ".join(a["name"] for a in missing))
            created["attributes"][entity_type] = [attribute["name"] for attribute in missing]
        if products is not None:
            hook.create_products(counter_id, products["attributes"], products["items"])
            created["products"] = True
        if not any((created["order_statuses"], *created["attributes"].values(), created["products"])):
            self.log.info("Counter %s already has the schema asked for: nothing sent", counter_id)
        return created


def _products(value: Any) -> dict[str, list[Any]] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping) or not isinstance(value.get("items", []), list | tuple):
        raise MetrikaConfigError('products must be {"attributes": [...], "items": [{"name", "humanized"}, ...]}')
    attributes, items = value.get("attributes", []), value.get("items", [])
    if not isinstance(attributes, list | tuple) or not all(isinstance(item, Mapping) for item in [*attributes, *items]):
        raise MetrikaConfigError("products: attributes and items must be lists of objects")
    return {"attributes": list(attributes), "items": list(items)}
