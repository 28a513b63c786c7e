"""Connection forms of Airflow < 3.2, built from the provider info (``conn-fields``, ``ui-field-behaviour``).

Airflow 3.2+ reads ``conn-fields`` from :func:`airflow_provider_metrika.get_provider_info`
itself; older UIs call the hook's ``get_connection_form_widgets``/``get_ui_field_behaviour``,
which these functions answer from the same entry, so the two never drift apart.
"""

from __future__ import annotations

import copy
from typing import Any

from airflow_provider_metrika import get_provider_info


def connection_type_info(conn_type: str) -> dict[str, Any]:
    return next(entry for entry in get_provider_info()["connection-types"] if entry["connection-type"] == conn_type)


def form_widgets(conn_type: str) -> dict[str, Any]:
    """WTForms fields for the extra fields: integer ones as IntegerField (with bounds), the rest as text."""
    from flask_appbuilder.fieldwidgets import BS3TextFieldWidget
    from flask_babel import lazy_gettext
    from wtforms import IntegerField, StringField
    from wtforms.validators import NumberRange, Optional

    widgets: dict[str, Any] = {}
    for name, spec in connection_type_info(conn_type)["conn-fields"].items():
        schema = spec.get("schema", {})
        label, description = lazy_gettext(spec["label"]), spec.get("description", "")
        if "integer" in schema.get("type", ()):
            bounds = NumberRange(min=schema.get("minimum"), max=schema.get("maximum"))
            widgets[name] = IntegerField(
                label, description=description, widget=BS3TextFieldWidget(), validators=[Optional(), bounds]
            )
        else:
            widgets[name] = StringField(label, description=description, widget=BS3TextFieldWidget())
    return widgets


def field_behaviour(conn_type: str) -> dict[str, Any]:
    """The ``ui-field-behaviour`` entry in the snake_case keys older UIs expect."""
    behaviour = connection_type_info(conn_type)["ui-field-behaviour"]
    return {key.replace("-", "_"): copy.deepcopy(value) for key, value in behaviour.items()}
