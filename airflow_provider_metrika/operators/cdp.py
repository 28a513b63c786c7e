"""CRM (CDP) uploads: contacts, orders and simple orders.

Metrika validates CDP uploads synchronously and answers ``PASSED`` or ``FAILED``
(sometimes as an HTTP 400 instead): there is nothing to wait for. Re-sending the
same rows with a merge mode is idempotent, so no fingerprint search is needed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from airflow_provider_metrika.cdp_schema import ENTITY_TYPES, SYSTEM_ATTRIBUTES, declared_status_ids
from airflow_provider_metrika.exceptions import MetrikaConfigError, MetrikaNoRowsError, MetrikaValidationError
from airflow_provider_metrika.formats import ValidationOptions, get_file_format
from airflow_provider_metrika.formats.json_source import MAX_JSON_SOURCE_BYTES, iter_json_rows
from airflow_provider_metrika.formats.options import MERGE_MODES, parse_columns_mapping
from airflow_provider_metrika.hooks.metrika import MetrikaHook
from airflow_provider_metrika.jobs.fingerprint import fingerprint
from airflow_provider_metrika.jobs.inputs import PreparedInput, prepare_file, rows_to_records
from airflow_provider_metrika.jobs.journal import new_record
from airflow_provider_metrika.jobs.rejects import open_target, write_server_rejections
from airflow_provider_metrika.operators.upload import MetrikaBaseUploadOperator
from airflow_provider_metrika.parameters import is_template
from airflow_provider_metrika.uploads import Uploading, UploadState, get_upload_kind
from airflow_provider_metrika.version_compat import AirflowFailException, Context

DELIMITERS = {"COMMA": ",", "SEMICOLON": ";"}
#: The name problems in ``rows=`` are reported under.
ROWS = "<rows>"


def check_merge_mode(merge_mode: Any) -> str:
    mode = str(merge_mode or "").upper()
    if mode not in MERGE_MODES:
        raise MetrikaConfigError(
            f"merge_mode={merge_mode!r}: required, one of {', '.join(MERGE_MODES)} "
            "(SAVE replaces all attributes, UPDATE changes the given ones, APPEND adds values)"
        )
    return mode


def check_delimiter_type(delimiter_type: Any) -> str:
    name = str(delimiter_type or "COMMA").upper()
    if name not in DELIMITERS:
        raise MetrikaConfigError(f"delimiter_type={delimiter_type!r}: expected COMMA or SEMICOLON")
    return name


def format_columns_mapping(mapping: Mapping[str, str]) -> str:
    """``{"uniq_id": "ID"}`` → ``"uniq_id":"ID"``, the string Metrika's ``columns_mapping`` wants."""
    if not mapping:
        raise MetrikaConfigError("columns_mapping: give at least one {metrika_attribute: csv_column} pair")
    pairs = []
    for attribute, column in mapping.items():
        for what, value in (("attribute", attribute), ("column", column)):
            if not isinstance(value, str) or not value or '"' in value:
                raise MetrikaConfigError(f"columns_mapping: {what} {value!r} must be a non-empty string without quotes")
        pairs.append(f'"{attribute}":"{column}"')
    return ",".join(pairs)


class MetrikaCdpUploadOperator(MetrikaBaseUploadOperator):
    """Shared behaviour of the CDP upload operators.

    :param merge_mode: ``SAVE``, ``UPDATE`` or ``APPEND`` (required, templated)
    :param columns_mapping: CSV only: ``{metrika_attribute: csv_column}``; defaults to the file's own header
        (columns already named like Metrika attributes)
    :param delimiter_type: CSV only: ``COMMA`` (default) or ``SEMICOLON``
    :param counter_timezone: the counter's ``time_zone_name`` (e.g. ``Europe/Moscow``), to convert aware datetimes
        in ``rows`` to the counter-local times Metrika wants; naive datetimes are taken as counter-local already
    :param custom_attributes: names of custom attributes the counter has (created with
        ``MetrikaCdpEnsureSchemaOperator``); without ``columns_mapping`` these and the system attributes are mapped,
        other columns are left out with a warning (Metrika refuses a mapping to an unknown attribute)
    """

    template_fields: Sequence[str] = (
        *MetrikaBaseUploadOperator.template_fields,
        "merge_mode",
        "columns_mapping",
        "delimiter_type",
        "counter_timezone",
        "custom_attributes",
    )
    takes_columns_mapping = True

    def __init__(
        self,
        *,
        merge_mode: str,
        columns_mapping: Mapping[str, str] | None = None,
        delimiter_type: str = "COMMA",
        counter_timezone: str | None = None,
        custom_attributes: Sequence[str] | None = None,
        **kwargs: Any,
    ) -> None:
        if kwargs.get("wait_for_completion"):
            raise MetrikaConfigError("wait_for_completion: Metrika validates CRM uploads synchronously")
        if kwargs.get("comment"):
            raise MetrikaConfigError("comment: Metrika's CRM (CDP) uploads take no comment")
        super().__init__(**kwargs)
        self.merge_mode = merge_mode
        self.columns_mapping = (
            columns_mapping if is_template(columns_mapping) else parse_columns_mapping(columns_mapping)
        )
        self.delimiter_type = delimiter_type
        self.counter_timezone = counter_timezone
        self.custom_attributes = custom_attributes

    def validation_options(self) -> ValidationOptions:
        return ValidationOptions(
            max_problems=self.max_problems,
            stale_rows=self.stale_rows,
            delimiter=DELIMITERS[check_delimiter_type(self.delimiter_type)],
            columns_mapping=parse_columns_mapping(self.columns_mapping) or None,
            merge_mode=check_merge_mode(self.merge_mode),
            counter_timezone=self.counter_timezone or None,
        )

    def upload_params(self, comment: str, source: PreparedInput) -> dict[str, Any]:
        params: dict[str, Any] = {
            "merge_mode": check_merge_mode(self.merge_mode),
            "delimiter_type": check_delimiter_type(self.delimiter_type),
        }
        if self.takes_columns_mapping:
            mapping = parse_columns_mapping(self.columns_mapping) or self.default_columns_mapping(
                source.name, source.first_row(DELIMITERS[params["delimiter_type"]])
            )
            params["columns_mapping"] = format_columns_mapping(mapping)
        return params

    def default_columns_mapping(self, file_name: str, header: Sequence[str]) -> dict[str, str]:
        """The file's columns named like a system attribute or a declared custom one, each mapped to itself."""
        entity_type = ENTITY_TYPES[self.kind]
        custom = self.custom_attributes or ()
        if isinstance(custom, str):
            raise MetrikaConfigError("custom_attributes must be a list of attribute names, not one string")
        known = SYSTEM_ATTRIBUTES[entity_type] | set(custom)
        mapping = {name: name for name in header if name in known}
        dropped = [name for name in header if name and name not in known]
        if dropped:
            self.log.warning(
                "%s: columns %s are neither %s system attributes nor declared in custom_attributes: not sent "
                "(create custom attributes with MetrikaCdpEnsureSchemaOperator, then list them in custom_attributes)",
                file_name,
                ", ".join(map(repr, dropped)),
                entity_type,
            )
        if not mapping:
            raise MetrikaConfigError(
                f"{file_name}: no column is named like a Metrika {entity_type} attribute; give columns_mapping"
            )
        return mapping

    def upload_once(
        self, hook: MetrikaHook, counter_id: int, source: PreparedInput, opener: Any, comment: str, mark: str
    ) -> Uploading:
        params = self.upload_params(comment, source)
        self.current_try.check(f"the {self.kind} upload")
        return hook.upload_file(self.kind, counter_id, opener, params=params, file_name="data.csv")

    def upload(
        self, hook: MetrikaHook, counter_id: int, context: Context, tmpdir: str
    ) -> tuple[list[Uploading], dict[str, Any]]:
        json_input = self.json_rows()
        if json_input is None:
            return super().upload(hook, counter_id, context, tmpdir)
        self.claim_upload(context)
        name, json_rows = json_input
        options = self.validation_options()
        fmt = get_file_format(self.file_format)
        body = fmt.to_json_body(json_rows, options=options, file_name=name)  # converts datetimes, decimals, lists
        digest = hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()
        extra = {"source": "rows" if name == ROWS else name, "rows": len(json_rows)}
        journal, record, reattached = self.resume(hook, counter_id, context, digest)
        if record is not None and reattached is not None:
            return reattached, extra
        self.current_try.check(f"the {self.kind} upload")
        uploading = hook.upload_json(self.kind, counter_id, body, params={"merge_mode": options.merge_mode})
        mark = fingerprint(context, digest)
        journal.write(new_record(self.kind, counter_id, mark, [mark]).with_part(0, uploading.uploading_id))
        if uploading.state is UploadState.FAILURE and self.rejected_rows_path:  # JSON rows: messages, no cells
            extra["rejected_rows"] = self.write_server_rejections(context, [uploading], None)
        return [uploading], extra

    def json_rows(self) -> tuple[str, list[Any]] | None:
        """What to send to the JSON endpoint, with the name problems are reported under: XCom rows
        (``<rows>``) or a ``.json`` file (its name); None means CSV.

        A file is read element by element with bounded sizes (:mod:`~airflow_provider_metrika.formats.json_source`)
        and refused whole above ``MAX_JSON_SOURCE_BYTES``: the body is held in memory to be sent.
        """
        if get_upload_kind(self.kind).json_path is None:
            return None
        if self._rows_given:
            return ROWS, list(rows_to_records(self._rows))
        if str(self.src).lower().endswith(".json"):
            source = prepare_file(self.src, source_conn_id=self.source_conn_id)
            if source.size > MAX_JSON_SOURCE_BYTES:
                raise MetrikaValidationError(
                    f"{source.name}: {source.size:,} bytes; a JSON source may be at most {MAX_JSON_SOURCE_BYTES:,} "
                    "(it is sent as one request body, held in memory): upload it as CSV, which streams"
                )
            with source.opener() as stream:
                rows = list(iter_json_rows(stream, source.name, get_upload_kind(self.kind).json_root))
            if not rows:
                raise MetrikaNoRowsError(f"{source.name}: no rows to upload")
            return source.name, rows
        return None

    def after_uploads(self, context: Context, source: PreparedInput, uploadings: list[Uploading]) -> dict[str, Any]:
        """A ``FAILED`` answer: Metrika's messages, with the cells of the rows they name, to ``rejected_rows_path``."""
        failed = [u for u in uploadings if u.state is UploadState.FAILURE]
        if not failed or not self.rejected_rows_path:
            return {}
        return {"rejected_rows": self.write_server_rejections(context, failed, source)}

    def write_server_rejections(
        self, context: Context, failed: list[Uploading], source: PreparedInput | None
    ) -> dict[str, Any]:
        messages = [message for u in failed for message in (u.raw.get("api_validation_errors") or [])]
        delimiter = self.validation_options().delimiter
        with open_target(self.rejected_rows_path, self.source_conn_id) as (location, out):
            count = write_server_rejections(out, messages, source, delimiter, self.log)
        return self.announce_rejected_rows(context, location, count)

    def after_upload(self, hook: MetrikaHook, counter_id: int, uploading: Uploading) -> Uploading:
        if uploading.state is UploadState.FAILURE:
            errors = uploading.raw.get("api_validation_errors") or []
            raise AirflowFailException(
                f"Metrika rejected {uploading.describe()}: " + ("; ".join(map(str, errors[:20])) or "no details given")
            )
        return uploading


class MetrikaUploadContactsOperator(MetrikaCdpUploadOperator):
    """Upload CRM contacts (``uniq_id`` required; emails/phones/client_ids to match visitors).

    Upload contacts before orders: Metrika links orders only to known contacts.
    """

    kind = "contacts"


class MetrikaUploadOrdersOperator(MetrikaCdpUploadOperator):
    """Upload CRM orders (``id``, ``client_uniq_id``, ``client_type``, ``create_date_time``, ``order_status``).

    :param order_statuses: the CRM status ids mapped in the counter (ids, or the ``{id: type}`` given to
        ``MetrikaCdpEnsureSchemaOperator``; templated). Rows with a status neither default (PAID, IN_PROGRESS,
        CANCELLED, SPAM) nor declared get a warning: Metrika fails orders with an unmapped status.
    """

    kind = "orders"
    template_fields: Sequence[str] = (*MetrikaCdpUploadOperator.template_fields, "order_statuses")

    def __init__(self, *, order_statuses: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.order_statuses = order_statuses

    def validation_options(self) -> ValidationOptions:
        options = super().validation_options()
        if self.order_statuses is None:
            return options
        return dataclasses.replace(options, order_statuses=declared_status_ids(self.order_statuses))


class MetrikaUploadSimpleOrdersOperator(MetrikaCdpUploadOperator):
    """Upload simplified orders (``data/simple_orders``): orders with contact fields inline, CSV only."""

    kind = "simple_orders"
    takes_columns_mapping = False
