"""The bounds every CSV reading of the provider keeps, whatever the vendor (no Airflow import: the validators
and the emulator that runs them use it without Airflow)."""

from __future__ import annotations

#: The longest CSV record (one row, quoted line breaks included) the provider reads, in characters: the ``csv``
#: module's own default field limit, so no field inside an accepted record can trip that. A longer "record" is a
#: missing line end or a quote never closed; it is reported at its first row, never held whole.
MAX_RECORD_CHARS = 1 << 17
#: The most bytes one record can take within :data:`MAX_RECORD_CHARS` (4 bytes per UTF-8 character).
MAX_RECORD_BYTES = 4 * MAX_RECORD_CHARS
