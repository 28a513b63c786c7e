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
    Asset,
    BaseHook,
    BaseOperator,
    BaseOperatorLink,
    BaseSensorOperator,
    Context,
    ObjectStoragePath,
    PokeReturnValue,
    TaskDeferred,
    XCom,
    XComArg,
    conf,
    mask_secret,
)
from airflow.triggers.base import BaseTrigger, TriggerEvent

try:  # Airflow 3.3+: task retry policies (AIP-105)
    from airflow.providers.common.compat.sdk import RetryDecision, RetryPolicy

    AIRFLOW_RETRY_POLICY = True
except ImportError:  # Airflow 2.11: no retry_policy; the operators keep the task's own retries
    RetryDecision = None  # type: ignore[assignment,misc]
    RetryPolicy = object  # type: ignore[assignment,misc]
    AIRFLOW_RETRY_POLICY = False

try:  # Airflow 3.x: tells the supervisor too, without blocking the triggerer's event loop
    from airflow.sdk.log import amask_secret
except ImportError:  # Airflow 2.11: masking is in-process, nothing to await

    async def amask_secret(secret: str, name: str | None = None) -> None:
        """Register ``secret`` with the secrets masker (the 2.x masker is in-process and synchronous)."""
        mask_secret(secret, name)


def default_deferrable() -> bool:
    """``[operators] default_deferrable``, read when an operator is built (not at import)."""
    return conf.getboolean("operators", "default_deferrable", fallback=False)


__all__ = [
    "AIRFLOW_RETRY_POLICY",
    "AirflowException",
    "AirflowFailException",
    "AirflowNotFoundException",
    "AirflowSkipException",
    "Asset",
    "BaseHook",
    "BaseOperator",
    "BaseOperatorLink",
    "BaseSensorOperator",
    "BaseTrigger",
    "Context",
    "ObjectStoragePath",
    "PokeReturnValue",
    "RetryDecision",
    "RetryPolicy",
    "TaskDeferred",
    "TriggerEvent",
    "XCom",
    "XComArg",
    "amask_secret",
    "conf",
    "default_deferrable",
    "get_async_connection",
    "mask_secret",
]
