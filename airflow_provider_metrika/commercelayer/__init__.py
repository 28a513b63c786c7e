"""Commerce Layer: imports of SKUs, prices, stock, customers, ... into an organization.

``connection`` reads the ``commercelayer`` Airflow connection, ``auth`` caches OAuth2
client-credentials tokens per process, ``api`` knows the JSON:API answers (imports, errors),
``hooks`` holds :class:`~airflow_provider_metrika.commercelayer.hooks.CommerceLayerHook`.
API reference: https://docs.commercelayer.io/core/v/api-reference/imports.
"""

CONN_TYPE = "commercelayer"
#: The vendor's name in job records and results.
VENDOR = "commercelayer"
#: The global token endpoint; organizations created before it use ``https://<slug>.commercelayer.io/oauth/token``.
DEFAULT_AUTH_URL = "https://auth.commercelayer.io/oauth/token"
