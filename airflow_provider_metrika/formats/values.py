"""Cell-level rules: each ``check_*`` takes a non-empty cell and returns a problem message or None.

Returning a message (rather than raising) keeps the per-row loop of a 1 GiB file free of
exception handling; the fast path of every check is a ``str`` method implemented in C.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import date, datetime

from airflow_provider_metrika.formats.report import shown

CellCheck = Callable[[str], "str | None"]

#: Active ISO 4217 codes (2025), including fund and precious-metal codes. Withdrawn codes
#: (HRK, CUC, ZWL, ...) are left out; ANG and SLL are kept while they still circulate.
ISO_4217_CODES: frozenset[str] = frozenset(
    """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL BSD BTN BWP BYN BZD
    CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL
    GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD
    KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO
    NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS
    SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD USN UYI UYU UYW UZS VED VES VND
    VUV WST XAF XAG XAU XBA XBB XBC XBD XCD XCG XDR XOF XPD XPF XPT XSU XUA YER ZAR ZMW ZWG
    """.split()  # noqa: SIM905 - a block of codes reads better than 180 quoted strings
)

#: §5.9: CSV dates and date-times; JSON accepts only the ISO-like pair.
CSV_DATE_FORMATS = ("%d.%m.%Y", "%d.%m.%y", "%Y-%m-%d")
CSV_DATETIME_FORMATS = (
    "%d.%m.%Y %H:%M:%S",
    "%d.%m.%y %H:%M",
    "%d.%m.%Y %H:%M",
    "%d.%m.%y %H:%M:%S",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
)
JSON_DATE_FORMATS = ("%Y-%m-%d",)
JSON_DATETIME_FORMATS = ("%Y-%m-%d %H:%M:%S",)
CDP_DATETIME_OUTPUT = "%Y-%m-%d %H:%M:%S"
CDP_DATE_OUTPUT = "%Y-%m-%d"
MIN_CDP_YEAR = 1970

_EMAIL = re.compile(r"[A-Za-z0-9._%+'-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_MD5 = re.compile(r"[0-9a-f]{32}")
_ATTRIBUTE_ID = re.compile(r"[\w:-]+")
MIN_PHONE_DIGITS = 7
MAX_PHONE_DIGITS = 15


#: What an event-time check answers for a valid time older than the linkage window (compare with ``is``).
STALE = "outside the linkage window"


# -- column-at-once forms ---------------------------------------------------------------------
# A block of a big file is checked column by column first: ``column_stale_count(check, column)``
# runs C-level loops (join + isdigit, set inclusion, map) and answers how many cells are STALE,
# or None when some cell breaks the rule, in which case the block is re-checked row by row for
# the messages. A check may carry a faster ``bulk`` attribute with the same contract.

ColumnCheck = Callable[[tuple[str, ...]], "int | None"]
#: The longest cell a check's ``pattern`` may match.
PATTERN_MAX_CHARS = 256


def with_bulk(
    bulk: ColumnCheck, pattern: str | None = None, *, complete: bool = True, matched: ColumnCheck | None = None
) -> Callable[[CellCheck], CellCheck]:
    """Attach a column-at-once form and, optionally, the regex of the cells the check accepts.

    ``pattern`` feeds the whole-block fast path (:mod:`~airflow_provider_metrika.formats.fastpath`):
    a non-empty cell that fully matches it passes the check when ``complete``, or still needs
    ``matched`` (a ``bulk`` for cells known to be empty or to match; ``bulk`` when not given).
    A pattern must never match a quote, CR, LF, ',' or ';', nor more than :data:`PATTERN_MAX_CHARS`
    characters (csv refuses fields over its ``field_size_limit``).
    """

    def attach(check: CellCheck) -> CellCheck:
        check.bulk = bulk  # type: ignore[attr-defined]
        if pattern is not None:
            check.pattern = pattern  # type: ignore[attr-defined]
            check.pattern_is_complete = complete  # type: ignore[attr-defined]
            check.bulk_matched = matched or bulk  # type: ignore[attr-defined]
        return check

    return attach


def alternation_pattern(words: Iterable[str]) -> str:
    """A regex matching exactly ``words``, nested by first letters so the engine tries few branches."""
    by_first: dict[str, list[str]] = {}
    for word in sorted(set(words)):
        by_first.setdefault(word[:1], []).append(word[1:])
    branches = []
    for first, rests in by_first.items():
        if first == "":
            continue
        tails = [rest for rest in rests if rest]
        inner = alternation_pattern(tails) if tails else ""
        optional = "" in rests
        if inner:
            inner = f"(?:{inner})" + ("?" if optional else "")
        branches.append(re.escape(first) + inner)
    return "|".join(branches)


def column_stale_count(check: CellCheck, column: tuple[str, ...]) -> int | None:
    """0 when every non-empty cell passes, the STALE count when some are only stale, None otherwise."""
    bulk = getattr(check, "bulk", None)
    if bulk is not None:
        return bulk(column)
    return None if any(map(check, filter(None, column))) else 0


def _all_digits(column: tuple[str, ...]) -> int | None:
    joined = "".join(column)
    return 0 if not joined or (joined.isdigit() and joined.isascii()) else None


_DECIMAL_COLUMN = re.compile(r"(?:[0-9]+(?:\.[0-9]+)?)?(?:\|(?:[0-9]+(?:\.[0-9]+)?)?)*")


def _all_decimals(column: tuple[str, ...]) -> int | None:
    """One regex over the '|'-joined column; a '|' inside a cell changes the count and fails."""
    joined = "|".join(column)
    if joined.count("|") == len(column) - 1 and _DECIMAL_COLUMN.fullmatch(joined):
        return 0
    return None


def _all_within(allowed: frozenset[str]) -> ColumnCheck:
    allowed = allowed | {""}
    return lambda column: 0 if allowed.issuperset(column) else None


def is_ascii_digits(value: str) -> bool:
    """``str.isdigit`` also accepts '²' and Arabic-Indic digits; Metrika wants 0-9.

    The hot checks below inline this expression: a call per cell costs more than the test.
    """
    return value.isdigit() and value.isascii()


DIGITS = "[0-9]{1,64}+"


@with_bulk(_all_digits, DIGITS)
def check_digits(value: str) -> str | None:
    return None if value.isdigit() and value.isascii() else f"{shown(value)} must be digits only"


#: Metrika's ClientID is an unsigned 64-bit integer
#: (https://yandex.com/support/metrica/en/data/offline-conversion-data.html: "ClientId ... of the UInt64 type").
MAX_CLIENT_ID = (1 << 64) - 1
_MAX_CLIENT_ID_TEXT = str(MAX_CLIENT_ID)


def _fits_uint64(value: str) -> bool:
    """For ASCII digit strings: compared as text, so a 100,000-digit cell is never turned into an int."""
    digits = value.lstrip("0") or "0"
    return len(digits) < len(_MAX_CLIENT_ID_TEXT) or (
        len(digits) == len(_MAX_CLIENT_ID_TEXT) and digits <= _MAX_CLIENT_ID_TEXT
    )


def _all_client_ids(column: tuple[str, ...]) -> int | None:
    if _all_digits(column) is None:
        return None
    return 0 if max(map(len, column)) < len(_MAX_CLIENT_ID_TEXT) or all(map(_fits_uint64, column)) else None


@with_bulk(_all_client_ids, "[0-9]{1,19}+")
def check_client_id(value: str) -> str | None:
    """A ClientID: ASCII digits of an unsigned 64-bit integer (at most 18446744073709551615)."""
    if not (value.isdigit() and value.isascii()):
        return f"{shown(value)} must be digits only"
    if _fits_uint64(value):
        return None
    return f"{shown(value)} is not a ClientID: it must fit an unsigned 64-bit integer (at most {MAX_CLIENT_ID})"


#: C0 control characters other than tab, LF and CR (which CSV quoting carries), and DEL, as a regex class body.
CONTROL_CHARACTERS = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f"
_CONTROL = re.compile(f"[{CONTROL_CHARACTERS}]")


def control_character_problem(value: str) -> str | None:
    """A message when ``value`` holds a control character Metrika cannot take (NUL, backspace, escape, ...)."""
    found = _CONTROL.search(value)
    if found is None:
        return None
    return f"holds the control character {found.group()!r} at position {found.start() + 1}; Metrika takes text"


def has_control_character(text: str) -> bool:
    return _CONTROL.search(text) is not None


@with_bulk(_all_digits, DIGITS)
def check_unix_seconds(value: str) -> str | None:
    return None if value.isdigit() and value.isascii() else f"{shown(value)} is not integer unix seconds"


def make_event_time_check(now_ts: int, window_start: int | None = None) -> CellCheck:
    """Integer unix seconds, not after ``now_ts`` (Metrika rejects future times).

    With ``window_start``, a valid time before it answers :data:`STALE` (the row is not linked).
    """
    oldest = -1 if window_start is None else window_start

    def check(value: str) -> str | None:
        if not (value.isdigit() and value.isascii()):
            return f"{shown(value)} is not integer unix seconds"
        seconds = int(value)
        if seconds > now_ts:
            return f"{value} is in the future (now {now_ts})"
        if seconds < oldest:
            return STALE
        return None

    now_text, oldest_text = str(now_ts), str(oldest)

    def window_count(cells: list[str] | tuple[str, ...]) -> int | None:
        """For digit strings as long as ``now_text``: they compare like their numbers, without int()."""
        if max(cells) > now_text:
            return None
        return sum(map(oldest_text.__gt__, cells)) if min(cells) < oldest_text else 0

    def bulk(column: tuple[str, ...]) -> int | None:
        if _all_digits(column) is None:
            return None
        cells = list(filter(None, column))
        if not cells:
            return 0
        if set(map(len, cells)) == {len(now_text)} and len(oldest_text) == len(now_text):
            return window_count(cells)
        seconds = list(map(int, cells))
        if max(seconds) > now_ts:
            return None
        return sum(map(oldest.__gt__, seconds))

    if len(oldest_text) != len(now_text):
        return with_bulk(bulk)(check)

    def matched(column: list[str] | tuple[str, ...]) -> int | None:
        cells = [cell for cell in column if cell] if "" in column else column
        return window_count(cells) if cells else 0

    # The fast path takes ten-digit times (2001-2286); other lengths go to the row checks.
    return with_bulk(bulk, f"[0-9]{{{len(now_text)}}}", complete=False, matched=matched)(check)


@with_bulk(_all_decimals, r"[0-9]{1,64}+(?:\.[0-9]{1,64}+)?+")
def check_decimal(value: str) -> str | None:
    """A non-negative decimal with '.' as the separator: ``1500``, ``1500.00``."""
    whole, dot, fraction = value.partition(".")
    if whole.isdigit() and whole.isascii() and (not dot or (fraction.isdigit() and fraction.isascii())):
        return None
    if "," in value and check_decimal(value.replace(",", ".", 1)) is None:
        return f"{shown(value)}: use '.' as the decimal separator, not ','"
    if value.startswith("-") and check_decimal(value[1:]) is None:
        return f"{shown(value)} must not be negative"
    return f"{shown(value)} is not a decimal number"


def make_max_decimal_check(maximum: int) -> CellCheck:
    def check(value: str) -> str | None:
        problem = check_decimal(value)
        if problem is None and float(value) > maximum:
            return f"{value} exceeds the maximum {maximum}"
        return problem

    return check


@with_bulk(_all_within(ISO_4217_CODES), alternation_pattern(ISO_4217_CODES))
def check_currency(value: str) -> str | None:
    return None if value in ISO_4217_CODES else f"{shown(value)} is not an ISO 4217 currency code"


@with_bulk(_all_within(frozenset({"0", "1"})), "[01]")
def check_flag(value: str) -> str | None:
    return None if value in ("0", "1") else f"{shown(value)} must be 0 or 1"


@with_bulk(_all_digits, DIGITS)
def check_non_negative_int(value: str) -> str | None:
    return None if is_ascii_digits(value) else f"{shown(value)} must be a non-negative integer"


def check_call_phone(value: str) -> str | None:
    """Calls' PhoneNumber: ``+70123456789`` — digits with an optional leading '+', no spaces."""
    return None if is_ascii_digits(value.removeprefix("+")) else f"{shown(value)} must be +digits with no spaces"


def check_email(value: str) -> str | None:
    if _EMAIL.fullmatch(value):
        return None
    return f"{shown(value)} is not an email (local@domain.tld, Latin letters)"


def check_phone(value: str) -> str | None:
    if is_ascii_digits(value) and MIN_PHONE_DIGITS <= len(value) <= MAX_PHONE_DIGITS:
        return None
    return f"{shown(value)}: phone must be digits with country code, e.g. 79995551111 (see normalize_phone)"


def check_md5(value: str) -> str | None:
    return None if _MD5.fullmatch(value) else f"{shown(value)} is not a lower-case hex MD5"


def check_attribute_id(value: str) -> str | None:
    return None if _ATTRIBUTE_ID.fullmatch(value) else f"{shown(value)} may hold only letters, digits, '_', '-', ':'"


def make_max_length_check(limit: int) -> CellCheck:
    def check(value: str) -> str | None:
        return None if len(value) <= limit else f"is {len(value)} characters long; the limit is {limit}"

    return check


def make_equals_check(*allowed: str) -> CellCheck:
    def check(value: str) -> str | None:
        return None if value in allowed else f"{shown(value)} must be {' or '.join(allowed)}"

    return check


def parse_with_formats(value: str, formats: tuple[str, ...]) -> datetime | None:
    for fmt in formats:
        try:
            return datetime.strptime(value, fmt)
        except ValueError:
            continue
    return None


def make_cdp_time_check(formats: tuple[str, ...], what: str) -> CellCheck:
    """A §5.9 date or date-time in one of ``formats``, not before 1970."""

    def check(value: str) -> str | None:
        parsed = parse_with_formats(value, formats)
        if parsed is None:
            return f"{shown(value)} is not a {what} Metrika reads"
        if parsed.year < MIN_CDP_YEAR:
            return f"{shown(value)} is before 1970-01-01"
        return None

    return check


check_cdp_date = make_cdp_time_check(CSV_DATE_FORMATS, "date (dd.MM.yyyy, dd.MM.yy, yyyy-MM-dd)")
check_cdp_datetime = make_cdp_time_check(
    CSV_DATETIME_FORMATS + CSV_DATE_FORMATS, "date-time (e.g. yyyy-MM-dd HH:mm:ss, dd.MM.yyyy HH:mm)"
)
check_json_date = make_cdp_time_check(JSON_DATE_FORMATS, "JSON date (yyyy-MM-dd)")
check_json_datetime = make_cdp_time_check(JSON_DATETIME_FORMATS, "JSON date-time (yyyy-MM-dd HH:mm:ss)")


def split_multi(value: str) -> list[str]:
    """Multi-value cells hold comma-separated values in one (quoted) cell."""
    return [item.strip() for item in value.split(",")]


def check_items(items: list[str], item_check: CellCheck, max_items: int) -> str | None:
    """Shared by CSV cells and JSON arrays: count, duplicates, then each item."""
    if len(items) > max_items:
        return f"has {len(items)} values; at most {max_items} allowed"
    if len(set(items)) != len(items):
        return "has duplicate values"
    for item in items:
        if not item:
            return "has an empty value in the list"
        problem = item_check(item)
        if problem is not None:
            return problem
    return None


def make_multi_check(item_check: CellCheck, max_items: int) -> CellCheck:
    def check(value: str) -> str | None:
        return check_items(split_multi(value), item_check, max_items)

    return check


def _check_priced_items(value: str, what: str, check_name: CellCheck, check_amount: CellCheck, need_amount: bool):
    for item in value.split(","):
        name, sep, amount = item.strip().rpartition(":")
        if not sep:
            name, amount = amount, ""
        if not name:
            return f"{shown(item)}: {what} needs a name before ':'"
        if need_amount and not amount:
            return f"{shown(item)}: {what} needs ':quantity'"
        problem = check_name(name) or (check_amount(amount) if amount else None)
        if problem is not None:
            return f"{shown(item)}: {problem}"
    return None


def check_goals_cell(value: str) -> str | None:
    """``goal1[:price1],goal2[:price2]`` (orders, simple orders).

    Text after the last ':' is read as the price, so a goal id that contains ':' must carry a price.
    """
    return _check_priced_items(value, "goal", check_attribute_id, check_decimal, need_amount=False)


def _check_product_name(name: str) -> str | None:
    return None


def check_products_cell(value: str) -> str | None:
    """``Name:qty,Name2:qty`` (orders)."""
    return _check_priced_items(value, "product", _check_product_name, check_decimal, need_amount=True)


def format_cdp_time(value: date) -> str:
    """Metrika's CDP output format: date-times as ``yyyy-MM-dd HH:mm:ss``, dates as ``yyyy-MM-dd``."""
    if isinstance(value, datetime):
        return value.strftime(CDP_DATETIME_OUTPUT)
    return value.strftime(CDP_DATE_OUTPUT)
