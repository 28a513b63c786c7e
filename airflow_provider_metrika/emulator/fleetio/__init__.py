"""The Fleetio emulator: List Imports and import results with keyset pagination, on loopback.

Run it with ``python -m airflow_provider_metrika.emulator --vendor fleetio --port 0``.
Layout: ``routes`` (paths), ``pipeline`` (version -> credentials -> rate limit -> faults, and
the two error shapes), ``handlers``, ``keyset`` (cursors), ``state`` (imports, status from
the clock), ``settings``.

Choices where the public docs are silent:

- Without ``X-Api-Version`` a request runs on the key's pinned version (``key_version``,
  default 2023-01-01), which has no keyset lists: List Imports then answers 422 naming
  ``X-Api-Version``. Clients must send a 2024-dated version.
- A cursor is bound to the filters and sorts (not ``per_page``); another query gets 422 on
  ``start_cursor``. One sort at a time; ties break on ``id`` in the same direction.
- Results are served at ``/api/v1/imports/{id}/results`` as List Row Results for an Import documents
  it (https://developer.fleetio.com/docs/api/v-1-imports-results), ordered by row (``id`` ascending);
  rows are ``pending`` until the import ends. ``status=failed`` when every row failed,
  ``partially_complete`` when some did, unless the control call fixes the outcome.
- The rate limit counts per API key; refused requests do not count.
"""

from airflow_provider_metrika.emulator.fleetio.routes import build_app
from airflow_provider_metrika.emulator.fleetio.settings import Settings
from airflow_provider_metrika.emulator.fleetio.state import State

__all__ = ["Settings", "State", "build_app"]
