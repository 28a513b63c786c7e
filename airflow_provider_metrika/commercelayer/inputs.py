"""What a DAG hands the Commerce Layer import operator, checked and cut into imports of at most 10,000 inputs.

Inputs come from a file the kernel prepared (``src``: a CSV file with a header line, or a JSON file
holding a list of objects; ``rows`` are written as a JSON list first), read as a stream, never whole,
once to check and once per import. Every input is checked before the first import is created, so a
bad row fails the task with its row and field named and nothing sent. The official tools cut larger
inputs into imports of 10,000 (https://docs.commercelayer.io/core/importing-resources); each import's
``reference`` carries its part's fingerprint and number, so a retried task finds what an earlier try created.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import IO, Any

from airflow_provider_metrika.commercelayer.api import FORMATS, MAX_INPUTS
from airflow_provider_metrika.exceptions import MetrikaConfigError, MetrikaNoRowsError, MetrikaValidationError
from airflow_provider_metrika.formats.json_source import iter_json_rows
from airflow_provider_metrika.jobs.inputs import PreparedInput

#: The key ``csv.DictReader`` puts a row's fields beyond the header under.
EXTRA_FIELDS = "\x00extra"
#: Problems listed in a validation error (the rest are counted).
MAX_PROBLEMS = 20
#: Nesting allowed inside one input (metadata objects, lists of codes); deeper is a mistake.
MAX_DEPTH = 8
#: The longest text one input value may hold.
MAX_VALUE_CHARS = 65_536


@dataclasses.dataclass(frozen=True)
class ImportPart:
    """One import's worth of inputs: part ``number`` of ``total``; ``first_row`` is its first input's row."""

    number: int
    total: int
    first_row: int
    inputs: list[dict[str, Any]]

    def payload(self, format: str) -> list[dict[str, Any]] | str:
        """What the import's ``inputs`` attribute carries: the objects, or CSV text with a header line."""
        if format == "json":
            return self.inputs
        columns = list(dict.fromkeys(key for row in self.inputs for key in row))
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows({k: "" if v is None else v for k, v in row.items()} for row in self.inputs)
        return out.getvalue()


@dataclasses.dataclass(frozen=True)
class InputSource:
    """Inputs that can be read again (once to check, once to send): ``name`` for messages, ``rows`` to iterate."""

    name: str
    rows: Callable[[], Iterator[Any]]


def source_of(prepared: PreparedInput, *, json_rows: bool) -> InputSource:
    """A prepared file as inputs: a JSON list (``json_rows``, or a ``.json`` name) or a CSV with a header line."""
    name = prepared.name
    if json_rows or name.lower().endswith(".json"):

        def read_json() -> Iterator[Any]:
            with prepared.opener() as stream:
                yield from iter_json_rows(stream, name, "inputs")

        return InputSource(name, read_json)

    def read_csv() -> Iterator[Any]:
        with prepared.opener() as raw, io.TextIOWrapper(raw, encoding="utf-8-sig", newline="") as text:
            reader = csv.DictReader(text, restkey=EXTRA_FIELDS, restval=None)
            if reader.fieldnames:
                yield from reader

    return InputSource(name, read_csv)


def write_json_rows(records: Iterable[Any], out: IO[bytes], format: str, name: str = "rows") -> int:
    """``rows`` checked (a bad row is named, nothing written) and written as one JSON list; how many."""
    checked_rows = list(records)
    problems = [
        where(name, number, field) + f": {message}"
        for number, row in enumerate(checked_rows, start=1)
        for field, message in row_problems(row, format)
    ]
    if problems:
        raise validation_failed(name, problems)
    out.write(b"[")
    for number, row in enumerate(checked_rows):
        out.write((b",\n" if number else b"\n") + json.dumps(row, ensure_ascii=False).encode())
    out.write(b"\n]\n")
    return len(checked_rows)


def where(name: str, row: int, field: str | None) -> str:
    """``rows: row 4, field 'name'``: where a problem is."""
    return f"{name}: row {row}" + (f", field {field!r}" if field else "")


def validation_failed(name: str, problems: list[str], total: int | None = None) -> MetrikaValidationError:
    """The error for inputs with problems: the first :data:`MAX_PROBLEMS` listed, all counted."""
    total = len(problems) if total is None else total
    shown = problems[:MAX_PROBLEMS]
    more = f" (and {total - len(shown)} more)" if total > len(shown) else ""
    return MetrikaValidationError(
        f"{name}: {total} problem(s) in the inputs, nothing was imported: " + "; ".join(shown) + more,
        problems=shown,
        total=total,
    )


def check_format(format: Any) -> str:
    if format not in FORMATS:
        raise MetrikaConfigError(f"format must be one of {', '.join(FORMATS)}, got {format!r}")
    return format


def check_chunk_size(chunk_size: Any) -> int:
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or not 1 <= chunk_size <= MAX_INPUTS:
        raise MetrikaConfigError(
            f"chunk_size must be a whole number from 1 to {MAX_INPUTS:,} (inputs per import), got {chunk_size!r}"
        )
    return chunk_size


def _value_problem(value: Any, format: str, depth: int = 0) -> str | None:
    """Why ``value`` cannot travel as an input value (None when it can)."""
    if value is None or isinstance(value, bool | int):
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else f"{value} is not a JSON number"
    if isinstance(value, str):
        return None if len(value) <= MAX_VALUE_CHARS else f"text longer than {MAX_VALUE_CHARS:,} characters"
    if isinstance(value, Mapping | list | tuple):
        if format == "csv":
            return f"a {type(value).__name__} cannot be a CSV cell (use format='json')"
        if depth >= MAX_DEPTH:
            return f"nested deeper than {MAX_DEPTH} levels"
        items = value.items() if isinstance(value, Mapping) else enumerate(value)
        for key, item in items:
            if isinstance(value, Mapping) and not isinstance(key, str):
                return f"has a key that is not text ({key!r})"
            problem = _value_problem(item, format, depth + 1)
            if problem:
                return problem
        return None
    return f"a {type(value).__name__} is not JSON (text, number, true/false, null, object or list)"


def row_problems(row: Any, format: str) -> list[tuple[str | None, str]]:
    """(field, message) for everything wrong with one input."""
    if not isinstance(row, Mapping):
        return [(None, f"must be an object with the resource's attributes, got {type(row).__name__}")]
    problems: list[tuple[str | None, str]] = []
    if EXTRA_FIELDS in row:
        problems.append((None, "has more fields than the header line"))
    for key, value in row.items():
        if key == EXTRA_FIELDS:
            continue
        if not isinstance(key, str) or not key.strip():
            problems.append((None, f"has a field without a name ({key!r})"))
            continue
        problem = _value_problem(value, format)
        if problem:
            problems.append((key, problem))
    if not problems and not any(v not in (None, "") for v in row.values()):
        problems.append((None, "is empty"))
    return problems


def checked(source: InputSource, format: str) -> int:
    """Check every input (nothing is sent yet); how many there are, or a validation error naming rows and fields."""
    problems: list[str] = []
    total_problems = 0
    count = 0
    for count, row in enumerate(source.rows(), start=1):
        for field, message in row_problems(row, format):
            total_problems += 1
            if len(problems) < MAX_PROBLEMS:
                problems.append(
                    f"{source.name}: row {count}" + (f", field {field!r}" if field else "") + f": {message}"
                )
    if total_problems:
        raise validation_failed(source.name, problems, total_problems)
    if count == 0:
        raise MetrikaNoRowsError(f"{source.name}: no inputs to import")
    return count


def parts(source: InputSource, count: int, chunk_size: int) -> Iterator[ImportPart]:
    """The inputs cut into imports of at most ``chunk_size``, read again from the source."""
    total = math.ceil(count / chunk_size)
    batch: list[dict[str, Any]] = []
    number, first = 1, 1
    for index, row in enumerate(source.rows(), start=1):
        batch.append({k: v for k, v in row.items() if k != EXTRA_FIELDS})
        if len(batch) == chunk_size:
            yield ImportPart(number, total, first, batch)
            number, first, batch = number + 1, index + 1, []
    if batch:
        yield ImportPart(number, total, first, batch)


def reference(fingerprint: str, part: ImportPart) -> str:
    """The import's ``reference``: the task's fingerprint and the part (``afm…-p3of10``)."""
    return f"{fingerprint}-p{part.number}of{part.total}"


#: Attributes an import's ``errors_log`` may name an input by, in the order they are tried.
LOG_KEY_FIELDS = ("code", "sku_code", "email", "number", "reference", "id")


def rows_by_log_key(part: ImportPart) -> dict[str, int]:
    """How an ``errors_log`` key finds its input within a part: by a key attribute's value, else its index."""
    found: dict[str, int] = {}
    for index, row in enumerate(part.inputs):
        found.setdefault(str(index), index)
        for name in LOG_KEY_FIELDS:
            value = row.get(name)
            if value not in (None, ""):
                found.setdefault(str(value), index)
    return found


def iter_rejected(part: ImportPart, errors_log: Any, prefix: str = "") -> Iterable[tuple[int, dict[str, Any], str]]:
    """(row number in the source, the input, its problems) for each input an import's ``errors_log`` (or, with a
    ``prefix`` such as ``"warning: "``, its ``warnings_log``) names."""
    if not isinstance(errors_log, Mapping):
        return
    index_of = rows_by_log_key(part)
    for key, problems in errors_log.items():
        index = index_of.get(str(key))
        if index is None:
            continue
        if isinstance(problems, Mapping):
            text = "; ".join(
                f"{field} {', '.join(map(str, m if isinstance(m, list) else [m]))}" for field, m in problems.items()
            )
        else:
            text = "; ".join(map(str, problems if isinstance(problems, list) else [problems]))
        yield part.first_row + index, part.inputs[index], (prefix + text)[:1000]
