"""OpenLineage for Metrika uploads: the source file in, the counter and kind out, Metrika's counters on the run.

Operators and the sensor answer ``get_openlineage_facets_on_complete`` from what the task
finished with (https://airflow.apache.org/docs/apache-airflow-providers-openlineage/stable/guides/developer.html);
the hook reports to Airflow's hook lineage collector, so ``@task`` code that calls it is covered too.
Everything here is optional: without the openlineage provider nothing is imported from it.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlsplit

from airflow_provider_metrika.assets import SCHEME, annotate_outlets, asset_uri, event_extra, uploadings_of

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
    setattr(task, RESULT_ATTRIBUTE, result)
    return annotate_outlets(task, context, result)


def source_dataset(src: Any) -> tuple[str, str] | None:
    """OpenLineage ``(namespace, name)`` of an upload's source: ``s3://bucket`` + key, or ``file`` + path."""
    if src is None:
        return None
    text = str(src)
    if "://" in text:
        parts = urlsplit(text)
        return f"{parts.scheme}://{parts.netloc}", parts.path.lstrip("/") or "/"
    return "file", os.path.abspath(text)


def operator_lineage(task: Any) -> Any:
    """``OperatorLineage`` for a finished task: inputs, one output per counter and kind, run facets."""
    from airflow.providers.common.compat.openlineage.facet import (
        Dataset,
        ExternalQueryRunFacet,
        OutputDataset,
        OutputStatisticsOutputDatasetFacet,
    )
    from airflow.providers.openlineage.extractors import OperatorLineage

    uploadings = uploadings_of(getattr(task, RESULT_ATTRIBUTE, None))
    source = source_dataset(getattr(task, "src", None))
    inputs = [Dataset(namespace=source[0], name=source[1])] if source else []
    outputs, run_facets = [], {}
    for (counter_id, kind), group in _grouped(uploadings).items():
        extra = event_extra(group)
        facets = {}
        if extra.get("rows_accepted") is not None:
            facets["outputStatistics"] = OutputStatisticsOutputDatasetFacet(rowCount=extra["rows_accepted"])
        outputs.append(OutputDataset(namespace=f"{SCHEME}://{counter_id}", name=kind, outputFacets=facets))
        run_facets["externalQuery"] = ExternalQueryRunFacet(
            externalQueryId=",".join(extra["uploading_ids"]), source=f"{SCHEME}://{counter_id}"
        )
        if RunFacet is not None:
            run_facets["metrika"] = MetrikaUploadRunFacet(
                counterId=counter_id,
                kind=kind,
                uploadingIds=extra["uploading_ids"],
                statuses=extra["statuses"],
                rowsSent=extra.get("rows_sent"),
                rowsAccepted=extra.get("rows_accepted"),
                rowsLinked=extra.get("rows_linked"),
                linkedRatio=extra.get("linked_ratio"),
            )
    return OperatorLineage(inputs=inputs, outputs=outputs, run_facets=run_facets)


def _grouped(uploadings: list[Any]) -> dict[tuple[int, str], list[Any]]:
    groups: dict[tuple[int, str], list[Any]] = {}
    for uploading in uploadings:
        counter_id, kind = uploading.get("counter_id"), uploading.get("kind")
        if isinstance(counter_id, int) and isinstance(kind, str):
            groups.setdefault((counter_id, kind), []).append(uploading)
    return groups


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
