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
        "connection-types": [_metrika_connection(), _commercelayer_connection(), _fleetio_connection()],
    }


def _asset_uris(scheme: str, module: str) -> dict[str, Any]:
    """One scheme's entry: the sanitizer, factory and OpenLineage converter of a vendor's ``assets`` module."""
    return {
        "schemes": [scheme],
        "handler": f"{module}.sanitize_uri",
        "factory": f"{module}.create_asset",
        "to_openlineage_converter": f"{module}.convert_asset_to_openlineage",
    }


_ASSET_URIS = [
    _asset_uris("metrika", "airflow_provider_metrika.assets"),
    _asset_uris("fleetio", "airflow_provider_metrika.fleetio.assets"),
    _asset_uris("commercelayer", "airflow_provider_metrika.commercelayer.assets"),
]


def _connection_type(
    conn_type: str, hook_class: str, hook_name: str, *, form: dict[str, Any], fields: dict[str, Any]
) -> dict[str, Any]:
    """One connection type: its hook, the form's standard fields (``form``) and its extra fields (``fields``)."""
    return {
        "connection-type": conn_type,
        "hook-class-name": hook_class,
        "hook-name": hook_name,
        "ui-field-behaviour": form,
        "conn-fields": fields,
    }


def _number_field(label: str, description: str, minimum: int, maximum: int | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": ["integer", "null"], "minimum": minimum}
    if maximum is not None:
        schema["maximum"] = maximum
    return {"label": label, "description": description, "schema": schema}


def _text_field(label: str, description: str) -> dict[str, Any]:
    return {"label": label, "description": description, "schema": {"type": ["string", "null"]}}


def _metrika_connection() -> dict[str, Any]:
    return _connection_type(
        CONN_TYPE,
        "airflow_provider_metrika.hooks.metrika.MetrikaHook",
        "Yandex Metrika",
        form={
            "hidden-fields": ["schema", "port", "login"],
            "relabeling": {"password": "OAuth token", "host": "API base URL"},
            "placeholders": {"host": DEFAULT_HOST, "password": "y0_AgAAAA..."},
        },
        fields={
            "counter_id": _number_field(
                "Default counter ID",
                "Used when an operator or sensor is not given counter_id. On Airflow 3 "
                "this field sits in the collapsed 'Extra Fields' section of the form.",
                1,
            ),
            "timeout": _number_field(
                "Read timeout (seconds)", "Per-request read timeout; uploads of large files may need more.", 1
            ),
            "max_retries": _number_field("Max retries", "Retries on connection errors, 429/420 and 5xx.", 0, 20),
        },
    )


_TIMEOUT_FIELD = _number_field("Read timeout (seconds)", "Per-request read timeout.", 1)
_RETRIES_FIELD = _number_field("Max retries", "Retries on connection errors, 429 and 5xx.", 0, 20)


def _commercelayer_connection() -> dict[str, Any]:
    return _connection_type(
        "commercelayer",
        "airflow_provider_metrika.commercelayer.hooks.CommerceLayerHook",
        "Commerce Layer",
        form={
            "hidden-fields": ["schema", "port"],
            "relabeling": {"login": "Client ID", "password": "Client secret", "host": "Base endpoint"},
            "placeholders": {"host": "https://<organization-slug>.commercelayer.io"},
        },
        fields={
            "auth_url": _text_field(
                "Token endpoint",
                "Defaults to https://auth.commercelayer.io/oauth/token; older organizations "
                "use https://<slug>.commercelayer.io/oauth/token.",
            ),
            "scope": _text_field("Scope", "Optional, e.g. market:code:europe or stock_location:id:xYZkjABcde."),
            "timeout": _TIMEOUT_FIELD,
            "max_retries": _RETRIES_FIELD,
        },
    )


def _fleetio_connection() -> dict[str, Any]:
    return _connection_type(
        "fleetio",
        "airflow_provider_metrika.fleetio.hooks.FleetioHook",
        "Fleetio",
        form={
            "hidden-fields": ["schema", "port"],
            "relabeling": {"login": "Account token", "password": "API key", "host": "API base URL"},
            "placeholders": {"host": "https://secure.fleetio.com"},
        },
        fields={
            "api_version": _text_field(
                "API version (X-Api-Version)",
                "Date version sent with every request; 2024-01-01 or later (the default).",
            ),
            "account": _text_field(
                "Account name",
                "Names this account in asset URIs (fleetio://<account>/<import type>) and job "
                "records; lowercase letters, digits, '.', '_', '-'. Defaults to the connection id.",
            ),
            "timeout": _TIMEOUT_FIELD,
            "max_retries": _RETRIES_FIELD,
        },
    )
