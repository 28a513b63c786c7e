"""Contact normalisation and hashing, the way Metrika matches contacts (§5.5).

Metrika compares MD5s of *normalised* values, so "Mail@Yandex.ru " and "mail@yandex.ru" must
hash alike; these helpers make the normalisation explicit and testable against the doc vectors.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from typing import Any

from airflow_provider_metrika.formats.values import check_email, check_phone

_PHONE_DECORATION = re.compile(r"[\s()\-.]")
RUSSIAN_TRUNK_PREFIX = "8"
NATIONAL_DIGITS = 10


class ContactValueError(ValueError):
    """A value that cannot be normalised; a ValueError so callers can catch either."""


def normalize_email(value: str) -> str:
    """Trim and lower-case; raise :class:`ContactValueError` when it is not an email."""
    email = str(value).strip().lower()
    problem = check_email(email)
    if problem is not None:
        raise ContactValueError(problem)
    return email


def normalize_phone(value: str | int, default_country_code: str = "7") -> str:
    """Digits only, with country code: ``+7 (999) 555-11-11`` and ``8 999 555 11 11`` -> ``79995551111``.

    A leading 8 on an 11-digit number is Russia's trunk prefix (with country code 7); a bare
    10-digit national number gets ``default_country_code``.
    """
    text = str(value).strip()
    digits = _PHONE_DECORATION.sub("", text).removeprefix("+")
    if not text.startswith("+"):
        trunk = len(digits) == NATIONAL_DIGITS + 1 and digits.startswith(RUSSIAN_TRUNK_PREFIX)
        if trunk and default_country_code == "7":
            digits = "7" + digits[1:]
        elif len(digits) == NATIONAL_DIGITS:
            digits = default_country_code + digits
    problem = check_phone(digits)
    if problem is not None:
        raise ContactValueError(problem)
    return digits


def md5_hex(normalized: str) -> str:
    """MD5 of an already normalised value, as lower-case hex."""
    return hashlib.md5(normalized.encode("utf-8"), usedforsecurity=False).hexdigest()


def _values(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, str):
        return [item for item in value.split(",") if item.strip()]
    if isinstance(value, Iterable):
        return list(value)
    return [value]


def hash_contact_fields(
    row: Mapping[str, Any], default_country_code: str = "7", keep_plain: bool = False
) -> dict[str, Any]:
    """Return a copy of ``row`` with ``emails``/``phones`` replaced by ``emails_md5``/``phones_md5``.

    Values are normalised before hashing and de-duplicated (Metrika wants unique values).
    With ``keep_plain`` the plain fields stay alongside the hashes.
    """
    result = dict(row)
    for plain, hashed, normalise in (
        ("emails", "emails_md5", normalize_email),
        ("phones", "phones_md5", lambda v: normalize_phone(v, default_country_code)),
    ):
        if plain not in row:
            continue
        hashes = list(dict.fromkeys(md5_hex(normalise(item)) for item in _values(row[plain])))
        result[hashed] = list(dict.fromkeys([*_values(row.get(hashed)), *hashes]))
        if not keep_plain:
            del result[plain]
    return result
