"""OpenLineage for Commerce Layer imports: the source file in, the organization's resource type out, the counters.

The operator and the sensor answer ``get_openlineage_facets_on_complete`` from the
:class:`~airflow_provider_metrika.jobs.record.JobsResult` they finished with
(https://airflow.apache.org/docs/apache-airflow-providers-openlineage/stable/guides/developer.html).
Nothing is imported from the openlineage provider unless it is installed and asked.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_metrika.commercelayer.assets import ASSETS, annotate_outlets, event_extra
from airflow_provider_metrika.jobs.assets import scope_and_kind, summaries_of
from airflow_provider_metrika.jobs.lineage import grouped, jobs_lineage, keep_result

RESULT_ATTRIBUTE = "_commercelayer_final_result"


def completed(task: Any, context: Any, result: Any) -> Any:
    """Every final success of a Commerce Layer task goes through here: kept for lineage, marked on the outlets."""
    return annotate_outlets(task, context, keep_result(task, RESULT_ATTRIBUTE, result))


def operator_lineage(task: Any) -> Any:
    """``OperatorLineage``: the source as input, one output per organization and resource type, run facets."""
    return jobs_lineage(
        grouped(summaries_of(getattr(task, RESULT_ATTRIBUTE, None)), scope_and_kind),
        scheme=ASSETS,
        describe=event_extra,
        ids_key="import_ids",
        rows_key="processed",
        src=getattr(task, "src", None),
    )
