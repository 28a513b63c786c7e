"""CRM (CDP) uploads: contacts, orders and simple orders.

Metrika validates CDP uploads synchronously and answers ``PASSED`` or ``FAILED``
(sometimes as an HTTP 400 instead): there is nothing to wait for, so these operators take the
kernel's sending base without its waiting part. Re-sending the same rows with a merge mode is
idempotent, so no fingerprint search is needed (the journal still reattaches a retry on 3.3+).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from typing import Any

from airflow_provider_metrika.cdp_schema import ENTITY_TYPES, SYSTEM_ATTRIBUTES, declared_status_ids
from airflow_provider_metrika.exceptions import ApiClientError, InputValidationError, NoRowsError, ProviderConfigError
from airflow_provider_metrika.formats import ValidationOptions, get_file_format
from airflow_provider_metrika.formats.json_source import MAX_JSON_SOURCE_BYTES, iter_json_rows
from airflow_provider_metrika.formats.options import MERGE_MODES, parse_columns_mapping
from airflow_provider_metrika.jobs.inputs import PreparedInput, prepare_file, rows_to_records
from airflow_provider_metrika.jobs.record import JobRecord, JobState
from airflow_provider_metrika.jobs.rejects import open_target, write_server_rejections
from airflow_provider_metrika.jobs.sending import Part
from airflow_provider_metrika.operators.upload import MetrikaSendOperator
from airflow_provider_metrika.parameters import is_template
from airflow_provider_metrika.uploads import get_upload_kind
from airflow_provider_metrika.version_compat import AirflowFailException, Context

DELIMITERS = {"COMMA": ",", "SEMICOLON": ";"}
#: The name problems in ``rows=`` are reported under.
ROWS = "<rows>"
#: Parameters of the upload operators that wait, which a synchronous CDP upload has no use for: why not.
NOT_FOR_CDP = {
    "comment": "Metrika's CRM (CDP) uploads take no comment",
    **{
        name: "Metrika validates CRM uploads synchronously: there is nothing to wait for"
        for name in (
            "wait_for_completion",
            "deferrable",
            "poll_interval",
            "max_poll_interval",
            "wait_timeout",
            "max_consecutive_failures",
            "linkage_failure",
            "min_linked_ratio",
            "on_low_linkage",
            "strict_comment",
        )
    },
}


def check_merge_mode(merge_mode: Any) -> str:
    mode = str(merge_mode or "").upper()
    if mode not in MERGE_MODES:
        raise ProviderConfigError(
            f"merge_mode={merge_mode!r}: required, one of {', '.join(MERGE_MODES)} "
            "(SAVE replaces all attributes, UPDATE changes the given ones, APPEND adds values)"
        )
    return mode


def check_delimiter_type(delimiter_type: Any) -> str:
    name = str(delimiter_type or "COMMA").upper()
    if name not in DELIMITERS:
        raise ProviderConfigError(f"delimiter_type={delimiter_type!r}: expected COMMA or SEMICOLON")
    return name


def format_columns_mapping(mapping: Mapping[str, str]) -> str:
    """``{"uniq_id": "ID"}`` → ``"uniq_id":"ID"``, the string Metrika's ``columns_mapping`` wants."""
    if not mapping:
        raise ProviderConfigError("columns_mapping: give at least one {metrika_attribute: csv_column} pair")
    pairs = []
    for attribute, column in mapping.items():
        for what, value in (("attribute", attribute), ("column", column)):
            if not isinstance(value, str) or not value or '"' in value:
                raise ProviderConfigError(
                    f"columns_mapping: {what} {value!r} must be a non-empty string without quotes"
                )
        pairs.append(f'"{attribute}":"{column}"')
    return ",".join(pairs)


class MetrikaCdpUploadOperator(MetrikaSendOperator):
    """Shared behaviour of the CDP upload operators: every parameter of
    :class:`~airflow_provider_metrika.operators.upload.MetrikaSendOperator`, and:

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
        *MetrikaSendOperator.template_fields,
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
        for name in sorted(set(kwargs) & set(NOT_FOR_CDP)):
            raise ProviderConfigError(f"{name}: {NOT_FOR_CDP[name]}")
        super().__init__(**kwargs)
        self._json_body: Any = None
        self._json_rows = 0
        self._context: Context | None = None
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

    def upload_params(self, part: Part) -> dict[str, Any]:
        source = part.source
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
            raise ProviderConfigError("custom_attributes must be a list of attribute names, not one string")
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
            raise ProviderConfigError(
                f"{file_name}: no column is named like a Metrika {entity_type} attribute; give columns_mapping"
            )
        return mapping

    def send_input(self, context: Context, tmpdir: str) -> tuple[list[JobRecord], dict[str, Any]]:
        self._context = context  # a refusal met while sending writes its rejected rows and announces them
        return super().send_input(context, tmpdir)

    # -- the JSON endpoints: rows from XCom or a .json file, sent as one body ------------------------

    def prepare_input(self, tmpdir: str) -> PreparedInput:
        """CSV as every kind; rows or a ``.json`` file: the JSON body, converted and checked, kept to be sent
        (and written to a file, whose bytes are the input's fingerprint)."""
        json_input = self.json_rows()
        if json_input is None:
            return super().prepare_input(tmpdir)
        name, json_rows = json_input
        self._json_rows = len(json_rows)
        self._json_body = get_file_format(self.file_format).to_json_body(
            json_rows, options=self.validation_options(), file_name=name
        )  # converts datetimes, decimals, lists
        path = f"{tmpdir}/{self.kind}.json"
        with open(path, "w", encoding="utf-8") as out:
            json.dump(self._json_body, out, sort_keys=True, default=str)
        return dataclasses.replace(prepare_file(path), name="rows" if name == ROWS else name)

    def check_rows(self, source: PreparedInput) -> None:
        if self._json_body is None:
            super().check_rows(source)  # a JSON body's rows were counted when it was read

    def plan_parts(self, source: PreparedInput, tmpdir: str) -> list[tuple[PreparedInput, Any]]:
        if self._json_body is None:
            return super().plan_parts(source, tmpdir)
        return [(source, self._json_body)]

    def send(self, part: Part, fingerprint: str) -> JobRecord:
        try:
            if self._json_body is not None:
                params = {"merge_mode": self.validation_options().merge_mode}
                return self.record_of(self.hook.upload_json(self.kind, self.counter, part.body, params=params))
            return self.record_of(
                self.hook.upload_file(
                    self.kind, self.counter, part.body, params=self.upload_params(part), file_name="data.csv"
                )
            )
        except ApiClientError as refused:
            if refused.status == 400:  # a FAILED validation may come as an HTTP 400 error body
                self.report_server_rejections(part.source, refused.message.split("; "))
            raise

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
                raise InputValidationError(
                    f"{source.name}: {source.size:,} bytes; a JSON source may be at most {MAX_JSON_SOURCE_BYTES:,} "
                    "(it is sent as one request body, held in memory): upload it as CSV, which streams"
                )
            with source.opener() as stream:
                rows = list(iter_json_rows(stream, source.name, get_upload_kind(self.kind).json_root))
            if not rows:
                raise NoRowsError(f"{source.name}: no rows to upload")
            return source.name, rows
        return None

    def after_sends(self, context: Context, source: PreparedInput, records: list[JobRecord]) -> dict[str, Any]:
        """A ``FAILED`` answer: Metrika's messages, with the cells of the rows they name, to ``rejected_rows_path``."""
        extra = super().after_sends(context, source, records)
        if self._json_body is not None:
            extra["rows"] = self._json_rows
        failed = [record for record in records if record.state is JobState.FAILURE]
        if failed and self.rejected_rows_path:
            messages = [m for r in failed for m in (self.uploadings[r.job_id].raw.get("api_validation_errors") or [])]
            extra["rejected_rows"] = self.write_server_rejections(context, messages, source)
        return extra

    def report_server_rejections(self, source: PreparedInput, messages: Sequence[Any]) -> None:
        """:meth:`write_server_rejections` while Metrika's refusal is on its way: a failure here is only logged."""
        if not self.rejected_rows_path or self._context is None:
            return
        try:
            self.write_server_rejections(self._context, messages, source)
        except Exception as error:  # the refusal is what the task reports
            self.log.warning("Could not write the rejected rows: %s: %s", type(error).__name__, error)

    def write_server_rejections(
        self, context: Context, messages: Sequence[Any], source: PreparedInput | None
    ) -> dict[str, Any]:
        """Metrika's messages with the cells of the rows they name (the JSON rows sent, or the CSV read again)."""
        delimiter = self.validation_options().delimiter
        records = None
        if self._json_body is not None:
            records = self._json_body[get_upload_kind(self.kind).json_root]
        with open_target(self.rejected_rows_path, self.source_conn_id) as (location, out):
            count = write_server_rejections(out, messages, source, delimiter, self.log, records=records)
        return self.announce_rejected_rows(context, location, count)

    def after_send(self, record: JobRecord) -> JobRecord:
        if record.state is JobState.FAILURE:
            uploading = self.uploadings.get(record.job_id)
            errors = (uploading.raw.get("api_validation_errors") if uploading else None) or []
            raise AirflowFailException(
                f"Metrika rejected {record.describe()}: " + ("; ".join(map(str, errors[:20])) or "no details given")
            )
        return record


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
