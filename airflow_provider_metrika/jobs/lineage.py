"""OpenLineage of import jobs: the facets every vendor's operators and sensors report from what they finished with.

Operators and sensors answer ``get_openlineage_facets_on_complete``
(https://airflow.apache.org/docs/apache-airflow-providers-openlineage/stable/guides/developer.html) with the
source file as input, one dataset per (scope, kind) of the jobs and the job ids as an ``externalQuery`` run
facet; a vendor adds its own counters and facets. Nothing is imported from the openlineage provider unless it
is installed and asked.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from airflow_provider_metrika.jobs.assets import AssetScheme

Job = Mapping[str, Any]


def keep_result(task: Any, attribute: str, result: Any) -> Any:
    """Keep a task's final result on it (under the vendor's ``attribute``) for its lineage; ``result`` back."""
    setattr(task, attribute, result)
    return result


def source_dataset(src: Any) -> tuple[str, str] | None:
    """OpenLineage ``(namespace, name)`` of a task's source: ``s3://bucket`` + key, or ``file`` + path."""
    if src is None:
        return None
    text = str(src)
    if "://" in text:
        parts = urlsplit(text)
        return f"{parts.scheme}://{parts.netloc}", parts.path.lstrip("/") or "/"
    return "file", os.path.abspath(text)


def grouped(jobs: Iterable[Job], key: Callable[[Job], tuple[Any, Any] | None]) -> dict[tuple[Any, Any], list[Job]]:
    """The jobs by the (scope, kind) their ``key`` gives; a job whose key is None belongs to no dataset."""
    groups: dict[tuple[Any, Any], list[Job]] = {}
    for job in jobs:
        group = key(job)
        if group is not None:
            groups.setdefault(group, []).append(job)
    return groups


def jobs_lineage(
    groups: Mapping[tuple[Any, str], list[Job]],
    *,
    scheme: AssetScheme,
    describe: Callable[[list[Job]], dict[str, Any]],
    ids_key: str,
    rows_key: str | None = None,
    src: Any = None,
    jobs_are_inputs: bool = False,
    run_facets: Callable[[Any, str, dict[str, Any]], Mapping[str, Any]] | None = None,
) -> Any:
    """``OperatorLineage`` of a finished task: ``src`` in, one dataset per (scope, kind) of ``groups``, the run facets.

    ``describe`` gives a group's event extra, where ``ids_key`` lists the job ids and ``rows_key`` (if any) the
    rows written (the output's statistics). A sensor that watched jobs someone else made reads their datasets:
    ``jobs_are_inputs``. ``run_facets(scope, kind, extra)`` adds a vendor's own run facets.
    """
    from airflow.providers.common.compat.openlineage.facet import (
        Dataset,
        ExternalQueryRunFacet,
        OutputDataset,
        OutputStatisticsOutputDatasetFacet,
    )
    from airflow.providers.openlineage.extractors import OperatorLineage

    source = source_dataset(src)
    inputs: list[Any] = [Dataset(namespace=source[0], name=source[1])] if source else []
    outputs: list[Any] = []
    facets: dict[str, Any] = {}
    ids: list[str] = []
    for (scope, kind), group in groups.items():
        extra = describe(group)
        ids.extend(extra[ids_key])
        if jobs_are_inputs:
            inputs.append(Dataset(namespace=scheme.namespace(scope), name=kind))
        else:
            statistics = {}
            if rows_key is not None and extra.get(rows_key) is not None:
                statistics["outputStatistics"] = OutputStatisticsOutputDatasetFacet(rowCount=extra[rows_key])
            outputs.append(OutputDataset(namespace=scheme.namespace(scope), name=kind, outputFacets=statistics))
        if run_facets is not None:
            facets.update(run_facets(scope, kind, extra))
    if groups:
        first_scope = next(iter(groups))[0]
        facets["externalQuery"] = ExternalQueryRunFacet(
            externalQueryId=",".join(ids), source=scheme.namespace(first_scope)
        )
    return OperatorLineage(inputs=inputs, outputs=outputs, run_facets=facets)
