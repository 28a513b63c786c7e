"""What a check found: problems (file, row, column, message) and the report around them."""

from __future__ import annotations

import dataclasses

from airflow_provider_metrika.exceptions import MetrikaValidationError


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
            where += f"{',' if self.row is not None else ''} column {self.column}"
        return f"{where}: {self.message}"


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
