"""Command line: ``python -m airflow_provider_metrika validate FILE --kind KIND``.

Checks a file the way Metrika will, before anything is uploaded. Exit status: 0 valid,
1 problems found, 2 usage error (bad arguments, unknown kind, unreadable file).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from airflow_provider_metrika.exceptions import MetrikaConfigError
from airflow_provider_metrika.formats import FILE_FORMATS, ValidationOptions, get_file_format
from airflow_provider_metrika.formats.options import STALE_POLICIES

EXIT_OK, EXIT_INVALID, EXIT_USAGE = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m airflow_provider_metrika", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    validate = commands.add_parser("validate", help="check a file against a Metrika upload format")
    validate.add_argument("file", help="path of the CSV (or, for contacts and orders, JSON) file")
    validate.add_argument(
        "--format",
        choices=("auto", "csv", "json"),
        default="auto",
        help="how to read the file; auto: JSON for a .json name or a file starting with '{' or '[', else CSV",
    )
    validate.add_argument("--kind", required=True, help=f"one of: {', '.join(FILE_FORMATS)}")
    validate.add_argument("--max-problems", type=int, default=20, help="problems to show (all are counted)")
    validate.add_argument("--stale-rows", choices=STALE_POLICIES, default="warn", help="rows older than the window")
    validate.add_argument("--columns-mapping", help='CDP: JSON object {"metrika_attr": "CSV header", ...}')
    validate.add_argument("--delimiter", choices=("comma", "semicolon"), default="comma", help="CDP column separator")
    return parser


def file_format_of(path: str, given: str) -> str:
    """``csv`` or ``json``: as given, else by the name's extension, else by the first character that is not
    white space (a CSV header never starts with '{' or '[')."""
    if given != "auto":
        return given
    if path.lower().endswith(".json"):
        return "json"
    with open(path, "rb") as stream:
        start = stream.read(4096).removeprefix(b"\xef\xbb\xbf").lstrip()
    return "json" if start[:1] in (b"{", b"[") else "csv"


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        file_format = get_file_format(args.kind)
        options = ValidationOptions(
            max_problems=args.max_problems,
            stale_rows=args.stale_rows,
            columns_mapping=args.columns_mapping,
            delimiter=args.delimiter,
        )
        if file_format_of(args.file, args.format) == "json":
            report = file_format.validate_json(args.file, options=options)
        else:
            report = file_format.validate(args.file, options=options)
    except (MetrikaConfigError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(report.summary())
    return EXIT_OK if report.ok else EXIT_INVALID


if __name__ == "__main__":
    sys.exit(main())
