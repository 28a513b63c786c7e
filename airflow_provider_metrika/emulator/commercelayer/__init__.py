"""The Commerce Layer emulator: OAuth2 token endpoint and the imports resource, on loopback.

Run it with ``python -m airflow_provider_metrika.emulator --vendor commercelayer --port 0``.
Layout: ``routes`` (paths), ``pipeline`` (rate limit -> token -> content negotiation -> faults),
``handlers``, ``views`` (JSON:API documents), ``errors``, ``state`` (tokens, imports and their
lifecycle), ``resources`` (input checks and the natural-key record store), ``settings``.

Choices where the public docs are silent:

- ``errors_log`` keys an input by its natural key's first field (a SKU's ``code``), else its
  ``id``, else its position in ``inputs``; an input fails when a required attribute is blank
  (SKUs ``code``/``name``, customers ``email``, prices ``sku_code``/``price_list_id``/
  ``amount_cents``, stock items ``sku_code``/``stock_location_id``/``quantity``), a customer's
  email is malformed or a count is not a number.
- ``warnings_log`` (the docs show its shape, ``{key: [messages]}``, and say only that warnings are
  reported there): an input whose natural key an earlier input of the same import took is skipped with
  ``skipped: duplicates input N of this import``, keyed by its position (its natural key names the input
  it duplicates); the ``duplicate_inputs`` setting makes it an error instead (``error``, strict) of a
  warning (``skip``, lenient, the default). With ``warn_unchanged`` an input identical to the stored
  record is applied with ``updated nothing: the record already has these values``. ``warnings_count``
  counts the messages; a warning never fails an import.
- Inputs are applied when the import ends; an automatic interrupt keeps those applied before
  the error share passed 10 %; ``_interrupt`` applies none. Interrupting an interrupted import
  is a no-op, a completed one answers 422.
- Rate limits key on the client address; refused requests do not count; the ``X-Ratelimit-*``
  headers come on every answer. No ``Retry-After`` (the docs name none).
- Tokens are kept as their sha256; clients (``clients`` setting) as the secrets' sha256.
"""

from airflow_provider_metrika.emulator.commercelayer.routes import build_app
from airflow_provider_metrika.emulator.commercelayer.settings import Settings
from airflow_provider_metrika.emulator.commercelayer.state import State

__all__ = ["Settings", "State", "build_app"]
