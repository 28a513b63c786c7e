"""What Commerce Layer says about a set of imports, as job records (the poller's status source).

Many imports are read in one ``GET /api/imports?filter[q][id_in]=…`` with a sparse fieldset, so
``inputs`` (up to 10,000 objects) is never pulled back
(https://docs.commercelayer.io/core/filtering-data, https://docs.commercelayer.io/core/sparse-fieldsets).
An import's status maps onto :class:`~airflow_provider_metrika.jobs.record.JobState`: ``pending`` and
``in_progress`` run; ``completed`` succeeds, or is partial when some inputs failed; ``interrupted``
(by ``_interrupt``, or by Commerce Layer when too many inputs failed) is cancelled
(https://docs.commercelayer.io/core/importing-resources).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from airflow_provider_metrika.commercelayer import VENDOR, api
from airflow_provider_metrika.commercelayer.hooks import CommerceLayerHook
from airflow_provider_metrika.commercelayer.hooks_async import CommerceLayerAsyncHook
from airflow_provider_metrika.commercelayer.policy import WARNING_PREFIX
from airflow_provider_metrika.exceptions import MetrikaClientError
from airflow_provider_metrika.jobs.record import JobRecord, JobState

#: The import's counters kept in a job record.
COUNTERS = ("inputs_size", "processed_count", "errors_count", "warnings_count", "destroyed_count")
#: What a job record keeps of an import besides its counters (JSON-safe, never inputs).
EXTRA = ("reference", "reference_origin", "parent_resource_id", "skip_errors", "created_at", "completed_at")
#: One issue line is cut here: a server's message is not a place to store a file.
MAX_ISSUE_CHARS = 300


def organization(base_url: str) -> str:
    """The scope of a connection's jobs: its base endpoint's host (``acme.commercelayer.io``)."""
    return urlsplit(base_url).netloc.lower()


def job_state(item: api.CommerceLayerImport) -> JobState:
    """pending/in_progress run; completed is a success or, with errors, partial; interrupted is cancelled."""
    if item.status in api.OPEN_STATUSES:
        return JobState.RUNNING
    if item.status == "completed":
        return JobState.PARTIAL if item.count("errors_count") else JobState.SUCCESS
    if item.status == "interrupted":
        return JobState.CANCELLED
    return JobState.FAILURE


def log_lines(log: Any, prefix: str = "") -> Iterator[str]:
    """``errors_log`` (``{input key: {attribute: [messages]}}``) or ``warnings_log`` (``{input key: [messages]}``,
    https://docs.commercelayer.io/core/importing-resources) as one line per message."""
    if not isinstance(log, Mapping):
        return
    for key, problems in log.items():
        where = f"{prefix}input {str(key)[:80]}"
        if isinstance(problems, Mapping):
            for attribute, messages in problems.items():
                listed = messages if isinstance(messages, list) else [messages]
                for message in listed:
                    yield f"{where}: {attribute} {message}"[:MAX_ISSUE_CHARS]
        else:
            for message in problems if isinstance(problems, list) else [problems]:
                yield f"{where}: {message}"[:MAX_ISSUE_CHARS]


def job_record(item: api.CommerceLayerImport, scope: str) -> JobRecord:
    """One import as a job record: counters, the errors and warnings as capped issues, its reference."""
    attributes = item.attributes
    errors = list(log_lines(attributes.get("errors_log")))
    warnings = list(log_lines(attributes.get("warnings_log"), WARNING_PREFIX))
    counters = {name: item.count(name) for name in COUNTERS if name in attributes}
    resource_type = attributes.get("resource_type")
    return JobRecord(
        vendor=VENDOR,
        kind=resource_type if isinstance(resource_type, str) and resource_type else "imports",
        scope=scope,
        job_id=item.id,
        status=item.status or None,
        state=job_state(item),
        counters=counters,
        issues=errors + warnings,
        issues_total=max(len(errors), item.count("errors_count")) + max(len(warnings), item.count("warnings_count")),
        extra={
            **{name: attributes[name] for name in EXTRA if _json_scalar(attributes.get(name))},
            **({"mode": item.mode} if item.mode else {}),
        },
    )


def _json_scalar(value: Any) -> bool:
    return isinstance(value, str | int | float | bool) and value != ""


def records_for(
    ids: Sequence[str], found: Mapping[str, api.CommerceLayerImport], scope: str
) -> dict[str, JobRecord | BaseException]:
    """Each id's record; an id Commerce Layer did not list gets a not-found error (deleted, or elsewhere)."""
    return {
        job_id: job_record(found[job_id], scope) if job_id in found else _not_found(job_id, scope) for job_id in ids
    }


def fetch_records(hook: CommerceLayerHook, ids: Sequence[str]) -> Callable[[], list[JobRecord]]:
    """The worker-side poll (a sensor's poke, an operator's blocking wait): the records of ``ids``, in order."""

    def fetch() -> list[JobRecord]:
        results = records_for(ids, hook.imports_by_id(ids), organization(hook.settings.base_url))
        for result in results.values():
            if isinstance(result, BaseException):
                raise result
        return [results[job_id] for job_id in ids]  # type: ignore[misc]

    return fetch


class CommerceLayerStatusSource:
    """The poller's way to learn the statuses of imports of one connection: one list request per 25 ids."""

    def __init__(self, conn_id: str, *, hook: CommerceLayerAsyncHook | None = None) -> None:
        self.hook = hook or CommerceLayerAsyncHook(conn_id)
        self.requests: dict[str, int] = {"list": 0}

    async def poll(self, ids: Sequence[str]) -> Mapping[str, JobRecord | BaseException]:
        wanted = list(dict.fromkeys(str(i) for i in ids))
        scope = organization((await self.hook.settings()).base_url)
        self.requests["list"] += len(api.by_id_chunks(wanted))
        return records_for(wanted, await self.hook.imports_by_id(wanted), scope)

    async def close(self) -> None:
        await self.hook.close()


def _not_found(job_id: str, scope: str) -> MetrikaClientError:
    return MetrikaClientError(
        404,
        "RECORD_NOT_FOUND",
        f"Commerce Layer lists no import {job_id} in {scope} (deleted, or another organization)",
        "GET",
        api.IMPORTS_PATH,
        service="Commerce Layer",
    )
