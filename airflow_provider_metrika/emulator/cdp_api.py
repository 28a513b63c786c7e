"""Handlers of the CDP (CRM data) API: contacts, orders, simple orders, last_uploadings."""

from __future__ import annotations

import datetime as dt
import hashlib
import math

from aiohttp import web

from airflow_provider_metrika.cdp_schema import ENTITY_TYPES
from airflow_provider_metrika.emulator.cdp import (
    CDP_ENTITIES,
    CdpCsvFile,
    ProblemList,
    SchemaRules,
    check_json_upload,
    check_merge_mode,
    delimiter_of,
    parse_columns_mapping,
)
from airflow_provider_metrika.emulator.cdp_schema_api import load_schema
from airflow_provider_metrika.emulator.errors import invalid_parameter
from airflow_provider_metrika.emulator.lifecycle import CDP_KINDS
from airflow_provider_metrika.emulator.management_api import counter_id_of
from airflow_provider_metrika.emulator.receive import int_param, read_body, receive_file
from airflow_provider_metrika.emulator.state import STATE
from airflow_provider_metrika.emulator.store import StoredUploading
from airflow_provider_metrika.emulator.views import render_cdp_uploading

MAX_LAST_UPLOADINGS = 1000
# Metrika documents no size limit for JSON uploads; the emulator parses them whole, so it takes
# up to 64 MiB and answers 413 beyond (CSV uploads, streamed, take up to 1 GiB).
MAX_JSON_BYTES = 64 << 20


async def upload_csv(request: web.Request, kind: str) -> web.Response:
    """``data/contacts/csv``, ``data/orders/csv`` (with columns_mapping) and ``data/simple_orders``."""
    entity = CDP_ENTITIES[kind]
    check_merge_mode(request.query.get("merge_mode"))
    mapping = None if kind == "simple_orders" else parse_columns_mapping(request.query.get("columns_mapping"))
    schema = None if kind == "simple_orders" else _schema_rules(request, kind)
    checker = CdpCsvFile(entity, mapping, delimiter_of(request.query.get("delimiter_type")), schema)
    received = await receive_file(request, checker)
    if checker.rows == 0:
        checker.problems.add("file has no data rows")
    return _store(request, kind, "CSV", checker.rows, checker.problems, received.sha256, received.size)


async def upload_json(request: web.Request, kind: str) -> web.Response:
    """``data/contacts/json`` and ``data/orders/json``."""
    check_merge_mode(request.query.get("merge_mode"))
    body = await read_body(request, MAX_JSON_BYTES)
    elements, problems = check_json_upload(CDP_ENTITIES[kind], kind, body, _schema_rules(request, kind))
    return _store(request, kind, "JSON", elements, problems, hashlib.sha256(body).hexdigest(), len(body))


def _schema_rules(request: web.Request, kind: str) -> SchemaRules | None:
    """The counter's schema as upload checks use it; None under ``cdp_schema="lenient"``."""
    state = request.app[STATE]
    if state.config.cdp_schema != "strict":
        return None
    schema = load_schema(state, counter_id_of(request))
    return SchemaRules(schema.status_ids(), schema.attribute_names(ENTITY_TYPES[kind]))


def _store(
    request: web.Request, kind: str, uploading_format: str, elements: int, problems: ProblemList, sha256: str, size: int
) -> web.Response:
    state = request.app[STATE]
    # Strictly increasing millisecond datetimes keep the last_uploadings cursor exact,
    # even for several uploadings within one (frozen) emulator millisecond.
    created_ms = max(int(state.now() * 1000), state.store.last_created_ms(CDP_KINDS) + 1)
    uploading = StoredUploading(
        id=0,
        kind=kind,
        variant="",
        counter_id=counter_id_of(request),
        created=created_ms / 1000,
        created_ms=created_ms,
        comment=request.query.get("comment", ""),
        rows=elements,
        sha256=sha256,
        size=size,
        attrs={
            "api_validation_status": "FAILED" if problems.total else "PASSED",
            "api_validation_errors": problems.reported(),
            "entity_subtype": CDP_ENTITIES[kind].subtype,
            "uploading_format": uploading_format,
        },
    )
    state.store.add_uploading(uploading)
    return web.json_response({"uploading": render_cdp_uploading(uploading)})


async def last_uploadings(request: web.Request) -> web.Response:
    """Newest first; ``datetime_offset`` returns only uploadings strictly earlier."""
    state = request.app[STATE]
    limit = int_param(request.query, "limit", 10, minimum=1, maximum=MAX_LAST_UPLOADINGS)
    before_ms = _cursor_ms(request.query.get("datetime_offset"))
    source = request.query.get("source")
    if source and source.upper() != "API":
        return web.json_response({"uploadings": []})
    found = state.store.list_uploadings(CDP_KINDS, counter_id_of(request), before_ms=before_ms, limit=limit)
    return web.json_response({"uploadings": [render_cdp_uploading(uploading) for uploading in found]})


def _cursor_ms(raw: str | None) -> int | None:
    """``2020-02-10 10:00:00`` or ``2020-02-10T10:00:00.000Z`` (UTC unless a zone is given).

    Returned as the smallest millisecond not earlier than the cursor, so ``created_ms <
    result`` means "strictly earlier" exactly, whatever the cursor's precision.
    """
    if raw is None or raw == "":
        return None
    try:
        moment = dt.datetime.fromisoformat(raw.strip().replace(" ", "T", 1))
    except ValueError:
        raise invalid_parameter(
            f"datetime_offset must look like 2020-02-10 10:00:00 or 2020-02-10T10:00:00.000Z, not {raw!r}"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    micros = (moment - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) // dt.timedelta(microseconds=1)
    return math.ceil(micros / 1000)
