"""One job record and state model that every vendor maps its import jobs onto, and the one XCom shape.

A Metrika uploading, a Commerce Layer import and a Fleetio import are all "a job at a vendor, in a scope,
with a status, counters and row-level issues". The provider reads each vendor's status into a
:class:`JobState`; operators and sensors of every vendor return a :class:`JobsResult` (a ``TypedDict``:
https://docs.python.org/3/library/typing.html#typing.TypedDict) so downstream tasks read one shape.
"""

from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NotRequired, TypedDict

from airflow_provider_metrika.exceptions import MetrikaConfigError

#: Row-level issues kept per job; the rest are counted in ``issues_total``, not kept (XCom stays small).
MAX_ISSUES = 100


class JobState(enum.StrEnum):
    """The provider's reading of any vendor's job status."""

    RUNNING = "running"
    SUCCESS = "success"
    PARTIAL = "partial"
    FAILURE = "failure"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        """Everything but RUNNING: the vendor will not change its mind."""
        return self is not JobState.RUNNING


class JobSummary(TypedDict):
    """One job in XCom (JSON-safe)."""

    vendor: str
    kind: str
    scope: str
    id: str
    status: str | None
    state: str
    counters: dict[str, int | float]
    issues: list[str]
    issues_total: int
    extra: dict[str, Any]


class JobsResult(TypedDict):
    """What every operator and sensor of every vendor returns (the task's XCom ``return_value``).

    ``ids`` and ``jobs`` are always lists, also for one job. Operators may add the optional keys.
    """

    vendor: str
    ids: list[str]
    jobs: list[JobSummary]
    warnings: list[str]
    fingerprint: NotRequired[str]
    source: NotRequired[Any]
    rejected_rows: NotRequired[Any]
    report: NotRequired[Any]


def cap_issues(issues: Iterable[str], total: int | None = None) -> tuple[tuple[str, ...], int]:
    """Keep the first :data:`MAX_ISSUES` issues; return them with how many there were in all."""
    kept: list[str] = []
    count = 0
    for issue in issues:
        count += 1
        if len(kept) < MAX_ISSUES:
            kept.append(str(issue))
    return tuple(kept), max(count, total or 0)


def _counter(name: str, value: Any) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"job counter {name!r} must be a finite number, got {type(value).__name__}")
    return value


@dataclasses.dataclass(frozen=True)
class JobRecord:
    """A job as its vendor reports it, with the provider's reading of its status.

    ``status`` is the vendor's own word (``PROCESSED``, ``completed``, ``partially_complete``), ``state``
    the provider's reading. ``issues`` are capped at :data:`MAX_ISSUES` (``issues_total`` says how many
    there were). ``extra`` holds JSON-safe vendor details (a Metrika comment, a Commerce Layer reference).
    """

    vendor: str
    kind: str
    scope: str
    job_id: str
    status: str | None
    state: JobState
    counters: Mapping[str, int | float] = dataclasses.field(default_factory=dict)
    issues: tuple[str, ...] = ()
    issues_total: int = 0
    extra: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("vendor", "kind", "scope", "job_id"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise ValueError(f"job record: {name} must be non-empty text, got {value!r}")
        if self.status is not None and not isinstance(self.status, str):
            raise ValueError(f"job record: status must be text or None, got {type(self.status).__name__}")
        object.__setattr__(self, "state", JobState(self.state))
        counters = {str(k): _counter(str(k), v) for k, v in dict(self.counters).items()}
        object.__setattr__(self, "counters", counters)
        issues, total = cap_issues(self.issues, self.issues_total)
        object.__setattr__(self, "issues", issues)
        object.__setattr__(self, "issues_total", total)
        object.__setattr__(self, "extra", dict(self.extra))

    def to_summary(self) -> JobSummary:
        """The job's JSON-safe XCom entry: ids, status, counters and capped issues, never file contents."""
        return JobSummary(
            vendor=self.vendor,
            kind=self.kind,
            scope=self.scope,
            id=self.job_id,
            status=self.status,
            state=self.state.value,
            counters=dict(self.counters),
            issues=list(self.issues),
            issues_total=self.issues_total,
            extra=dict(self.extra),
        )

    def describe(self, noun: str = "job", scope_label: str = "in") -> str:
        """One line for logs and messages: which job, its status and counters (never contents or secrets).

        A vendor names things its way: Metrika says ``describe("uploading", "of counter")``.
        """
        counters = ", ".join(f"{k}={v}" for k, v in self.counters.items())
        text = f"{self.kind} {noun} {self.job_id} {scope_label} {self.scope}: status {self.status}"
        if counters:
            text += f" ({counters})"
        if self.issues_total:
            text += f"; {self.issues_total} issue{'s' if self.issues_total != 1 else ''}"
        return text


def jobs_result(
    vendor: str, records: Sequence[JobRecord | JobSummary], *, warnings: Iterable[str] = (), **extra: Any
) -> JobsResult:
    """Build the one XCom shape from records (or summaries already built); ``extra`` adds optional keys."""
    jobs = [r.to_summary() if isinstance(r, JobRecord) else JobSummary(**r) for r in records]
    result = JobsResult(vendor=vendor, ids=[job["id"] for job in jobs], jobs=jobs, warnings=list(warnings))
    result.update(extra)  # type: ignore[typeddict-item]
    return result


@dataclasses.dataclass(frozen=True)
class JobRef:
    """Which jobs a sensor should wait on, read from what a DAG author passed (often an upstream XCom)."""

    ids: tuple[str, ...]
    kind: str | None = None
    scope: str | None = None


def read_job_ref(value: Any, *, parameter: str = "job_id", vendor: str | None = None, one_kind: bool = False) -> JobRef:
    """Accept a JobsResult, a JobSummary, an id, or a list of ids / summaries (what a sensor is given).

    A JobsResult or JobSummary also tells the kind and scope of its jobs, so a sensor downstream of an
    operator needs only its XCom. One sensor waits in one scope of one vendor (``vendor``, when given), and
    on one kind when ``one_kind`` (Metrika reads each kind at its own endpoint): jobs of another vendor, of
    several scopes, or then of several kinds, are a configuration error.
    """
    ids: list[str] = []
    kinds: list[str] = []
    scopes: list[str] = []

    def check_vendor(item: Mapping[str, Any]) -> None:
        named = item.get("vendor")
        if vendor is not None and named is not None and named != vendor:
            raise MetrikaConfigError(
                f"{parameter}: the upstream jobs are {named!r} jobs, this task waits on {vendor!r}"
            )

    def visit(item: Any) -> None:
        if item is None or item == "" or item == []:
            return
        if isinstance(item, Mapping):
            if "jobs" in item and isinstance(item["jobs"], list | tuple):
                check_vendor(item)
                for job in item["jobs"]:
                    visit(job)
                if not item["jobs"] and "ids" in item:
                    visit(item["ids"])
                return
            if "id" in item and "state" in item:
                check_vendor(item)
                ids.append(_one_id(item["id"], parameter))
                if item.get("kind"):
                    kinds.append(str(item["kind"]))
                if item.get("scope"):
                    scopes.append(str(item["scope"]))
                return
            if "ids" in item:
                visit(item["ids"])
                return
            raise MetrikaConfigError(
                f"{parameter}: a dict must be a jobs result (with 'jobs' and 'ids') or one job (with 'id'), "
                f"got keys {sorted(map(str, item))}"
            )
        if isinstance(item, str | int) and not isinstance(item, bool):
            ids.append(_one_id(item, parameter))
            return
        if isinstance(item, Iterable) and not isinstance(item, bytes | bytearray):
            for element in item:
                visit(element)
            return
        raise MetrikaConfigError(f"{parameter}: unsupported value of type {type(item).__name__}")

    visit(value)
    if not ids:
        raise MetrikaConfigError(f"{parameter} is required: pass an id, a list of ids or the upstream task's XCom")
    for what, seen in (("kinds", kinds if one_kind else []), ("scopes", scopes)):
        if len(set(seen)) > 1:
            raise MetrikaConfigError(
                f"{parameter}: the jobs are of several {what} ({', '.join(sorted(set(seen)))}); "
                "wait on each with its own task"
            )
    return JobRef(
        ids=tuple(dict.fromkeys(ids)),
        kind=kinds[0] if kinds else None,
        scope=scopes[0] if scopes else None,
    )


def _one_id(value: Any, parameter: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise MetrikaConfigError(f"{parameter}: a job id must be text or a number, got {type(value).__name__}")
    text = str(value).strip()
    if not text:
        raise MetrikaConfigError(f"{parameter}: a job id is empty")
    return text
