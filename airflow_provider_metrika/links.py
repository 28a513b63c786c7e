"""Extra links from a task to the Metrika web interface.

Metrika has no page per uploading: its interface lists a counter's uploadings on the
counter's settings page, tab "Upload data" (https://yandex.com/support/metrica/en/data/offline-conversion-data).
The link opens that settings page for the counter the task used.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_metrika.version_compat import BaseOperatorLink, XCom

#: The Metrika interface; the same account opens on metrika.yandex.com.
METRIKA_INTERFACE = "https://metrika.yandex.ru"
COUNTER_XCOM_KEY = "metrika_counter_id"


def counter_settings_url(counter_id: int) -> str:
    """The counter's settings page, where the "Upload data" tab lists its uploadings."""
    return f"{METRIKA_INTERFACE}/settings?id={int(counter_id)}"


def remember_counter(context: Any, counter_id: int) -> None:
    """Record the counter a task works on, for its link (pushed before anything can fail on Metrika's side)."""
    ti = context.get("ti")
    if ti is not None:  # None: called outside a task run (a test, a script): nothing to link
        ti.xcom_push(key=COUNTER_XCOM_KEY, value=int(counter_id))


class MetrikaUploadsLink(BaseOperatorLink):
    """ "Metrika: uploads": the counter's settings page, whose "Upload data" tab lists the uploadings."""

    name = "Metrika: uploads"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        counter_id = XCom.get_value(ti_key=ti_key, key=COUNTER_XCOM_KEY)
        if counter_id is None:
            return ""
        try:
            return counter_settings_url(counter_id)
        except (TypeError, ValueError):
            return ""
