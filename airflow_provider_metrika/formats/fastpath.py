"""The whole-block fast path: one compiled regex checks every line of a clean block.

From a header's :class:`~airflow_provider_metrika.formats.checker.RowRules` we build a
regex that matches exactly the lines the row loop would accept without a word: unquoted
cells, the header's width, required cells filled, each ``any_of`` group satisfied and
every checked cell in the form its check accepts. One ``findall`` over a block then
answers "all clean" when it matches as many lines as the block has. Columns whose check
the regex cannot express whole (the event time's window, e-mails, ...) are captured and
checked column-wise afterwards with the checks' bulk forms.

Cells are matched possessively (no backtracking into a cell): a cell's form never matches
the delimiter, so there is nothing to give back, and possessive matching can only match
less, never more. The fast path may turn a valid block away (quotes, blank lines, a stale row under
``stale_rows="fail"``), never accept an invalid one: a block it does not vouch for goes
to the csv-based paths, which word the problems with row and column.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterable
from functools import partial
from typing import TYPE_CHECKING

from airflow_provider_metrika.formats.values import (
    CONTROL_CHARACTERS,
    PATTERN_MAX_CHARS,
    CellCheck,
    ColumnCheck,
    column_stale_count,
)

if TYPE_CHECKING:
    from airflow_provider_metrika.formats.checker import RowRules


class LinePattern:
    """A header's rules as one line regex plus the column checks it leaves to be run on captured cells."""

    def __init__(self, regex: re.Pattern[str], column_checks: tuple[tuple[ColumnCheck, ...], ...]) -> None:
        self.regex = regex
        #: For each capture group, in order, the column checks its cells still need (see ``column_stale_count``).
        self.column_checks = column_checks

    def check_block(self, block: str, end: int) -> tuple[int, int] | None:
        """``(rows, stale)`` when every line of ``block[:end]`` is a valid row; None when it needs the slow path.

        ``block[:end]`` holds whole lines (the last may lack its newline); it is read in place, not copied.
        """
        if end <= 0:
            return None
        found = self.regex.findall(block, 0, end)
        lines = block.count("\n", 0, end) + (block[end - 1] != "\n")
        if len(found) != lines:
            return None
        stale = 0
        if self.column_checks:
            columns = [found] if len(self.column_checks) == 1 else list(zip(*found, strict=True))
            for column, checks in zip(columns, self.column_checks, strict=True):
                for check in checks:
                    count = check(column)
                    if count is None:
                        return None
                    stale += count
        return lines, stale


def compile_line_pattern(rules: RowRules, delimiter: str) -> LinePattern | None:
    """The fast path for ``rules``, or None when the rules cannot be expressed as one line regex."""
    field_limit = csv.field_size_limit()
    if rules.width < 1 or len(delimiter) != 1 or delimiter in '"\r\n' or field_limit < PATTERN_MAX_CHARS:
        return None
    # A cell a warning predicate picks needs the row loop (which counts it): such columns are captured
    # and a block where the predicate picks any cell is turned away.
    unpicked_at: dict[int, list[ColumnCheck]] = {}
    for index, _column, picks, _message in rules.warn_when:
        unpicked_at.setdefault(index, []).append(partial(_none_if_picked, picks))
    any_cell = f'[^{re.escape(delimiter)}"\\r\\n{CONTROL_CHARACTERS}]'  # a control character is a problem to word
    checks_at: dict[int, list[CellCheck]] = {}
    for index, _column, check in rules.checks:
        checks_at.setdefault(index, []).append(check)
    filled = {index for index, _ in rules.required} | {index for index, _, _ in rules.warn_if_empty}
    cells: list[str] = []
    captured: list[tuple[ColumnCheck, ...]] = []
    for index in range(rules.width):
        checks = checks_at.get(index, [])
        required = index in filled
        unpicked = tuple(unpicked_at.get(index, ()))
        if not checks:
            cell = f"{any_cell}{{{int(required)},{field_limit}}}+"
            if unpicked:
                cell = f"({cell})"
                captured.append(unpicked)
            cells.append(cell)
            continue
        pattern = _complete_pattern(checks)
        if pattern is None:
            form, column_checks = _captured_form(checks, any_cell, field_limit)
            pattern = f"({form})"
            captured.append(column_checks + unpicked)
        elif unpicked:
            pattern = f"({pattern})"
            captured.append(unpicked)
        cells.append(pattern if required else f"(?:{pattern})?+")
    guards = [
        _any_filled(indexes, delimiter, any_cell) for indexes, _ in rules.any_of if not filled.intersection(indexes)
    ]
    if rules.width == 1 and 0 not in filled:
        guards.append(r"(?!\r?$)")  # a blank line is no row to csv; never match one
    # findall returns a list of the only group, or tuples of several; an empty group keeps the list cheap
    head = "" if captured else "()"
    line = "^" + head + "".join(guards) + re.escape(delimiter).join(cells) + r"\r?$"
    return LinePattern(re.compile(line, re.MULTILINE), tuple(captured))


def _none_if_picked(picks: Callable[[str], bool], column: Iterable[str]) -> int | None:
    """A column check for a warning predicate: None (take the row loop) when it picks any cell."""
    return None if any(map(picks, column)) else 0


def _complete_pattern(checks: list[CellCheck]) -> str | None:
    """The regex of a cell whose only check is fully expressed by its ``pattern``."""
    if len(checks) == 1 and getattr(checks[0], "pattern_is_complete", False):
        return f"(?>{checks[0].pattern})"  # type: ignore[attr-defined]
    return None


def _captured_form(checks: list[CellCheck], any_cell: str, field_limit: int) -> tuple[str, tuple[ColumnCheck, ...]]:
    """A captured non-empty cell's regex, and the column checks that finish the job on the captured cells.

    Checks sharing one ``pattern`` match it in the regex and then need only their ``bulk_matched``.
    """
    patterns = {getattr(check, "pattern", None) for check in checks}
    if len(patterns) == 1 and None not in patterns:
        return f"(?>{patterns.pop()})", tuple(check.bulk_matched for check in checks)  # type: ignore[attr-defined]
    return f"{any_cell}{{1,{field_limit}}}+", tuple(partial(column_stale_count, check) for check in checks)


def _any_filled(indexes: Iterable[int], delimiter: str, any_cell: str) -> str:
    """A lookahead at line start: at least one of the cells at ``indexes`` is non-empty."""
    escaped = re.escape(delimiter)
    options = [f"(?:{any_cell}*{escaped}){{{index}}}{any_cell}" if index else any_cell for index in sorted(indexes)]
    return "(?=" + "|".join(options) + ")"
