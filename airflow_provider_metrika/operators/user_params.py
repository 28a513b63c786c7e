"""Upload user (visitor) parameters: upload, confirm, then wait like every other kind."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow_provider_metrika.exceptions import ProviderConfigError
from airflow_provider_metrika.fingerprint import comment_with
from airflow_provider_metrika.formats.user_params import is_triples_header
from airflow_provider_metrika.jobs.record import JobRecord
from airflow_provider_metrika.jobs.sending import Part, with_fingerprint
from airflow_provider_metrika.operators.upload import MetrikaBaseUploadOperator
from airflow_provider_metrika.uploads import USER_PARAMS_CONFIRMED_STATUSES

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

    def check_params(self) -> None:
        super().check_params()
        if self.action not in ACTIONS:
            raise ProviderConfigError(f"action={self.action!r}: expected one of {', '.join(ACTIONS)}")
        if self.content_id_type is not None and str(self.content_id_type).lower() not in CONTENT_ID_TYPES:
            raise ProviderConfigError(
                f"content_id_type={self.content_id_type!r}: expected one of {', '.join(CONTENT_ID_TYPES)}"
            )

    def upload_params(self, part: Part) -> dict[str, Any]:
        source = part.source
        if self.content_id_type is None and is_triples_header(source.first_row()):
            raise ProviderConfigError(
                f"{source.name} has no header (id,key,value triples): give content_id_type='client_id' or "
                "'user_id', which the confirm must declare"
            )
        return {"action": self.action, "comment": self.part_comment(part)}

    def after_send(self, record: JobRecord) -> JobRecord:
        """Confirm the uploading unless it is confirmed already (a retry may find an unconfirmed one of its own)."""
        if record.status in CONFIRMED_STATUSES:
            return record
        self.log.info("Confirming user-params uploading %s", record.job_id)
        mark = record.extra.get("fingerprint")
        uploading = self.uploadings.get(record.job_id)
        comment = comment_with(self.comment, mark) if mark else (uploading.comment if uploading else "")
        body: dict[str, Any] = {"action": self.action, "comment": comment}
        raw_type = uploading.raw.get("content_id_type") if uploading else None
        content_id_type = str(self.content_id_type or raw_type or "").lower()
        if content_id_type:
            body["content_id_type"] = content_id_type
        confirmed = self.hook.confirm_user_params(self.counter, record.job_id, body)
        if comment and confirmed.comment != comment:
            confirmed = self.hook.get_uploading(self.kind, self.counter, record.job_id)
        if comment and confirmed.comment != comment:
            self.log.warning(
                "Metrika did not keep the comment of user-params uploading %s (it reads %r): its fingerprint is "
                "lost, so below Airflow 3.3 a retry of this task cannot find it and would upload again",
                record.job_id,
                confirmed.comment,
            )
        return self.record_of(confirmed) if not mark else with_fingerprint(self.record_of(confirmed), mark)
