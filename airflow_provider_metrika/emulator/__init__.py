"""A local Yandex Metrika data-import emulator: a real aiohttp server on loopback.

Run it with ``python -m airflow_provider_metrika.emulator --port 0`` (see ``__main__``) or,
from tests, with :class:`airflow_provider_metrika.emulator.testing.EmulatorProcess`.

Layout (one responsibility per module):

- ``app`` routes (paths come from :data:`airflow_provider_metrika.uploads.UPLOAD_KINDS`),
  ``pipeline`` the per-request chain (errors -> auth -> quotas -> faults),
  ``management_api`` / ``cdp_api`` the Metrika handlers, ``control`` the ``/_emulator/`` API;
- ``csvstream`` incremental CSV reading, ``rules`` management file checks, ``cdp`` CDP validation,
  ``receive`` multipart streaming (hash + spool on a worker thread);
- ``store`` SQLite state, ``state`` the bundle handlers use, ``clock``, ``config``, ``quotas``,
  ``faults``, ``lifecycle`` (status from time), ``linkage``, ``views`` (response shapes).

Choices where the real API is undocumented (see ``/work/shared/metrika-api.md`` [verify] items):

- Lists of management uploadings are newest first; ``type`` filters offline conversions only
  when given. ``last_uploadings`` is newest first.
- CDP ``datetime`` is UTC with milliseconds and strictly increasing per emulator (a later
  uploading in the same millisecond gets the next one). ``datetime_offset`` accepts
  ``2020-02-10 10:00:00`` and ``2020-02-10T10:00:00.000Z`` (UTC unless a zone is given) and
  returns uploadings strictly earlier, compared at full precision: pass the last ``datetime``
  seen, unchanged, to get the next page.
- User params before confirmation have status ``uploaded`` (a guess).
- Expenses and their deletions share one list (``type`` ``EXPENSES`` / ``REMOVES``) and go ``UPLOADED`` ->
  ``IN_PROGRESS`` -> ``PROCESSED`` (one stage each). How a deletion matches uploaded rows is not documented:
  see ``expenses`` for the emulator's rule; ``/_emulator/expenses`` shows what a counter holds.
- Chats (``upload?type=CHATS``) need ``DateTime`` and a visitor id column; any other column is
  accepted, because Metrika publishes no column table for chats beyond the ids.
- ``DateTime`` may lie up to ``future_tolerance_seconds`` (default 120) ahead of the emulator
  clock: clients validate against the real clock while a frozen emulator clock stands still.
- Linkage counters (``linked_quantity``, ``user_not_found_quantity`` = rows that did not link,
  ``static/dynamic_calls_quantity``) appear once the status is terminal; they are counted then,
  from the spooled file, with the visitors registered before the upload.
  ``goal_not_found_quantity`` is always 0 (the emulator knows no goals).
- Settings changed over the control API persist in the db and win over CLI flags on restart;
  ``reset`` returns to the CLI defaults and re-anchors the clock at the real time.
- Tokens are never stored: request counters and the token map use the token's sha256.
- Where the docs and production practice differ, ``EmulatorConfig`` switches pick the
  reading (``first_status``, ``comment_chars``, ``upload_comment``; see its
  docstring for the sources).
- The user-params confirm body (and the legacy PUT) sets ``comment``, ``content_id_type``
  (lower case, as the docs' enum) and ``action``. A header-less ``id,key,value`` file is
  accepted; its ``content_id_type`` must then come with the confirm.
- Legacy api2 endpoints that older clients call first are served: ``(calls_)extended_threshold``
  (POST/DELETE → ``{"success": true}``), ``(calls_)visit_join_threshold`` (GET →
  ``{"date": <21 days back>}``), ``PUT …/user_params/uploading/{id}``, and every management
  path with a ``.json`` suffix. ``GET /management/v1/counters`` lists the token's counters
  (from the token map) or, without one, the counters holding data.
- Padded ``DateTime`` values (``id, 1481714026``) are trimmed, like padded header names.
- A ``file`` part without a filename is not a file (400 ``missing_parameter``), as in servlet
  multipart handling; two ``file`` parts are refused (400). JSON bodies are capped at 64 MiB
  (413): Metrika documents no limit, and the emulator parses JSON whole.
- A body that sends nothing for ``body_timeout_seconds`` (real time, default 30) gets 408 with
  error type ``timeout``, Metrika's name for a request that ran too long.
"""
