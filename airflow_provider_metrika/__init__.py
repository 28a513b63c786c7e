"""Apache Airflow provider for Yandex Metrika data import.

Airflow discovers this package through the ``apache_airflow_provider`` entry point,
which calls :func:`get_provider_info`. Nothing here imports Airflow, so discovery
stays cheap.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

CONN_TYPE = "yandex_metrika"
DEFAULT_HOST = "https://api-metrika.yandex.net"


def get_provider_info() -> dict[str, Any]:
    """Provider metadata for ``airflow providers list`` and the connection form.

    ``conn-fields``/``ui-field-behaviour`` serve Airflow >= 3.2; the hook's
    ``get_connection_form_widgets``/``get_ui_field_behaviour`` serve older UIs.
    """
    integration = "Yandex Metrika"
    return {
        "package-name": "airflow-provider-metrika",
        "name": "Yandex Metrika",
        "description": "Yandex Metrika data import: offline conversions, calls, user parameters, CRM data.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": integration,
                "external-doc-url": "https://yandex.com/dev/metrika/en/management/offline-conv",
                "tags": ["service"],
            },
            {
                "integration-name": "Commerce Layer",
                "external-doc-url": "https://docs.commercelayer.io/core/importing-resources",
                "tags": ["service"],
            },
            {
                "integration-name": "Fleetio",
                "external-doc-url": "https://developer.fleetio.com/docs/api/v-1-imports",
                "tags": ["service"],
            },
        ],
        "hooks": [
            {"integration-name": integration, "python-modules": ["airflow_provider_metrika.hooks.metrika"]},
            {"integration-name": "Commerce Layer", "python-modules": ["airflow_provider_metrika.commercelayer.hooks"]},
            {
                "integration-name": "Fleetio",
                "python-modules": [
                    "airflow_provider_metrika.fleetio.hooks",
                    "airflow_provider_metrika.fleetio.hooks_async",
                ],
            },
        ],
        "operators": [
            {
                "integration-name": integration,
                "python-modules": [
                    "airflow_provider_metrika.operators.upload",
                    "airflow_provider_metrika.operators.user_params",
                    "airflow_provider_metrika.operators.cdp",
                    "airflow_provider_metrika.operators.dry_run",
                    "airflow_provider_metrika.operators.cdp_schema",
                ],
            },
            {
                "integration-name": "Commerce Layer",
                "python-modules": ["airflow_provider_metrika.commercelayer.operators"],
            },
        ],
        "sensors": [
            {"integration-name": integration, "python-modules": ["airflow_provider_metrika.sensors.uploading"]},
            {"integration-name": "Fleetio", "python-modules": ["airflow_provider_metrika.fleetio.sensors"]},
            {
                "integration-name": "Commerce Layer",
                "python-modules": ["airflow_provider_metrika.commercelayer.sensors"],
            },
        ],
        "triggers": [
            {"integration-name": integration, "python-modules": ["airflow_provider_metrika.triggers.uploading"]},
            {
                "integration-name": "Fleetio",
                "python-modules": [
                    "airflow_provider_metrika.fleetio.triggers",
                    "airflow_provider_metrika.fleetio.watch",
                ],
            },
            {
                "integration-name": "Commerce Layer",
                "python-modules": ["airflow_provider_metrika.commercelayer.triggers"],
            },
        ],
        "extra-links": [
            "airflow_provider_metrika.links.MetrikaUploadsLink",
            "airflow_provider_metrika.commercelayer.links.CommerceLayerImportLink",
        ],
        # Airflow 3 reads asset-uris, Airflow 2 dataset-uris (same entries).
        "asset-uris": _ASSET_URIS,
        "dataset-uris": _ASSET_URIS,
        "connection-types": [
            {
                "connection-type": CONN_TYPE,
                "hook-class-name": "airflow_provider_metrika.hooks.metrika.MetrikaHook",
                "hook-name": "Yandex Metrika",
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "port", "login"],
                    "relabeling": {"password": "OAuth token", "host": "API base URL"},
                    "placeholders": {"host": DEFAULT_HOST, "password": "y0_AgAAAA..."},
                },
                "conn-fields": {
                    "counter_id": {
                        "label": "Default counter ID",
                        "description": "Used when an operator or sensor is not given counter_id. On Airflow 3 "
                        "this field sits in the collapsed 'Extra Fields' section of the form.",
                        "schema": {"type": ["integer", "null"], "minimum": 1},
                    },
                    "timeout": {
                        "label": "Read timeout (seconds)",
                        "description": "Per-request read timeout; uploads of large files may need more.",
                        "schema": {"type": ["integer", "null"], "minimum": 1},
                    },
                    "max_retries": {
                        "label": "Max retries",
                        "description": "Retries on connection errors, 429/420 and 5xx.",
                        "schema": {"type": ["integer", "null"], "minimum": 0, "maximum": 20},
                    },
                },
            },
            _commercelayer_connection(),
            _fleetio_connection(),
        ],
    }


_ASSET_URIS = [
    {
        "schemes": ["metrika"],
        "handler": "airflow_provider_metrika.assets.sanitize_uri",
        "factory": "airflow_provider_metrika.assets.create_asset",
        "to_openlineage_converter": "airflow_provider_metrika.assets.convert_asset_to_openlineage",
    },
    {
        "schemes": ["fleetio"],
        "handler": "airflow_provider_metrika.fleetio.assets.sanitize_uri",
        "factory": "airflow_provider_metrika.fleetio.assets.create_asset",
        "to_openlineage_converter": "airflow_provider_metrika.fleetio.assets.convert_asset_to_openlineage",
    },
    {
        "schemes": ["commercelayer"],
        "handler": "airflow_provider_metrika.commercelayer.assets.sanitize_uri",
        "factory": "airflow_provider_metrika.commercelayer.assets.create_asset",
        "to_openlineage_converter": "airflow_provider_metrika.commercelayer.assets.convert_asset_to_openlineage",
    },
]

_TIMEOUT_FIELD = {
    "label": "Read timeout (seconds)",
    "description": "Per-request read timeout.",
    "schema": {"type": ["integer", "null"], "minimum": 1},
}
_RETRIES_FIELD = {
    "label": "Max retries",
    "description": "Retries on connection errors, 429 and 5xx.",
    "schema": {"type": ["integer", "null"], "minimum": 0, "maximum": 20},
}


def _commercelayer_connection() -> dict[str, Any]:
    return {
        "connection-type": "commercelayer",
        "hook-class-name": "airflow_provider_metrika.commercelayer.hooks.CommerceLayerHook",
        "hook-name": "Commerce Layer",
        "ui-field-behaviour": {
            "hidden-fields": ["schema", "port"],
            "relabeling": {"login": "Client ID", "password": "Client secret", "host": "Base endpoint"},
            "placeholders": {"host": "https://<organization-slug>.commercelayer.io"},
        },
        "conn-fields": {
            "auth_url": {
                "label": "Token endpoint",
                "description": "Defaults to https://auth.commercelayer.io/oauth/token; older organizations "
                "use https://<slug>.commercelayer.io/oauth/token.",
                "schema": {"type": ["string", "null"]},
            },
            "scope": {
                "label": "Scope",
                "description": "Optional, e.g. market:code:europe or stock_location:id:xYZkjABcde.",
                "schema": {"type": ["string", "null"]},
            },
            "timeout": _TIMEOUT_FIELD,
            "max_retries": _RETRIES_FIELD,
        },
    }


def _fleetio_connection() -> dict[str, Any]:
    return {
        "connection-type": "fleetio",
        "hook-class-name": "airflow_provider_metrika.fleetio.hooks.FleetioHook",
        "hook-name": "Fleetio",
        "ui-field-behaviour": {
            "hidden-fields": ["schema", "port"],
            "relabeling": {"login": "Account token", "password": "API key", "host": "API base URL"},
            "placeholders": {"host": "https://secure.fleetio.com"},
        },
        "conn-fields": {
            "api_version": {
                "label": "API version (X-Api-Version)",
                "description": "Date version sent with every request; 2024-01-01 or later (the default).",
                "schema": {"type": ["string", "null"]},
            },
            "account": {
                "label": "Account name",
                "description": "Names this account in asset URIs (fleetio://<account>/<import type>) and job "
                "records; lowercase letters, digits, '.', '_', '-'. Defaults to the connection id.",
                "schema": {"type": ["string", "null"]},
            },
            "timeout": _TIMEOUT_FIELD,
            "max_retries": _RETRIES_FIELD,
        },
    }
