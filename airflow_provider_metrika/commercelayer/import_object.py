"""The import object as Commerce Layer documents it (https://docs.commercelayer.io/core/v/api-reference/imports/object):
its attributes, statuses and limits.

These are facts of the public API, not behaviour: the client (:mod:`.api`) and the emulator
(:mod:`airflow_provider_metrika.emulator.commercelayer`) read them from this one table, so they cannot drift
apart. The emulator models everything else (lifecycle, errors, rate limits, the token endpoint) on its own,
which is what makes the tests against it meaningful. Nothing here imports Airflow (the emulator runs without it).
"""

from __future__ import annotations

#: The import object's attributes, in the documented order.
ATTRIBUTES = (
    "resource_type",
    "format",
    "parent_resource_id",
    "status",
    "started_at",
    "completed_at",
    "interrupted_at",
    "inputs",
    "inputs_size",
    "errors_count",
    "warnings_count",
    "processed_count",
    "destroyed_count",
    "errors_log",
    "warnings_log",
    "cleanup_records",
    "skip_errors",
    "attachment_url",
    "created_at",
    "updated_at",
    "reference",
    "reference_origin",
    "metadata",
)
STATUSES = ("pending", "in_progress", "completed", "interrupted")
#: The statuses of an import that still runs (at most ten per organization run at once).
OPEN_STATUSES = ("pending", "in_progress")
#: Inputs per import (the official tools split larger inputs at this size).
MAX_INPUTS = 10_000
#: The largest ``page[size]`` of a list (https://docs.commercelayer.io/core/pagination).
MAX_PAGE_SIZE = 25
