"""Waits that start and end in the triggerer: Airflow's ``start_from_trigger`` and ``end_from_trigger``.

A task with ``start_from_trigger`` is deferred by the scheduler itself, from the task's
``StartTriggerArgs``, so no worker runs it first (https://airflow.apache.org/docs/apache-airflow/stable/
authoring-and-scheduling/deferring.html#triggering-deferral-from-task-start). Its trigger kwargs are fixed
when the DAG is parsed; Airflow 3 then renders the trigger's templated attributes in the triggerer, with the
task's context, before the trigger runs. So a job id that an upstream task pushes to XCom reaches the
trigger as a template (``{{ ti.xcom_pull(...) | tojson }}``) that the triggerer renders. Airflow 2.11
renders nothing in the triggerer: there only ids known at parse time can start in the triggerer.

With ``end_from_trigger`` the trigger ends a successful task itself (``TaskSuccessEvent`` with the result as
its XCom), so no worker runs the end of the wait either; a failure still resumes on a worker, which fails the
task with its message and without retries when the failure is terminal.
"""

from __future__ import annotations

import ast
import datetime
import json
from collections.abc import Callable, Sequence
from typing import Any

from airflow_provider_metrika.exceptions import ProviderConfigError
from airflow_provider_metrika.jobs.record import read_job_ref
from airflow_provider_metrika.version_compat import BaseTrigger, TriggerEvent, XComArg

#: Airflow renders a start_from_trigger task's trigger in the triggerer (3.x); 2.11 does not.
TRIGGER_RENDERS_TEMPLATES: bool = hasattr(BaseTrigger, "render_template_fields")

#: A rendered id list longer than this is refused rather than parsed (an XCom of ids is small).
MAX_RENDERED_CHARS = 1_000_000


def ids_for_trigger(value: Any, *, parameter: str) -> str | list[str]:
    """The job ids as a trigger started by the scheduler gets them.

    An upstream task's output (``upload.output``) becomes a template the triggerer renders to the XCom's
    JSON; a template string is kept for the triggerer; anything else must be the ids themselves.
    """
    if isinstance(value, XComArg):
        operator, key = getattr(value, "operator", None), getattr(value, "key", None)
        if operator is None or not isinstance(key, str):
            raise ProviderConfigError(
                f"{parameter}: with start_from_trigger=True give an upstream task's output (task.output or "
                f"task.output[key]), ids, or a template; got {type(value).__name__}"
            )
        # map_indexes=-1: one XCom read (GetXCom); without it Airflow 3.3.2 asks for a sequence slice, which its
        # triggerer does not serve (the render then waits for an answer that never comes).
        return "{{ ti.xcom_pull(task_ids=%r, key=%r, map_indexes=-1) | tojson }}" % (operator.task_id, key)  # noqa: UP031
    if isinstance(value, str) and "{{" in value:
        return value
    return list(read_job_ref(value, parameter=parameter).ids)


def require_rendering(parameter: str, value: Any) -> None:
    """Refuse ids that only the triggerer could render on an Airflow whose triggerer renders nothing."""
    if not TRIGGER_RENDERS_TEMPLATES and isinstance(value, XComArg | str) and not _literal_ids(value):
        raise ProviderConfigError(
            f"{parameter}: start_from_trigger=True on this Airflow takes ids known when the DAG is parsed; "
            "Airflow 2.11 does not render templates or XCom in the triggerer (Airflow 3 does)"
        )


def _literal_ids(value: Any) -> bool:
    return isinstance(value, str) and "{{" not in value


def read_rendered_ids(
    rendered: Any, *, parameter: str, read: Callable[[Any], Sequence[str]] | None = None
) -> list[str]:
    """The ids a rendered template holds: JSON (``| tojson``), a Python literal (a plain ``xcom_pull``), or one id.

    ``read`` turns the parsed value into ids (default: :func:`read_job_ref`, which takes a JobsResult, a
    JobSummary, an id or a list).
    """
    value = rendered
    if isinstance(rendered, str):
        text = rendered.strip()
        if len(text) > MAX_RENDERED_CHARS:
            raise ProviderConfigError(f"{parameter}: the rendered ids are {len(text):,} characters long")
        for parse in (json.loads, ast.literal_eval):
            try:
                value = parse(text)
                break
            except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
                continue
        else:
            value = text
    ids = list(read(value) if read is not None else read_job_ref(value, parameter=parameter).ids)
    if not ids:
        raise ProviderConfigError(f"{parameter}: the rendered template holds no job id ({str(rendered)[:80]!r})")
    return ids


def start_trigger_args(trigger: BaseTrigger, *, timeout: float | None, next_method: str = "execute_complete") -> Any:
    """``StartTriggerArgs`` from a trigger built with the ids the triggerer will render."""
    from airflow.triggers.base import StartTriggerArgs

    classpath, kwargs = trigger.serialize()
    return StartTriggerArgs(
        trigger_cls=classpath,
        trigger_kwargs=kwargs,
        next_method=next_method,
        next_kwargs=None,
        timeout=None if timeout is None else datetime.timedelta(seconds=timeout),
    )


def end_of_task(event: dict[str, Any]) -> TriggerEvent:
    """The event for ``end_from_trigger``: a success ends the task in the triggerer, with the result as its XCom.

    A failure resumes the task on a worker instead (``execute_complete`` fails it with the message): Airflow
    would retry a ``TaskFailedEvent`` by the task's ``retries``, while a terminal failure must not retry,
    and the retry policy only runs on a worker.
    """
    from airflow.triggers.base import TaskSuccessEvent

    if event.get("status") == "success":
        return TaskSuccessEvent(xcoms={"return_value": event.get("result")})
    return TriggerEvent(event)


class RendersJobIds:
    """Trigger mixin: ids given as a template (a task started in the triggerer) are rendered there.

    The triggerer calls ``render_template_fields`` with the task's context before ``run()`` (Airflow 3);
    the rendered text is read back into the list of ids the wait polls.
    """

    job_ids: Any

    def ids_from_rendered(self, value: Any) -> Sequence[str]:
        """The ids in a rendered value (a vendor may also read its older XCom shapes)."""
        return read_job_ref(value, parameter="job_ids").ids

    def render_template_fields(self, context: Any, jinja_env: Any = None) -> None:
        super().render_template_fields(context, jinja_env)  # type: ignore[misc]
        if isinstance(self.job_ids, str):
            env = jinja_env or self.get_template_env()  # type: ignore[attr-defined]
            rendered = self.render_template(self.job_ids, context, env)  # type: ignore[attr-defined]
            self.job_ids = read_rendered_ids(rendered, parameter="job_ids", read=self.ids_from_rendered)
