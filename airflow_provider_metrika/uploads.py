"""The upload-kind table and the Uploading record.

Every Metrika import is "validate -> upload -> uploading id -> wait for a terminal
status". The kinds differ only in endpoints, file format and status vocabulary, so
they are rows of one table that the hook, the sensor, the trigger and the emulator
all read. Adding a kind means adding a row, not a class.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

from airflow_provider_metrika.exceptions import MetrikaConfigError
from airflow_provider_metrika.jobs.record import JobRecord, JobState

MANAGEMENT = "/management/v1/counter/{counter_id}"
CDP = "/cdp/api/v1/counter/{counter_id}"


#: Provider-level meaning of a Metrika status (Metrika's statuses map onto running, success and failure).
UploadState = JobState

#: The vendor name of Metrika's job records.
VENDOR = "metrika"


@dataclasses.dataclass(frozen=True)
class UploadKind:
    """One row of the upload-kind table."""

    name: str
    upload_path: str
    file_format: str
    status_field: str
    id_field: str
    success_statuses: frozenset[str]
    failure_statuses: frozenset[str]
    list_path: str | None = None
    get_path: str | None = None
    confirm_path: str | None = None
    json_path: str | None = None
    json_root: str | None = None
    upload_params: Mapping[str, str] = dataclasses.field(default_factory=dict)
    list_params: Mapping[str, str] = dataclasses.field(default_factory=dict)
    synchronous: bool = False
    counters: tuple[str, ...] = ()

    @property
    def pollable(self) -> bool:
        """True when the uploading has a status to wait on (the CDP answers at once)."""
        return not self.synchronous and self.get_path is not None

    def state_of(self, status: str | None) -> JobState:
        """Map a Metrika status to running/success/failure; unknown statuses count as running."""
        if status is None:
            return UploadState.RUNNING
        if status in self.success_statuses:
            return UploadState.SUCCESS
        if status in self.failure_statuses:
            return UploadState.FAILURE
        return UploadState.RUNNING

    def path(self, template: str | None, counter_id: int, **kwargs: Any) -> str:
        if template is None:
            raise MetrikaConfigError(f"upload kind {self.name!r} has no such endpoint")
        return template.format(counter_id=counter_id, **kwargs)


_CONVERSION_COUNTERS = (
    "source_quantity",
    "line_quantity",
    "linked_quantity",
    "goal_not_found_quantity",
    "user_not_found_quantity",
)
_CONVERSION_STATUSES = dict(
    status_field="status",
    id_field="id",
    success_statuses=frozenset({"PROCESSED"}),
    failure_statuses=frozenset({"LINKAGE_FAILURE"}),
)
_CDP_STATUSES = dict(
    status_field="api_validation_status",
    id_field="uploading_id",
    success_statuses=frozenset({"PASSED"}),
    failure_statuses=frozenset({"FAILED"}),
    list_path=CDP + "/last_uploadings",
    synchronous=True,
    counters=("elements_count",),
)

# Expenses and their deletions are uploadings of one list (``type`` EXPENSES / REMOVES), UPLOADED ->
# IN_PROGRESS -> PROCESSED; no failure status is documented:
# https://yandex.com/dev/metrika/en/management/openapi/expense/findById_2
_EXPENSE_ENDPOINTS = dict(
    list_path=MANAGEMENT + "/expense/uploadings",
    get_path=MANAGEMENT + "/expense/uploading/{uploading_id}",
    status_field="status",
    id_field="id",
    success_statuses=frozenset({"PROCESSED"}),
    failure_statuses=frozenset(),
    counters=("source_quantity",),
)


def _conversion_kind(name: str, upload: str, listed: str = "", **extra: Any) -> UploadKind:
    """A kind of the offline-conversions family: ``<upload>``, ``<listed>uploadings``, ``<listed>uploading/{id}``."""
    base = MANAGEMENT + "/offline_conversions/"
    return UploadKind(
        name=name,
        upload_path=base + upload,
        list_path=base + listed + "uploadings",
        get_path=base + listed + "uploading/{uploading_id}",
        file_format=name,
        **({"counters": _CONVERSION_COUNTERS} | extra | _CONVERSION_STATUSES),  # type: ignore[arg-type]
    )


def _expense_kind(name: str, action: str) -> UploadKind:
    """Expenses or their removals: ``.../expense/<action>``, one list of uploadings for both."""
    return UploadKind(name=name, upload_path=f"{MANAGEMENT}/expense/{action}", file_format=name, **_EXPENSE_ENDPOINTS)  # type: ignore[arg-type]


def _cdp_kind(name: str, *, json: bool = True) -> UploadKind:
    """A CDP entity: ``/data/<name>/csv`` and ``/data/<name>/json`` (``{"<name>": [...]}``), or ``/data/<name>``."""
    if not json:
        return UploadKind(name=name, upload_path=f"{CDP}/data/{name}", file_format=name, **_CDP_STATUSES)  # type: ignore[arg-type]
    return UploadKind(
        name=name,
        upload_path=f"{CDP}/data/{name}/csv",
        json_path=f"{CDP}/data/{name}/json",
        json_root=name,
        file_format=name,
        **_CDP_STATUSES,  # type: ignore[arg-type]
    )


UPLOAD_KINDS: dict[str, UploadKind] = {
    kind.name: kind
    for kind in (
        _conversion_kind("offline_conversions", "upload"),
        _conversion_kind(
            "calls",
            "upload_calls",
            "calls_",
            counters=(*_CONVERSION_COUNTERS, "static_calls_quantity", "dynamic_calls_quantity"),
        ),
        # Chats share the offline-conversions endpoints, told apart by ``type=CHATS``
        # https://yandex.com/dev/metrika/en/management/openapi/chats/upload_chats
        _conversion_kind("chats", "upload", upload_params={"type": "CHATS"}, list_params={"type": "CHATS"}),
        UploadKind(
            name="user_params",
            upload_path=MANAGEMENT + "/user_params/uploadings/upload",
            list_path=MANAGEMENT + "/user_params/uploadings",
            get_path=MANAGEMENT + "/user_params/uploading/{uploading_id}",
            confirm_path=MANAGEMENT + "/user_params/uploading/{uploading_id}/confirm",
            file_format="user_params",
            status_field="status",
            id_field="id",
            success_statuses=frozenset({"processed"}),
            failure_statuses=frozenset({"linkage_failure"}),
            counters=("line_quantity", "linked_quantity", "linked_percentage"),
        ),
        _expense_kind("expenses", "upload"),
        _expense_kind("expense_removals", "delete"),
        _cdp_kind("contacts"),
        _cdp_kind("orders"),
        _cdp_kind("simple_orders", json=False),
    )
}


#: User-params statuses once the uploading is confirmed (before that Metrika stores it but applies nothing).
USER_PARAMS_CONFIRMED_STATUSES = frozenset({"is_processed", "processed", "linkage_failure"})


def get_upload_kind(kind: str | UploadKind) -> UploadKind:
    """Look a kind up by name, with an error that lists the valid names."""
    if isinstance(kind, UploadKind):
        return kind
    try:
        return UPLOAD_KINDS[kind]
    except KeyError:
        raise MetrikaConfigError(
            f"unknown upload kind {kind!r}; expected one of {', '.join(sorted(UPLOAD_KINDS))}"
        ) from None


@dataclasses.dataclass(frozen=True)
class Uploading:
    """An uploading as Metrika reports it, with the provider's reading of its status."""

    kind: str
    counter_id: int
    uploading_id: str
    status: str | None
    raw: Mapping[str, Any]

    @classmethod
    def from_api(cls, kind: str | UploadKind, counter_id: int, body: Mapping[str, Any]) -> Uploading:
        """Build from one uploading object (the value under ``uploading`` in a response)."""
        upload_kind = get_upload_kind(kind)
        uploading_id = body.get(upload_kind.id_field)
        if uploading_id is None:
            raise ValueError(f"Metrika {upload_kind.name} uploading has no {upload_kind.id_field!r} field")
        if isinstance(uploading_id, bool) or not isinstance(uploading_id, int | str) or not str(uploading_id).strip():
            raise ValueError(f"Metrika {upload_kind.name} uploading has an unusable {upload_kind.id_field!r}")
        for field in (upload_kind.status_field, "comment", "uploading_title"):
            if body.get(field) is not None and not isinstance(body[field], str):
                raise ValueError(f"Metrika {upload_kind.name} uploading has a non-text {field!r}")
        return cls(
            kind=upload_kind.name,
            counter_id=int(counter_id),
            uploading_id=str(uploading_id),
            status=body.get(upload_kind.status_field),
            raw=dict(body),
        )

    @property
    def upload_kind(self) -> UploadKind:
        return get_upload_kind(self.kind)

    @property
    def state(self) -> UploadState:
        return self.upload_kind.state_of(self.status)

    @property
    def comment(self) -> str:
        return str(self.raw.get("comment") or self.raw.get("uploading_title") or "")

    def counters(self) -> dict[str, int | float]:
        """The kind's row/link counters that Metrika filled in as numbers (missing or unreadable ones are omitted)."""
        found = {name: _number(self.raw.get(name)) for name in self.upload_kind.counters}
        return {name: value for name, value in found.items() if value is not None}

    def to_record(self) -> JobRecord:
        """The uploading as a kernel job record (scope: the counter id; extra: the comment)."""
        return JobRecord(
            vendor=VENDOR,
            kind=self.kind,
            scope=str(self.counter_id),
            job_id=self.uploading_id,
            status=self.status,
            state=self.state,
            counters=self.counters(),
            extra={"comment": self.comment},
        )

    def to_xcom(self) -> dict[str, Any]:
        """Small JSON-safe summary for XCom: ids, status and counters, never file contents."""
        return {
            "kind": self.kind,
            "counter_id": self.counter_id,
            "uploading_id": self.uploading_id,
            "status": self.status,
            "state": self.state.value,
            "comment": self.comment,
            **self.counters(),
        }

    def describe(self) -> str:
        """One line for logs and messages, in Metrika's words."""
        return describe_uploading(self.to_record())


def describe_uploading(record: JobRecord) -> str:
    """A Metrika job record in Metrika's words: ``calls uploading 7 of counter 42: status PROCESSED (...)``."""
    return record.describe("uploading", "of counter")


def linkage(counters: Mapping[str, int | float]) -> tuple[float, float] | None:
    """``(linked rows, rows that could link)`` from Metrika's counters; None when it reports no linkage.

    Static calls never link to visits (https://yandex.com/dev/metrika/en/management/calls), so for calls
    the rows that could link are the dynamic ones when Metrika counts them.
    """
    linked = counters.get("linked_quantity")
    lines = counters.get("line_quantity")
    if linked is None or lines is None:
        return None
    dynamic = counters.get("dynamic_calls_quantity")
    return linked, (dynamic if dynamic is not None else lines)


def all_static_calls(counters: Mapping[str, int | float]) -> bool:
    """Metrika counted static calls and no dynamic one: a linkage failure is then expected."""
    return bool(counters.get("static_calls_quantity")) and counters.get("dynamic_calls_quantity") == 0


def _number(value: Any) -> int | float | None:
    """A counter Metrika reported (a number, or digits as text); None when absent or unreadable."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None
