"""The ``retry_policy`` keyword of every vendor's tasks (Airflow 3.3+ retry policies).

Airflow 3.3 lets a task carry a retry policy that looks at the exception and decides to fail at once,
retry after a given delay, or fall back to ``retries``/``retry_delay``
(https://airflow.apache.org/docs/apache-airflow/stable/core-concepts/tasks.html#retry-policies).
Each vendor's operators and sensors default it to the vendor's policy where Airflow has the API; below
3.3 they keep the task's own retry settings.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from airflow_provider_metrika.exceptions import ProviderConfigError
from airflow_provider_metrika.version_compat import AIRFLOW_RETRY_POLICY

#: Marks "no retry_policy given": the tasks then use their vendor's policy where Airflow has the API.
DEFAULT_RETRY_POLICY: Any = object()


def retry_policy_kwargs(value: Any, owner: str, default: Callable[[], Any] | None) -> dict[str, Any]:
    """The ``retry_policy`` keyword to hand to BaseOperator: ``default()`` when none is given on 3.3+, nothing below.

    ``None`` turns the policy off. A policy given explicitly on an Airflow without the API is
    an error rather than silently ignored.
    """
    if not AIRFLOW_RETRY_POLICY:
        if value is not DEFAULT_RETRY_POLICY and value is not None:
            raise ProviderConfigError(f"{owner}: retry_policy needs Airflow 3.3 or later")
        return {}
    if value is DEFAULT_RETRY_POLICY:
        return {} if default is None else {"retry_policy": default()}
    return {"retry_policy": value}
