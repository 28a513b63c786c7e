"""Fleetio: watch the imports people make in Fleetio's web app (its API cannot create them).

``connection`` reads the ``fleetio`` Airflow connection, ``api`` knows the answers (imports,
row results, both error shapes, query building), ``hooks`` holds
:class:`~airflow_provider_metrika.fleetio.hooks.FleetioHook`.
API reference: https://developer.fleetio.com/docs/api/v-1-imports.
"""

CONN_TYPE = "fleetio"
DEFAULT_HOST = "https://secure.fleetio.com"
#: The first date version with the keyset-paginated, ``filter[...]``-style lists
#: (https://developer.fleetio.com/docs/overview/versioning).
MIN_API_VERSION = "2024-01-01"
