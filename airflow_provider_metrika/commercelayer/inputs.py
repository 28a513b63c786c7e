"""What a DAG hands the Commerce Layer import operator, checked and cut into imports of at most 10,000 inputs.

Inputs come from ``src`` (a local path, an fsspec URL or an ``ObjectStoragePath``: a CSV file with a
header line, or a JSON file holding a list of objects, read by the provider's shared input layer and
streamed, never read whole) or from ``rows`` (a list of dicts from XCom, or a pandas DataFrame). Every
input is checked before the first import is created, so a bad row fails the task with its row and field
named and nothing sent. The official tools cut larger inputs into imports of 10,000
(https://docs.commercelayer.io/core/importing-resources); each import's ``reference`` carries the
task's fingerprint and the part number, so a retried task finds what an earlier try created.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from airflow_provider_metrika.commercelayer.api import FORMATS, MAX_INPUTS
from airflow_provider_metrika.exceptions import MetrikaConfigError, MetrikaNoRowsError, MetrikaValidationError
from airflow_provider_metrika.formats.json_source import iter_json_rows
from airflow_provider_metrika.jobs.inputs import prepare_file, rows_to_records

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
    location: Any = None


def input_source(src: Any, rows: Any, *, source_conn_id: str | None = None) -> InputSource:
    """``src`` or ``rows`` (exactly one) as a re-readable source; files are checked to exist, not yet read."""
    if (src is None) == (rows is None):
        raise MetrikaConfigError("give exactly one of src (a CSV or JSON file) and rows (dicts or a DataFrame)")
    if rows is not None:
        records = list(rows_to_records(rows))
        return InputSource("rows", lambda: iter(records))
    prepared = prepare_file(src, source_conn_id=source_conn_id)
    name = prepared.name
    if name.lower().endswith(".json"):

        def json_rows() -> Iterator[Any]:
            with prepared.opener() as stream:
                yield from iter_json_rows(stream, name, "inputs")

        return InputSource(name, json_rows, src)

    def csv_rows() -> Iterator[Any]:
        with prepared.opener() as raw, io.TextIOWrapper(raw, encoding="utf-8-sig", newline="") as text:
            reader = csv.DictReader(text, restkey="\x00extra", restval=None)
            if not reader.fieldnames:
                return
            yield from reader

    return InputSource(name, csv_rows, src)


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
    if "\x00extra" in row:
        problems.append((None, "has more fields than the header line"))
    for key, value in row.items():
        if key == "\x00extra":
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


def checked(source: InputSource, format: str) -> tuple[int, str]:
    """Check every input (nothing is sent yet); (how many, a digest of their content) or a validation error."""
    digest = hashlib.sha256(format.encode())
    problems: list[str] = []
    total_problems = 0
    count = 0
    for count, row in enumerate(source.rows(), start=1):
        found = row_problems(row, format)
        if found:
            total_problems += len(found)
            for field, message in found:
                if len(problems) < MAX_PROBLEMS:
                    where = f"{source.name}: row {count}" + (f", field {field!r}" if field else "")
                    problems.append(f"{where}: {message}")
            continue
        if not total_problems:
            digest.update(json.dumps(row, sort_keys=True, separators=(",", ":"), default=str).encode())
            digest.update(b"\n")
    if total_problems:
        more = f" (and {total_problems - len(problems)} more)" if total_problems > len(problems) else ""
        raise MetrikaValidationError(
            f"{source.name}: {total_problems} problem(s) in the inputs, nothing was imported: "
            + "; ".join(problems)
            + more,
            problems=problems,
            total=total_problems,
        )
    if count == 0:
        raise MetrikaNoRowsError(f"{source.name}: no inputs to import")
    return count, digest.hexdigest()


def parts(source: InputSource, count: int, chunk_size: int) -> Iterator[ImportPart]:
    """The inputs cut into imports of at most ``chunk_size``, read again from the source."""
    total = math.ceil(count / chunk_size)
    batch: list[dict[str, Any]] = []
    number, first = 1, 1
    for index, row in enumerate(source.rows(), start=1):
        batch.append({k: v for k, v in row.items() if k != "\x00extra"})
        if len(batch) == chunk_size:
            yield ImportPart(number, total, first, batch)
            number, first, batch = number + 1, index + 1, []
    if batch:
        yield ImportPart(number, total, first, batch)


def reference(fingerprint: str, part: ImportPart) -> str:
    """The import's ``reference``: the task's fingerprint and the part (``afm…-p3of10``)."""
    return f"{fingerprint}-p{part.number}of{part.total}"


def fingerprint_of(reference_text: Any) -> str | None:
    """The fingerprint a :func:`reference` carries."""
    if not isinstance(reference_text, str) or "-p" not in reference_text:
        return None
    return reference_text.rsplit("-p", 1)[0]


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


def iter_rejected(part: ImportPart, errors_log: Any) -> Iterable[tuple[int, dict[str, Any], str]]:
    """(row number in the source, the input, its errors) for each input an import's ``errors_log`` names."""
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
            text = str(problems)
        yield part.first_row + index, part.inputs[index], text[:1000]
