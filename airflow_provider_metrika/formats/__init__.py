"""Metrika file formats: streaming validators and writers, one per upload kind.

``get_file_format(name)`` returns the format object whose ``validate``/``stream_checker``/
``filter_rows``/``write_csv``/``to_json_body`` the operators use. Names match
``UploadKind.file_format``.
"""

from __future__ import annotations

from airflow_provider_metrika.exceptions import MetrikaConfigError
from airflow_provider_metrika.formats.base import FileFormat
from airflow_provider_metrika.formats.calls import CALLS
from airflow_provider_metrika.formats.cdp import CONTACTS, ORDERS, SIMPLE_ORDERS
from airflow_provider_metrika.formats.chats import CHATS
from airflow_provider_metrika.formats.checker import StreamChecker
from airflow_provider_metrika.formats.expenses import EXPENSE_REMOVALS, EXPENSES
from airflow_provider_metrika.formats.offline_conversions import OFFLINE_CONVERSIONS
from airflow_provider_metrika.formats.options import ValidationOptions
from airflow_provider_metrika.formats.report import Problem, ValidationReport
from airflow_provider_metrika.formats.user_params import USER_PARAMS

FILE_FORMATS: dict[str, FileFormat] = {
    fmt.name: fmt
    for fmt in (
        OFFLINE_CONVERSIONS,
        CALLS,
        CHATS,
        USER_PARAMS,
        CONTACTS,
        ORDERS,
        SIMPLE_ORDERS,
        EXPENSES,
        EXPENSE_REMOVALS,
    )
}


def get_file_format(name: str | FileFormat) -> FileFormat:
    """The format called ``name`` (a format passes through); an unknown name is a MetrikaConfigError."""
    if isinstance(name, FileFormat):
        return name
    try:
        return FILE_FORMATS[name]
    except (KeyError, TypeError):
        raise MetrikaConfigError(f"unknown file format {name!r}; expected one of {', '.join(FILE_FORMATS)}") from None


__all__ = [
    "FILE_FORMATS",
    "FileFormat",
    "Problem",
    "StreamChecker",
    "ValidationOptions",
    "ValidationReport",
    "get_file_format",
]
