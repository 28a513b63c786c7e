"""OpenLineage for Commerce Layer imports: the source file in, the organization's resource type out, the counters.

The operator and the sensor answer ``get_openlineage_facets_on_complete`` from the
:class:`~airflow_provider_metrika.jobs.record.JobsResult` they finished with
(https://airflow.apache.org/docs/apache-airflow-providers-openlineage/stable/guides/developer.html).
Nothing is imported from the openlineage provider unless it is installed and asked.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_provider_metrika.commercelayer.assets import SCHEME, annotate_outlets, event_extra
from airflow_provider_metrika.lineage import source_dataset

RESULT_ATTRIBUTE = "_commercelayer_final_result"


def completed(task: Any, context: Any, result: Any) -> Any:
    """Every final success of a Commerce Layer task goes through here: kept for lineage, marked on the outlets."""
    setattr(task, RESULT_ATTRIBUTE, result)
    return annotate_outlets(task, context, result)


def operator_lineage(task: Any) -> Any:
    """``OperatorLineage``: the source as input, one output per organization and resource type, run facets."""
    from airflow.providers.common.compat.openlineage.facet import (
        Dataset,
        ExternalQueryRunFacet,
        OutputDataset,
        OutputStatisticsOutputDatasetFacet,
    )
    from airflow.providers.openlineage.extractors import OperatorLineage

    result = getattr(task, RESULT_ATTRIBUTE, None)
    jobs = [
        job for job in (result.get("jobs") if isinstance(result, Mapping) else None) or [] if isinstance(job, Mapping)
    ]
    source = source_dataset(getattr(task, "src", None))
    inputs = [Dataset(namespace=source[0], name=source[1])] if source else []
    groups: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for job in jobs:
        groups.setdefault((str(job.get("scope")), str(job.get("kind"))), []).append(job)
    outputs, run_facets = [], {}
    for (organization, resource_type), group in groups.items():
        extra = event_extra(group)
        facets = {}
        if extra.get("processed") is not None:
            facets["outputStatistics"] = OutputStatisticsOutputDatasetFacet(rowCount=extra["processed"])
        outputs.append(OutputDataset(namespace=f"{SCHEME}://{organization}", name=resource_type, outputFacets=facets))
        run_facets["externalQuery"] = ExternalQueryRunFacet(
            externalQueryId=",".join(extra["import_ids"]), source=f"{SCHEME}://{organization}"
        )
    return OperatorLineage(inputs=inputs, outputs=outputs, run_facets=run_facets)
