"""OpenLineage for Metrika uploads: the source file in, the counter and kind out, Metrika's counters on the run.

Operators and the sensor answer ``get_openlineage_facets_on_complete`` from what the task
finished with (https://airflow.apache.org/docs/apache-airflow-providers-openlineage/stable/guides/developer.html);
the hook reports to Airflow's hook lineage collector, so ``@task`` code that calls it is covered too.
Everything here is optional: without the openlineage provider nothing is imported from it.
"""

from __future__ import annotations

import os
from typing import Any

from airflow_provider_metrika.assets import ASSETS, annotate_outlets, asset_uri, event_extra, uploadings_of
from airflow_provider_metrika.jobs.lineage import grouped, jobs_lineage, keep_result, source_dataset

__all__ = ["RESULT_ATTRIBUTE", "completed", "operator_lineage", "report_hook_lineage", "source_dataset"]

RESULT_ATTRIBUTE = "_metrika_final_result"

try:  # the OpenLineage client comes with the openlineage provider (the "openlineage" extra)
    import attrs
    from openlineage.client.generated.base import RunFacet
except ImportError:  # pragma: no cover - exercised where the provider is not installed
    RunFacet = None  # type: ignore[assignment,misc]

if RunFacet is not None:

    @attrs.define
    class MetrikaUploadRunFacet(RunFacet):  # type: ignore[misc,valid-type]
        """What Metrika made of the upload: its uploading ids and row counters."""

        counterId: int
        kind: str
        uploadingIds: list[str]
        statuses: list[str]
        rowsSent: int | None = None
        rowsAccepted: int | None = None
        rowsLinked: int | None = None
        linkedRatio: float | None = None


def completed(task: Any, context: Any, result: Any) -> Any:
    """Every final success of a Metrika task goes through here: kept for lineage, marked on the outlets."""
    return annotate_outlets(task, context, keep_result(task, RESULT_ATTRIBUTE, result))


def operator_lineage(task: Any) -> Any:
    """``OperatorLineage`` for a finished task: inputs, one output per counter and kind, run facets."""
    return jobs_lineage(
        grouped(uploadings_of(getattr(task, RESULT_ATTRIBUTE, None)), _counter_and_kind),
        scheme=ASSETS,
        describe=event_extra,
        ids_key="uploading_ids",
        rows_key="rows_accepted",
        src=getattr(task, "src", None),
        run_facets=_metrika_facet,
    )


def _counter_and_kind(uploading: Any) -> tuple[int, str] | None:
    counter_id, kind = uploading.get("counter_id"), uploading.get("kind")
    return (counter_id, kind) if isinstance(counter_id, int) and isinstance(kind, str) else None


def _metrika_facet(counter_id: int, kind: str, extra: dict[str, Any]) -> dict[str, Any]:
    if RunFacet is None:
        return {}
    return {
        "metrika": MetrikaUploadRunFacet(
            counterId=counter_id,
            kind=kind,
            uploadingIds=extra["uploading_ids"],
            statuses=extra["statuses"],
            rowsSent=extra.get("rows_sent"),
            rowsAccepted=extra.get("rows_accepted"),
            rowsLinked=extra.get("rows_linked"),
            linkedRatio=extra.get("linked_ratio"),
        )
    }


def report_hook_lineage(hook: Any, kind: str, counter_id: int, source: Any) -> None:
    """Tell Airflow's hook lineage collector what an upload read and wrote (never fails the upload)."""
    try:
        from airflow.providers.common.compat.lineage.hook import get_hook_lineage_collector

        collector = get_hook_lineage_collector()
        collector.add_output_asset(context=hook, uri=asset_uri(counter_id, kind))
        if isinstance(source, str | os.PathLike):
            collector.add_input_asset(context=hook, uri=f"file://{os.path.abspath(os.fspath(source))}")
    except Exception as error:  # lineage is best effort: an upload that worked stays a success
        hook.log.debug("Hook lineage not recorded: %s", type(error).__name__)
