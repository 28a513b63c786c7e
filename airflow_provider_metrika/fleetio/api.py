"""What Fleetio's answers mean, without I/O: imports, row results, keyset pages, error bodies.

List Imports and an import's results are keyset paginated: copy ``next_cursor`` into
``start_cursor`` and keep every other parameter (https://developer.fleetio.com/docs/overview/pagination).
Errors come in two shapes (https://developer.fleetio.com/docs/overview/response-codes): the
legacy ``{"errors": {"field": ["msg"]}}``, ``{"error": "msg"}`` or plain text, and the
problem details ``{"status", "title", "detail", "instance"}`` of 2024-dated versions.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import fnmatch
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from airflow_provider_metrika.exceptions import MetrikaApiError, MetrikaConfigError
from airflow_provider_metrika.fleetio.import_list import BOUNDS, ROW_STATUSES, SORT_FIELDS, STATUSES, TERMINAL
from airflow_provider_metrika.hooks.retry import json_or_none, plain_text, scrub

SERVICE = "Fleetio"
#: What the connection's credentials are called where server text quoting one is withheld.
SECRET_NAME = "API key or account token"
#: List Imports (https://developer.fleetio.com/docs/api/v-1-imports).
IMPORTS_PATH = "/api/v1/imports"
#: List Row Results for an Import (https://developer.fleetio.com/docs/api/v-1-imports-results; an older
#: page, https://developer.fleetio.com/docs/api/imports-results, showed it without ``/v1``).
RESULTS_PATH = IMPORTS_PATH + "/{import_id}/results"
TERMINAL_STATUSES = frozenset(TERMINAL)
MIN_PER_PAGE, MAX_PER_PAGE = 2, 100


def auth_headers(api_key: str, account_token: str, api_version: str) -> dict[str, str]:
    """The headers of every request (https://developer.fleetio.com/docs/overview/quick-start)."""
    return {"Authorization": f"Token {api_key}", "Account-Token": account_token, "X-Api-Version": api_version}


def error_details(body: str) -> tuple[str, str]:
    """(error kind, reason) of any Fleetio error body, legacy or problem details."""
    decoded = json_or_none(body)
    if not isinstance(decoded, Mapping):
        return "unknown", plain_text(body) or "empty response body"
    if isinstance(decoded.get("title"), str) or isinstance(decoded.get("detail"), str):
        title = str(decoded.get("title") or "error")
        return title.lower().replace(" ", "_"), str(decoded.get("detail") or title)
    errors = decoded.get("errors")
    if isinstance(errors, Mapping):
        reasons = []
        for field, messages in errors.items():
            listed = messages if isinstance(messages, list) else [messages]
            reasons.append(f"{field} {', '.join(str(m) for m in listed)}")
        return "validation_error", "; ".join(reasons) or "no reason given"
    if isinstance(decoded.get("error"), str):
        return "error", decoded["error"]
    return "unknown", plain_text(body) or "no reason given"


@dataclasses.dataclass(frozen=True)
class ImportQuery:
    """Filters and sort of a list request; a cursor is valid only with the same query."""

    statuses: tuple[str, ...] = ()
    created_at: tuple[str, str] | None = None
    updated_at: tuple[str, str] | None = None
    sort: str = "id"
    direction: str = "desc"

    def params(self) -> dict[str, str]:
        params: dict[str, str] = {}
        if self.statuses:
            params["filter[status][include]"] = ",".join(self.statuses)
        for field in ("created_at", "updated_at"):
            bound = getattr(self, field)
            if bound is not None:
                params[f"filter[{field}][{bound[0]}]"] = bound[1]
        params[f"sort[{self.sort}]"] = self.direction
        return params


def import_query(
    *,
    statuses: Iterable[str] | None = None,
    created_at: Mapping[str, dt.datetime | str] | None = None,
    updated_at: Mapping[str, dt.datetime | str] | None = None,
    sort: str = "id",
    direction: str = "desc",
) -> ImportQuery:
    """A checked query; ``created_at={"gte": datetime}`` takes exactly one of lt, lte, gt, gte."""
    wanted = tuple(statuses or ())
    unknown = [s for s in wanted if s not in STATUSES]
    if unknown:
        raise MetrikaConfigError(f"statuses must be among {', '.join(STATUSES)}; got {', '.join(map(str, unknown))}")
    if sort not in SORT_FIELDS:
        raise MetrikaConfigError(f"sort must be one of {', '.join(SORT_FIELDS)}, got {sort!r}")
    if direction not in ("asc", "desc"):
        raise MetrikaConfigError(f"direction must be 'asc' or 'desc', got {direction!r}")
    return ImportQuery(wanted, _bound("created_at", created_at), _bound("updated_at", updated_at), sort, direction)


def _bound(name: str, value: Mapping[str, dt.datetime | str] | None) -> tuple[str, str] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping) or len(value) != 1:
        raise MetrikaConfigError(f"{name} must be one bound such as {{'gte': datetime}} (Fleetio takes one per field)")
    ((operator, moment),) = value.items()
    if operator not in BOUNDS:
        raise MetrikaConfigError(f"{name} bound must be one of {', '.join(BOUNDS)}, got {operator!r}")
    if isinstance(moment, dt.datetime):
        if moment.tzinfo is None:
            raise MetrikaConfigError(f"{name} needs a timezone-aware datetime (Fleetio compares instants)")
        return operator, moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    if isinstance(moment, str) and moment.strip():
        return operator, moment.strip()
    raise MetrikaConfigError(f"{name} bound must be an aware datetime or an ISO 8601 string, got {moment!r}")


def per_page_of(value: Any) -> int:
    """``per_page`` checked (Fleetio takes 2 to 100)."""
    if isinstance(value, bool) or not isinstance(value, int) or not MIN_PER_PAGE <= value <= MAX_PER_PAGE:
        raise MetrikaConfigError(
            f"per_page must be an integer between {MIN_PER_PAGE} and {MAX_PER_PAGE}, got {value!r}"
        )
    return value


def imports_params(query: ImportQuery | None, *, start_cursor: str | None, per_page: int) -> dict[str, Any]:
    """The query string of one List Imports page."""
    return {**(query or ImportQuery()).params(), "per_page": per_page_of(per_page), "start_cursor": start_cursor}


def results_request(
    import_id: int | str, *, statuses: Iterable[str] = (), start_cursor: str | None, per_page: int
) -> tuple[str, dict[str, Any]]:
    """Path and query string of one page of an import's row results, ``statuses`` among :data:`ROW_STATUSES`."""
    wanted = tuple(statuses)
    unknown = [s for s in wanted if s not in ROW_STATUSES]
    if unknown:
        raise MetrikaConfigError(
            f"statuses must be among {', '.join(ROW_STATUSES)}; got {', '.join(map(str, unknown))}"
        )
    params: dict[str, Any] = {"per_page": per_page_of(per_page), "start_cursor": start_cursor}
    if wanted:
        params["filter[status][include]"] = ",".join(wanted)
    return RESULTS_PATH.format(import_id=import_id_of(import_id)), params


class CursorWalk:
    """Follows a keyset list: :meth:`after` gives the next page's ``start_cursor``, or None at the end.

    The end is a null ``next_cursor`` or an empty page; a cursor seen twice is a server loop, an error.
    The sync and the async hook walk with it, so both stop alike.
    """

    def __init__(self) -> None:
        self._seen: set[str] = set()

    def after(self, page: KeysetPage) -> str | None:
        if page.next_cursor is None or not page.records:
            return None
        if page.next_cursor in self._seen:
            raise MetrikaApiError(200, "invalid_response", "the next_cursor repeats an earlier one", service=SERVICE)
        self._seen.add(page.next_cursor)
        return page.next_cursor


def row_issue(row: Mapping[str, Any], secrets: Sequence[str] = ()) -> str:
    """One failed row as a line: ``row 12: Vehicle can't be blank`` (the server's message, shortened,
    withheld when it quotes a credential)."""
    number = row.get("row_number")
    where = f"row {number}" if isinstance(number, int) and not isinstance(number, bool) else "a row"
    message = row.get("message")
    text = plain_text(message) if isinstance(message, str) else ""
    return f"{where}: {scrub(text[:500], secrets, SECRET_NAME) or 'no message given'}"


@dataclasses.dataclass(frozen=True)
class KeysetPage:
    """One page of a keyset-paginated list."""

    records: list[dict[str, Any]]
    start_cursor: str | None
    next_cursor: str | None
    estimated_remaining_count: int | None


def keyset_page(body: Mapping[str, Any]) -> KeysetPage:
    records = body.get("records")
    if not isinstance(records, list) or not all(isinstance(r, Mapping) for r in records):
        raise MetrikaApiError(200, "invalid_response", "expected a 'records' list of objects", service=SERVICE)
    next_cursor = body.get("next_cursor")
    if next_cursor is not None and (not isinstance(next_cursor, str) or not next_cursor):
        next_cursor = None
    remaining = body.get("estimated_remaining_count")
    return KeysetPage(
        records=[dict(r) for r in records],
        start_cursor=body.get("start_cursor") if isinstance(body.get("start_cursor"), str) else None,
        next_cursor=next_cursor,
        estimated_remaining_count=remaining if isinstance(remaining, int) and not isinstance(remaining, bool) else None,
    )


@dataclasses.dataclass(frozen=True)
class FleetioImport:
    """One import from List Imports."""

    id: int
    type: str
    status: str
    file_name: str | None
    note: str | None
    created_at: str | None
    updated_at: str | None
    completed_at: str | None
    record: Mapping[str, Any]

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> FleetioImport:
        identifier = record.get("id")
        if isinstance(identifier, bool) or not isinstance(identifier, int):
            raise MetrikaApiError(200, "invalid_response", "an import record has no integer id", service=SERVICE)

        def text(name: str) -> str | None:
            value = record.get(name)
            return value if isinstance(value, str) else None

        return cls(
            id=identifier,
            type=text("type") or "",
            status=text("status") or "",
            file_name=text("file_name"),
            note=text("note"),
            created_at=text("created_at"),
            updated_at=text("updated_at"),
            completed_at=text("completed_at"),
            record=dict(record),
        )


def import_id_of(value: Any) -> int:
    """An import id (a positive integer) safe for a URL path."""
    if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, str) and value.isdigit())):
        raise MetrikaConfigError(f"import_id must be a positive integer, got {value!r}")
    number = int(value)
    if number < 1:
        raise MetrikaConfigError(f"import_id must be a positive integer, got {value!r}")
    return number


@dataclasses.dataclass(frozen=True)
class ImportMatch:
    """Which imports a wait is for when their ids are not known: type, file name, note, created after.

    ``file_name`` and ``note`` are shell-style patterns (``meters_*.csv``, ``*nightly*``; case-sensitive,
    https://docs.python.org/3/library/fnmatch.html); ``created_after`` is sent to Fleetio as
    ``filter[created_at][gt]``, the rest is matched here (List Imports filters only status and times).
    """

    import_type: str | None = None
    file_name: str | None = None
    note: str | None = None
    created_after: str | None = None

    def query(self) -> ImportQuery:
        bound = {"gt": self.created_after} if self.created_after else None
        return import_query(sort="id", direction="desc", created_at=bound)

    def matches(self, item: FleetioImport) -> bool:
        return (
            (self.import_type is None or item.type == self.import_type)
            and (self.file_name is None or fnmatch.fnmatchcase(item.file_name or "", self.file_name))
            and (self.note is None or fnmatch.fnmatchcase(item.note or "", self.note))
        )

    def to_dict(self) -> dict[str, str]:
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}

    def describe(self) -> str:
        parts = [f"{k.replace('_', ' ')} {v}" for k, v in self.to_dict().items()]
        return "imports with " + ", ".join(parts) if parts else "any import"


def import_match(
    *,
    import_type: Any = None,
    file_name: Any = None,
    note: Any = None,
    created_after: Any = None,
) -> ImportMatch:
    """A checked :class:`ImportMatch`; errors name the parameter. ``created_after`` is an aware datetime or ISO text."""
    texts: dict[str, str | None] = {}
    for name, value in (("import_type", import_type), ("file_name", file_name), ("note", note)):
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise MetrikaConfigError(f"{name} must be non-empty text, got {value!r}"[:200])
        texts[name] = value.strip() if isinstance(value, str) else None
    after = None
    if created_after is not None and created_after != "":
        if isinstance(created_after, str):
            try:
                parsed = dt.datetime.fromisoformat(created_after.strip().replace("Z", "+00:00"))
            except ValueError:
                raise MetrikaConfigError(
                    f"created_after must be an ISO 8601 date-time with a timezone, got {created_after!r}"[:200]
                ) from None
            created_after = parsed
        if not isinstance(created_after, dt.datetime):
            raise MetrikaConfigError(f"created_after must be a datetime or ISO 8601 text, got {created_after!r}"[:200])
        after = _bound("created_after", {"gt": created_after})[1]  # type: ignore[index]
    return ImportMatch(texts["import_type"], texts["file_name"], texts["note"], after)


#: How many List Imports pages a search without ``created_after`` reads (the newest 500 imports).
UNBOUNDED_SEARCH_PAGES = 5
