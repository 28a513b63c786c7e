"""What a check found: problems (file, row, column, message) and the report around them."""

from __future__ import annotations

import dataclasses

from airflow_provider_metrika.exceptions import MetrikaValidationError

#: The longest piece of the input a report echoes (a cell, a column name); longer ones are cut and marked,
#: so a hostile file cannot make a report (or a log line, or an exception) grow with it.
MAX_SHOWN_CHARS = 80
#: The longest problem message kept (a message quotes at most a few cut cells).
MAX_MESSAGE_CHARS = 400


def shown(value: object, limit: int = MAX_SHOWN_CHARS) -> str:
    """``repr`` of a value from the input, cut to ``limit`` characters with a mark saying how long it was."""
    if isinstance(value, str) and len(value) > limit:
        return f"{value[:limit]!r}… (cut; {len(value):,} characters)"
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}… (cut; {len(text):,} characters)"


#: How many names a collapsed message lists before "and N more".
PREVIEW_NAMES = 5


def preview(names: list[str], what: str) -> str:
    """``3 unknown column(s): 'a', 'b', 'c'`` — the count and the first few names (each cut), never all of them."""
    shown_names = ", ".join(shown(name) for name in names[:PREVIEW_NAMES])
    more = f" and {len(names) - PREVIEW_NAMES:,} more" if len(names) > PREVIEW_NAMES else ""
    return f"{len(names):,} {what}(s): {shown_names}{more}"


def cut_text(text: str, limit: int) -> str:
    """Plain text cut to ``limit`` characters, marked when cut."""
    return text if len(text) <= limit else f"{text[:limit]}… (cut; {len(text):,} characters)"


@dataclasses.dataclass(frozen=True)
class Problem:
    """One rule broken at one place; rows are 1-based file lines, the header is row 1."""

    file_name: str
    row: int | None
    column: str | None
    message: str

    def __str__(self) -> str:
        where = self.file_name
        if self.row is not None:
            where += f" row {self.row}"
        if self.column is not None:
            where += f"{',' if self.row is not None else ''} column {cut_text(self.column, MAX_SHOWN_CHARS)}"
        return f"{where}: {cut_text(self.message, MAX_MESSAGE_CHARS)}"


@dataclasses.dataclass
class ValidationReport:
    """What a check found: counts, the first problems (all are counted) and warnings."""

    file_name: str
    rows: int
    valid_rows: int
    dropped_rows: int
    problems: list[Problem]
    total_problems: int
    warnings: list[str]
    header: list[str]

    @property
    def ok(self) -> bool:
        return self.total_problems == 0

    def summary(self) -> str:
        lines = [f"{self.file_name}: {self.rows} rows, {self.valid_rows} valid, {self.dropped_rows} dropped"]
        lines += [f"  - {problem}" for problem in self.problems]
        if self.total_problems > len(self.problems):
            lines.append(f"  ... and {self.total_problems - len(self.problems)} more")
        lines += [f"  warning: {warning}" for warning in self.warnings]
        lines.append(f"{self.total_problems} problem(s) in total" if self.total_problems else "OK: no problems")
        return "\n".join(lines)

    def raise_for_problems(self) -> None:
        if self.ok:
            return
        shown = [str(problem) for problem in self.problems]
        message = f"{self.file_name}: {self.total_problems} problem(s) found; first {len(shown)}:\n" + "\n".join(
            f"  - {line}" for line in shown
        )
        raise MetrikaValidationError(message, problems=shown, total=self.total_problems)


def raise_problem(file_name: str, row: int | None, column: str | None, message: str) -> None:
    """Raise MetrikaValidationError for a single problem (the writers stop at the first bad value)."""
    problem = str(Problem(file_name, row, column, message))
    raise MetrikaValidationError(problem, problems=[problem], total=1)
