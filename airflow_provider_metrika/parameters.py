"""Checks of operator, sensor and trigger parameters: each refusal names the parameter.

Values known when a DAG is parsed are checked in the constructor; templated ones (which may
render to any type: Jinja's native rendering and XCom give ints, lists, dicts) are checked
again after rendering, before any request.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

from airflow_provider_metrika.exceptions import MetrikaConfigError
from airflow_provider_metrika.version_compat import XComArg


def is_template(value: Any) -> bool:
    """A value Airflow will still resolve (its final type is not known yet).

    A string it renders, or another task's output (``XComArg``: a templated field may take one,
    https://airflow.apache.org/docs/apache-airflow/stable/core-concepts/taskflow.html).
    """
    return isinstance(value, XComArg) or (isinstance(value, str) and ("{{" in value or "{%" in value))


def _kind(value: Any) -> str:
    return "a boolean" if isinstance(value, bool) else type(value).__name__


def check_seconds(name: str, value: Any, *, allow_zero: bool = False) -> float:
    """A finite positive number of seconds (NaN, infinity, booleans and text are refused)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise MetrikaConfigError(f"{name} must be a number of seconds, not {_kind(value)} {value!r}")
    seconds = float(value)
    if not math.isfinite(seconds) or seconds < 0 or (seconds == 0 and not allow_zero):
        wanted = "zero or more" if allow_zero else "more than zero"
        raise MetrikaConfigError(f"{name} must be a finite number of seconds, {wanted}; got {value!r}")
    return seconds


def check_count(name: str, value: Any, *, minimum: int = 0) -> int:
    """A whole number not below ``minimum`` (a float, a boolean or text is refused)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise MetrikaConfigError(f"{name} must be a whole number of at least {minimum}, not {value!r}")
    return int(value)


def check_optional_text(name: str, value: Any) -> str | None:
    """None or a string: a template that rendered to a number or a list is refused, not stringified."""
    if value is not None and not isinstance(value, str):
        raise MetrikaConfigError(f"{name} must be text, not {_kind(value)} {value!r}"[:200])
    return value


def check_poll_intervals(
    poll_interval: Any, max_poll_interval: Any = None, *, name: str = "poll_interval"
) -> tuple[float, float | None]:
    """A zero, negative or non-finite interval would poll without pause (or never) and spend the daily quota."""
    interval = check_seconds(name, poll_interval)
    if max_poll_interval is None:
        return interval, None
    longest = check_seconds("max_poll_interval", max_poll_interval)
    if longest < interval:
        raise MetrikaConfigError(f"max_poll_interval ({max_poll_interval}) must not be below {name} ({poll_interval})")
    return interval, longest
