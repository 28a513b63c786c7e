"""Rows that tests upload: the smallest valid row of a kind, with the fields a test cares about overridden."""

from __future__ import annotations

from typing import Any


def cdp_order(**fields: Any) -> dict[str, Any]:
    """A valid CDP order (the columns Metrika requires, a paid order of contact c1) with ``fields`` set over it."""
    return {
        "id": "o1",
        "client_uniq_id": "c1",
        "client_type": "CONTACT",
        "create_date_time": "2024-01-01 10:00:00",
        "order_status": "PAID",
        **fields,
    }
