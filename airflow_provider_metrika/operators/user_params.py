"""Upload user (visitor) parameters: upload, confirm, then wait like every other kind."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow_provider_metrika.exceptions import MetrikaConfigError
from airflow_provider_metrika.hooks.metrika import MetrikaHook
from airflow_provider_metrika.operators.inputs import PreparedInput
from airflow_provider_metrika.operators.upload import MetrikaBaseUploadOperator
from airflow_provider_metrika.uploads import Uploading

ACTIONS = ("update", "delete_keys")
# Statuses Metrika reports once an uploading is confirmed; before that it is stored but not applied.
CONFIRMED_STATUSES = frozenset({"is_processed", "processed", "linkage_failure"})


class MetrikaUploadUserParamsOperator(MetrikaBaseUploadOperator):
    """Upload user parameters (CSV with a ``ClientId`` or ``UserId`` column) and confirm the uploading.

    :param action: ``update`` (add or overwrite parameters) or ``delete_keys`` (templated)

    Metrika applies nothing until the uploading is confirmed, so the operator confirms it
    right away (also when a retry finds an unconfirmed uploading of its own).
    """

    kind = "user_params"
    template_fields: Sequence[str] = (*MetrikaBaseUploadOperator.template_fields, "action")

    def __init__(self, *, action: str = "update", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.action = action

    def check_params(self) -> None:
        super().check_params()
        if self.action not in ACTIONS:
            raise MetrikaConfigError(f"action={self.action!r}: expected one of {', '.join(ACTIONS)}")

    def upload_params(self, comment: str, source: PreparedInput) -> dict[str, Any]:
        # `comment` is not in the user-params docs [verify]; the fingerprint search relies on it.
        return {"action": self.action, "comment": comment}

    def after_upload(self, hook: MetrikaHook, counter_id: int, uploading: Uploading) -> Uploading:
        if uploading.status in CONFIRMED_STATUSES:
            return uploading
        self.log.info("Confirming user-params uploading %s", uploading.uploading_id)
        fields = ("id", "action", "comment", "content_id_type")
        body = {key: uploading.raw[key] for key in fields if key in uploading.raw}
        return hook.confirm_user_params(counter_id, uploading.uploading_id, body)
