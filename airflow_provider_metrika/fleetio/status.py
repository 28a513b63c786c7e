"""The statuses of Fleetio imports as the kernel's job records, in as few list requests as the API allows.

Fleetio has no read-one-import call: List Imports (https://developer.fleetio.com/docs/api/v-1-imports)
is the only way to learn a status. One scan (newest first, ``sort[id]=desc``, 100 a page) answers every
awaited import at once and stops at the page that reaches the smallest awaited id: waiting on the
imports of the day costs one request per poll unless more than 100 imports came after them.
Imports that end in failure get their failed rows
from List Row Results (https://developer.fleetio.com/docs/api/v-1-imports-results,
``filter[status][include]=error``), paged only until :data:`~airflow_provider_metrika.jobs.record.MAX_ISSUES`
are kept.

Statuses read as: ``complete`` success, ``partially_complete`` partial, ``failed``, ``incomplete``,
``rolled_back`` and ``unsupported`` failure; the rest (``new``, ``queued``, ``processing``,
``rolling_back``) running.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator, Iterable, Sequence
from typing import Any, Generic, TypeVar

from airflow_provider_metrika.exceptions import MetrikaApiError, MetrikaClientError, MetrikaError
from airflow_provider_metrika.fleetio import api
from airflow_provider_metrika.jobs.record import MAX_ISSUES, JobRecord, JobState

VENDOR = "fleetio"
STATES = {
    "complete": JobState.SUCCESS,
    "partially_complete": JobState.PARTIAL,
    "failed": JobState.FAILURE,
    "incomplete": JobState.FAILURE,
    "rolled_back": JobState.FAILURE,
    "unsupported": JobState.FAILURE,
}
PAGE_SIZE = 100


def job_state(status: str | None) -> JobState:
    """The provider's reading of a Fleetio import status (unknown words read as running)."""
    return STATES.get(status or "", JobState.RUNNING)


def import_record(
    item: api.FleetioImport, *, scope: str, issues: Sequence[str] = (), issues_total: int = 0, **extra: Any
) -> JobRecord:
    """An import as a job record: kind = import type, scope = the account's name, its failed rows as issues."""
    state = job_state(item.status)
    details = {
        "file_name": item.file_name,
        "note": item.note,
        "created_at": item.created_at,
        "completed_at": item.completed_at,
        **extra,
    }
    counters = {"error_rows": issues_total} if state in (JobState.PARTIAL, JobState.FAILURE) else {}
    return JobRecord(
        vendor=VENDOR,
        kind=item.type or "Import",
        scope=scope,
        job_id=str(item.id),
        status=item.status or None,
        state=state,
        counters=counters,
        issues=tuple(issues),
        issues_total=issues_total,
        extra={k: v for k, v in details.items() if v is not None},
    )


class ImportScan:
    """One poll's List Imports scan for a set of ids, without I/O (the sync and async readers drive it).

    ``query`` is the list query; feed each page to :meth:`take` until it says the scan is over.
    """

    def __init__(self, ids: Iterable[int]):
        self.wanted = set(ids)
        self.found: dict[int, api.FleetioImport] = {}
        self.query = api.import_query(sort="id", direction="desc")

    def take(self, page: api.KeysetPage) -> bool:
        """Read a page; True when nothing awaited can be on a later page."""
        lowest = None
        for record in page.records:
            item = api.FleetioImport.from_record(record)
            lowest = item.id
            if item.id in self.wanted:
                self.found[item.id] = item
        return self.found.keys() == self.wanted or (lowest is not None and lowest <= min(self.wanted))

    def missing(self) -> list[int]:
        return sorted(self.wanted - self.found.keys())


def not_found(import_id: int, scope: str) -> MetrikaClientError:
    return MetrikaClientError(
        404, "not_found", f"import {import_id} is not among the imports of Fleetio account {scope}", service=api.SERVICE
    )


def parse_ids(ids: Sequence[str]) -> dict[str, int | MetrikaError]:
    """Each awaited id as an import id, or the error naming the bad one."""
    parsed: dict[str, int | MetrikaError] = {}
    for raw in ids:
        try:
            parsed[raw] = api.import_id_of(raw)
        except MetrikaError as error:
            parsed[raw] = error
    return parsed


class RowIssues:
    """An import's failed rows as capped issue lines, page by page (no I/O)."""

    def __init__(self, import_id: int, secrets: Sequence[str] = ()):
        self.import_id = import_id
        self.secrets = tuple(secrets)
        self.issues: list[str] = []
        self.total = 0
        self._estimated = 0

    def request(self, cursor: str | None) -> tuple[str, dict[str, Any]]:
        return api.results_request(self.import_id, statuses=("error",), start_cursor=cursor, per_page=PAGE_SIZE)

    def take(self, page: api.KeysetPage) -> bool:
        """Read a page of error rows; True when enough are kept (the rest are only counted)."""
        if not self.issues and page.estimated_remaining_count is not None:
            self._estimated = page.estimated_remaining_count
        for row in page.records:
            self.total += 1
            if len(self.issues) < MAX_ISSUES:
                self.issues.append(api.row_issue(row, self.secrets))
        return len(self.issues) >= MAX_ISSUES

    def result(self) -> tuple[list[str], int]:
        # The estimate is capped at 500 by Fleetio: with more rows the total is a lower bound.
        return self.issues, max(self.total, self._estimated)


T = TypeVar("T")
Request = tuple[str, dict[str, Any]]
#: A poll as a plan: it yields the (path, query) of each GET, is sent each answer's JSON body (or thrown its
#: error), and returns each id's record or error. The sync and the async reader only carry the requests.
Plan = Generator[Request, dict[str, Any], dict[str, JobRecord | BaseException]]


def poll_plan(
    ids: Sequence[str],
    *,
    scope: str,
    requests: dict[str, int],
    secrets: Sequence[str] = (),
    row_issues: bool = True,
) -> Plan:
    """Learn the statuses of ``ids``: one List Imports scan, then the failed rows of failed imports.

    A failed scan answers every id with its error; rows that cannot be read leave the import's status
    standing (``row_results_error`` in its extra).
    """
    parsed = parse_ids(ids)
    answers: dict[str, JobRecord | BaseException] = {
        raw: n for raw, n in parsed.items() if isinstance(n, BaseException)
    }
    numbers = {raw: n for raw, n in parsed.items() if isinstance(n, int)}
    if not numbers:
        return answers
    scan = ImportScan(numbers.values())
    walk = api.CursorWalk()
    cursor: str | None = None
    try:
        while True:
            requests["list"] = requests.get("list", 0) + 1
            params = api.imports_params(scan.query, start_cursor=cursor, per_page=PAGE_SIZE)
            page = api.keyset_page((yield api.IMPORTS_PATH, params))
            if scan.take(page) or (cursor := walk.after(page)) is None:
                break
    except Exception as error:
        return {**answers, **dict.fromkeys(numbers, error)}
    for raw, number in numbers.items():
        item = scan.found.get(number)
        if item is None:
            answers[raw] = not_found(number, scope)
        elif row_issues and job_state(item.status) in (JobState.PARTIAL, JobState.FAILURE):
            answers[raw] = yield from _with_row_issues(item, scope=scope, requests=requests, secrets=secrets)
        else:
            answers[raw] = import_record(item, scope=scope)
    return {raw: answers[raw] for raw in ids}


def _with_row_issues(
    item: api.FleetioImport, *, scope: str, requests: dict[str, int], secrets: Sequence[str]
) -> Generator[Request, dict[str, Any], JobRecord]:
    rows = RowIssues(item.id, secrets)
    walk = api.CursorWalk()
    cursor: str | None = None
    try:
        while True:
            requests["results"] = requests.get("results", 0) + 1
            page = api.keyset_page((yield rows.request(cursor)))
            if rows.take(page) or (cursor := walk.after(page)) is None:
                break
    except MetrikaApiError as error:
        return import_record(item, scope=scope, row_results_error=str(error)[:500])
    issues, total = rows.result()
    return import_record(item, scope=scope, issues=issues, issues_total=total)


def search_plan(match: api.ImportMatch, *, requests: dict[str, int]) -> Generator[Request, dict[str, Any], list[str]]:
    """The ids of the imports ``match`` finds, oldest first: every page after ``created_after``, else the
    newest :data:`~airflow_provider_metrika.fleetio.api.UNBOUNDED_SEARCH_PAGES` pages. Errors propagate."""
    query = match.query()
    walk = api.CursorWalk()
    cursor: str | None = None
    found: list[str] = []
    for _ in range(10_000 if match.created_after else api.UNBOUNDED_SEARCH_PAGES):
        requests["list"] = requests.get("list", 0) + 1
        page = api.keyset_page(
            (yield api.IMPORTS_PATH, api.imports_params(query, start_cursor=cursor, per_page=PAGE_SIZE))
        )
        found += [str(i.id) for i in map(api.FleetioImport.from_record, page.records) if match.matches(i)]
        if (cursor := walk.after(page)) is None:
            break
    return found[::-1]


class PlanSteps(Generic[T]):
    """A plan between its requests, for either driver: the next request to carry, the answer (or the error)
    it got, and the plan's result once it returns."""

    def __init__(self, plan: Generator[Request, dict[str, Any], T]) -> None:
        self.plan = plan
        self.answer: dict[str, Any] | BaseException | None = None
        self.result: T | None = None

    def next_request(self) -> Request | None:
        """The plan's next request after the last answer; None once the plan has returned its result."""
        try:
            if isinstance(self.answer, BaseException):
                return self.plan.throw(self.answer)
            return self.plan.send(self.answer)  # type: ignore[arg-type]
        except StopIteration as done:
            self.result = done.value
            return None


def run_plan(plan: Generator[Request, dict[str, Any], T], get: Callable[[str, dict[str, Any]], dict[str, Any]]) -> T:
    """Carry a plan's requests with a blocking ``get(path, params)``."""
    steps = PlanSteps(plan)
    while (request := steps.next_request()) is not None:
        try:
            steps.answer = get(*request)
        except Exception as error:
            steps.answer = error
    return steps.result  # type: ignore[return-value]


async def arun_plan(
    plan: Generator[Request, dict[str, Any], T], get: Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]
) -> T:
    """Carry a plan's requests with an async ``get(path, params)``."""
    steps = PlanSteps(plan)
    while (request := steps.next_request()) is not None:
        try:
            steps.answer = await get(*request)
        except Exception as error:
            steps.answer = error
    return steps.result  # type: ignore[return-value]


class FleetioStatusSource:
    """The kernel's status source for one Fleetio account (shared by every wait on it in a triggerer).

    ``hook`` is a :class:`~airflow_provider_metrika.fleetio.hooks_async.FleetioAsyncHook`; ``scope`` the
    account's name in job records. ``requests`` counts ``list`` and ``results`` requests.
    """

    def __init__(self, hook: Any, *, scope: str, row_issues: bool = True):
        self.hook = hook
        self.scope = scope
        self.row_issues = row_issues
        self.requests: dict[str, int] = {"list": 0, "results": 0}

    async def poll(self, ids: Sequence[str]) -> dict[str, JobRecord | BaseException]:
        try:
            secrets = self.hook.sync_hook.secrets_of(await self.hook.settings())
        except Exception as error:
            return dict.fromkeys(ids, error)
        plan = poll_plan(
            ids,
            scope=self.scope,
            requests=self.requests,
            secrets=secrets,
            row_issues=self.row_issues,
        )
        return await arun_plan(plan, self.hook.request)

    async def close(self) -> None:
        await self.hook.close()


class FleetioStatusReader:
    """The same reading with the sync :class:`~airflow_provider_metrika.fleetio.hooks.FleetioHook`
    (a sensor's poke, a worker-side wait): :meth:`read` returns the records in ``ids`` order or raises."""

    def __init__(self, hook: Any, *, scope: str, row_issues: bool = True):
        self.hook = hook
        self.scope = scope
        self.row_issues = row_issues
        self.requests: dict[str, int] = {"list": 0, "results": 0}

    def read(self, ids: Sequence[str]) -> list[JobRecord]:
        plan = poll_plan(
            ids,
            scope=self.scope,
            requests=self.requests,
            secrets=self.hook.secrets_of(self.hook.settings),
            row_issues=self.row_issues,
        )
        answers = run_plan(plan, self.hook.request)
        for answer in answers.values():
            if isinstance(answer, BaseException):
                raise answer
        return [answers[raw] for raw in ids]  # type: ignore[misc]
