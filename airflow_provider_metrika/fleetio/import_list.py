"""What Fleetio documents about its imports list (https://developer.fleetio.com/docs/api/v-1-imports): the
import and row statuses, the sort fields and the time bounds of its filters.

These are facts of the public API, not behaviour: the client (:mod:`.api`) and the emulator
(:mod:`airflow_provider_metrika.emulator.fleetio`) read them from this one table, so they cannot drift apart.
The emulator models everything else (lifecycle, keyset paging, rate limits) on its own, which is what makes
the tests against it meaningful. Nothing here imports Airflow (the emulator runs without it).
"""

from __future__ import annotations

#: Import statuses, in the documented order.
STATUSES = (
    "new",
    "queued",
    "processing",
    "partially_complete",
    "failed",
    "complete",
    "incomplete",
    "rolled_back",
    "rolling_back",
    "unsupported",
)
#: The statuses an import does not leave.
TERMINAL = ("complete", "partially_complete", "failed", "incomplete", "rolled_back", "unsupported")
#: Row result statuses (https://developer.fleetio.com/docs/api/v-1-imports-results).
ROW_STATUSES = ("error", "updated", "created", "unaffected", "pending")
#: The fields a list sorts by.
SORT_FIELDS = ("id", "created_at", "updated_at")
#: The bounds of a ``created_at``/``updated_at`` filter.
BOUNDS = ("lt", "lte", "gt", "gte")
