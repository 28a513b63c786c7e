"""An extra link from an import task to its imports in the Commerce Layer dashboard.

The dashboard's Imports app (https://docs.commercelayer.io/provisioning/getting-started/applications)
lives under ``https://dashboard.commercelayer.io/<mode>/<organization slug>/apps/imports``; the link
opens the task's import when it made one, else the organization's list of imports.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_metrika.version_compat import BaseOperatorLink, XCom

DASHBOARD = "https://dashboard.commercelayer.io"
IMPORTS_XCOM_KEY = "commercelayer_imports"
_DOMAIN = ".commercelayer.io"


def organization_slug(organization: str) -> str:
    """``acme`` for ``acme.commercelayer.io``; any other host as it is."""
    host = organization.split(":", 1)[0]
    return host.removesuffix(_DOMAIN) if host.endswith(_DOMAIN) else host


def imports_url(organization: str, import_ids: list[str], mode: str = "live") -> str:
    """The import's page in the dashboard (the list of imports when there are several or none)."""
    base = f"{DASHBOARD}/{'test' if mode == 'test' else 'live'}/{organization_slug(organization)}/apps/imports/list"
    return f"{base}/{import_ids[0]}" if len(import_ids) == 1 else base


def remember_imports(context: Any, organization: str, import_ids: list[str], mode: str) -> None:
    """Record where the task's imports are, for its link (pushed as soon as they exist)."""
    ti = context.get("ti") if hasattr(context, "get") else None
    if ti is not None:
        ti.xcom_push(key=IMPORTS_XCOM_KEY, value={"organization": organization, "ids": import_ids, "mode": mode})


class CommerceLayerImportLink(BaseOperatorLink):
    """ "Commerce Layer: imports": the task's import (or imports) in the Commerce Layer dashboard."""

    name = "Commerce Layer: imports"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        value = XCom.get_value(ti_key=ti_key, key=IMPORTS_XCOM_KEY)
        if not isinstance(value, dict) or not isinstance(value.get("organization"), str):
            return ""
        ids = [str(i) for i in value.get("ids") or []]
        return imports_url(value["organization"], ids, str(value.get("mode") or "live"))
