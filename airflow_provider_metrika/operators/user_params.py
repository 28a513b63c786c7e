"""Upload user (visitor) parameters: upload, confirm, then wait like every other kind."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow_provider_metrika.exceptions import MetrikaConfigError
from airflow_provider_metrika.fingerprint import comment_with
from airflow_provider_metrika.formats.user_params import is_triples_header
from airflow_provider_metrika.hooks.metrika import MetrikaHook
from airflow_provider_metrika.jobs.inputs import PreparedInput
from airflow_provider_metrika.jobs.journal import SendJournal, SentRecord
from airflow_provider_metrika.operators.upload import MetrikaBaseUploadOperator
from airflow_provider_metrika.uploads import USER_PARAMS_CONFIRMED_STATUSES, Uploading
from airflow_provider_metrika.version_compat import Context

ACTIONS = ("update", "delete_keys")
#: ``content_id_type`` as the docs' enum and production clients write it (lower case).
CONTENT_ID_TYPES = ("client_id", "user_id")
# Statuses Metrika reports once an uploading is confirmed; before that it is stored but not applied.
CONFIRMED_STATUSES = USER_PARAMS_CONFIRMED_STATUSES


class MetrikaUploadUserParamsOperator(MetrikaBaseUploadOperator):
    """Upload user parameters and confirm the uploading.

    The CSV has a ``ClientId`` or ``UserId`` column plus parameter columns, or no header at
    all: ``id,key,value`` triples, with ``content_id_type`` naming the id.

    :param action: ``update`` (add or overwrite parameters) or ``delete_keys`` (templated)
    :param content_id_type: ``client_id`` or ``user_id`` (templated); required for header-less triples,
        otherwise taken from Metrika's answer (it reads the id column)

    Metrika applies nothing until the uploading is confirmed, so the operator confirms it
    right away (also when a retry finds an unconfirmed uploading of its own). The confirm
    body carries the comment with the fingerprint: the upload page documents only ``action``
    (https://yandex.com/dev/metrika/en/management/openapi/user_params/upload), and a client
    tested against production sets the comment in the confirm body and reads it back
    (https://github.com/pikhovkin/yametrikapy). The comment is also sent with the upload,
    where Metrika may keep it.
    """

    kind = "user_params"
    template_fields: Sequence[str] = (*MetrikaBaseUploadOperator.template_fields, "action", "content_id_type")

    def __init__(self, *, action: str = "update", content_id_type: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.action = action
        self.content_id_type = content_id_type
        self._confirm_comments: dict[str, str] = {}

    def check_params(self) -> None:
        super().check_params()
        if self.action not in ACTIONS:
            raise MetrikaConfigError(f"action={self.action!r}: expected one of {', '.join(ACTIONS)}")
        if self.content_id_type is not None and str(self.content_id_type).lower() not in CONTENT_ID_TYPES:
            raise MetrikaConfigError(
                f"content_id_type={self.content_id_type!r}: expected one of {', '.join(CONTENT_ID_TYPES)}"
            )

    def upload_params(self, comment: str, source: PreparedInput) -> dict[str, Any]:
        if self.content_id_type is None and is_triples_header(source.first_row()):
            raise MetrikaConfigError(
                f"{source.name} has no header (id,key,value triples): give content_id_type='client_id' or "
                "'user_id', which the confirm must declare"
            )
        return {"action": self.action, "comment": comment}

    def upload_once(
        self, hook: MetrikaHook, counter_id: int, source: PreparedInput, opener: Any, comment: str, mark: str
    ) -> Uploading:
        uploading = super().upload_once(hook, counter_id, source, opener, comment, mark)
        self._confirm_comments[uploading.uploading_id] = comment
        return uploading

    def resume(
        self, hook: MetrikaHook, counter_id: int, context: Context, digest: str
    ) -> tuple[SendJournal, SentRecord | None, list[Uploading] | None]:
        journal, record, reattached = super().resume(hook, counter_id, context, digest)
        if record is not None and reattached is not None:
            for uploading, mark in zip(reattached, record.marks, strict=False):
                self._confirm_comments[uploading.uploading_id] = comment_with(self.comment, mark)
        return journal, record, reattached

    def after_upload(self, hook: MetrikaHook, counter_id: int, uploading: Uploading) -> Uploading:
        if uploading.status in CONFIRMED_STATUSES:
            return uploading
        self.log.info("Confirming user-params uploading %s", uploading.uploading_id)
        comment = self._confirm_comments.get(uploading.uploading_id, uploading.comment)
        body: dict[str, Any] = {"action": self.action, "comment": comment}
        content_id_type = str(self.content_id_type or uploading.raw.get("content_id_type") or "").lower()
        if content_id_type:
            body["content_id_type"] = content_id_type
        confirmed = hook.confirm_user_params(counter_id, uploading.uploading_id, body)
        if comment and confirmed.comment != comment:
            confirmed = hook.get_uploading(self.kind, counter_id, uploading.uploading_id)
        if comment and confirmed.comment != comment:
            self.log.warning(
                "Metrika did not keep the comment of user-params uploading %s (it reads %r): its fingerprint is "
                "lost, so below Airflow 3.3 a retry of this task cannot find it and would upload again",
                uploading.uploading_id,
                confirmed.comment,
            )
        return confirmed
