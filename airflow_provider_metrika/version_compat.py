"""The one place that knows how Airflow 2.11 and Airflow 3.x differ.

Everything else in the provider imports Airflow names from here. The heavy lifting
is done by apache-airflow-providers-common-compat (``airflow.sdk`` first, the 2.x
path as a fallback), as the community providers do.
"""

from __future__ import annotations

from airflow.providers.common.compat.connection import get_async_connection
from airflow.providers.common.compat.sdk import (
    AirflowException,
    AirflowFailException,
    AirflowNotFoundException,
    AirflowSkipException,
    BaseHook,
    BaseOperator,
    BaseSensorOperator,
    Context,
    ObjectStoragePath,
    PokeReturnValue,
    TaskDeferred,
    conf,
)
from airflow.triggers.base import BaseTrigger, TriggerEvent


def default_deferrable() -> bool:
    """``[operators] default_deferrable``, read when an operator is built (not at import)."""
    return conf.getboolean("operators", "default_deferrable", fallback=False)


__all__ = [
    "AirflowException",
    "AirflowFailException",
    "AirflowNotFoundException",
    "AirflowSkipException",
    "BaseHook",
    "BaseOperator",
    "BaseSensorOperator",
    "BaseTrigger",
    "Context",
    "ObjectStoragePath",
    "PokeReturnValue",
    "TaskDeferred",
    "TriggerEvent",
    "conf",
    "default_deferrable",
    "get_async_connection",
]
