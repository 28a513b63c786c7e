"""Keyset pagination as Fleetio describes it (https://developer.fleetio.com/docs/overview/pagination).

A cursor names a position in one ordering of one filtered set: the sort value and id of the
last record returned, plus a digest of the filters and sorts it was made for. The next page
holds the records strictly after that position, so records added meanwhile neither repeat
nor shift a page; a cursor sent with another query is refused.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import json
from collections.abc import Callable, Sequence
from typing import Any

#: ``estimated_remaining_count`` never says more than this.
ESTIMATE_CAP = 500


class CursorError(ValueError):
    """The cursor is unreadable or belongs to another query."""


@dataclasses.dataclass(frozen=True)
class Page:
    records: list[Any]
    start_cursor: str
    next_cursor: str | None
    estimated_remaining_count: int


def query_digest(parts: Sequence[tuple[str, str]]) -> str:
    """What a cursor is bound to: the filters and sorts, order-insensitive."""
    return hashlib.sha256(json.dumps(sorted(parts)).encode()).hexdigest()[:16]


def encode(digest: str, position: list[Any] | None) -> str:
    raw = json.dumps({"q": digest, "after": position}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(cursor: str, digest: str) -> list[Any] | None:
    """The position a cursor stands after (None: the start); CursorError when it is not for ``digest``."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise CursorError("is not a valid cursor") from None
    if not isinstance(data, dict) or data.get("q") != digest:
        raise CursorError("was made for another query: keep the filters and sorts of the request that returned it")
    position = data.get("after")
    if position is not None and (not isinstance(position, list) or len(position) != 2):
        raise CursorError("is not a valid cursor")
    return position


def page(
    records: Sequence[Any],
    key: Callable[[Any], list[Any]],
    descending: bool,
    digest: str,
    cursor: str | None,
    per_page: int,
) -> Page:
    """One page of ``records`` ordered by ``key`` (sort value, id), after ``cursor``."""
    position = decode(cursor, digest) if cursor else None
    ordered = sorted(records, key=key, reverse=descending)
    if position is not None:
        ordered = [r for r in ordered if (key(r) < position if descending else key(r) > position)]
    chunk = ordered[:per_page]
    more = len(ordered) > per_page
    return Page(
        records=chunk,
        start_cursor=cursor or encode(digest, None),
        next_cursor=encode(digest, key(chunk[-1])) if more and chunk else None,
        estimated_remaining_count=min(ESTIMATE_CAP, len(ordered)),
    )
