"""Upload fingerprints: the mark that makes an upload findable, so it is never made twice.

Every upload carries a short fingerprint (content digest + dag/task/run/map index)
in its comment. Before uploading, and after any upload whose answer was lost, the
operator looks for an uploading with that fingerprint and reuses it.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from airflow_provider_metrika.exceptions import MetrikaApiError, MetrikaConfigError, MetrikaSearchError
from airflow_provider_metrika.uploads import Uploading, get_upload_kind

if TYPE_CHECKING:
    from airflow_provider_metrika.hooks.metrika import MetrikaHook

MAX_COMMENT = 255
PREFIX = "afm"
FINGERPRINT_LEN = len(PREFIX) + 20
# The offline-conversions upload page allows "digits, Latin and Cyrillic letters"
# (https://yandex.com/dev/metrika/en/management/openapi/offline_conversions/upload_1), yet
# clients tested against production send spaces and punctuation (rym: "Upload by rym at
# <time>", https://github.com/selesnow/rym) with no failure reported. So the rule is a
# warning unless asked for strictly. The fingerprint itself is letters and digits only,
# so it is safe under either reading.
_COMMENT_RE = re.compile(r"[0-9A-Za-zА-Яа-яЁё]*")  # noqa: RUF001
#: What an operator does with characters outside that rule.
COMMENT_RULES = ("strict", "warn", "none")


def validate_comment(
    comment: str | None,
    *,
    reserve: int = 0,
    param: str = "comment",
    rule: str = "strict",
    warn: Callable[[str], None] | None = None,
) -> str:
    """The comment, stripped; a clear error if it is too long (``reserve`` leaves room for the fingerprint).

    Characters outside Latin and Cyrillic letters and digits are an error with
    ``rule="strict"``, passed to ``warn`` with ``"warn"``, and allowed with ``"none"``
    (the calls page states no character rule).
    """
    text = (comment or "").strip()
    limit = MAX_COMMENT - reserve
    if len(text) > limit:
        extra = f" ({reserve} are reserved for the upload fingerprint)" if reserve else ""
        raise MetrikaConfigError(
            f"{param} is {len(text)} characters long; Metrika allows {MAX_COMMENT}{extra}, so at most {limit}"
        )
    if rule == "none" or _COMMENT_RE.fullmatch(text):
        return text
    bad = "".join(sorted({ch for ch in text if not _COMMENT_RE.fullmatch(ch)}))
    if rule == "strict":
        raise MetrikaConfigError(
            f"{param} contains {bad!r}: the documented rule allows only Latin and Cyrillic letters and digits "
            "(no spaces or punctuation); strict_comment=False sends it anyway"
        )
    if warn is not None:
        warn(
            f"{param} contains {bad!r}: Metrika documents only Latin and Cyrillic letters and digits, though "
            "clients send other characters without trouble (strict_comment=True makes this an error)"
        )
    return text


def fingerprint(context: Any, content_digest: str) -> str:
    """``afm`` + 20 hex digits identifying (this task instance, this content)."""
    ti = context["ti"]
    parts = [ti.dag_id, ti.task_id, ti.run_id, str(getattr(ti, "map_index", -1)), content_digest]
    return PREFIX + hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:20]


def comment_with(comment: str | None, mark: str) -> str:
    """The user's comment followed directly by the fingerprint, within Metrika's 255 characters.

    Only the length is checked here: the character rule is the operator's, checked before.
    """
    return validate_comment(comment, reserve=len(mark), rule="none") + mark


def find_uploading(hook: MetrikaHook, kind: str, counter_id: int, mark: str) -> Uploading | None:
    """An uploading whose comment carries ``mark`` (paging through the whole list), or None.

    None means Metrika's whole list was read and holds no such uploading; a list that
    cannot be read raises MetrikaSearchError instead.
    """
    upload_kind = get_upload_kind(kind)
    if upload_kind.list_path is None:
        return None
    with conclusive_search(f"whether {kind} data with fingerprint {mark} was already uploaded"):
        for uploading in hook.iter_uploadings(upload_kind.name, counter_id):
            if uploading.comment.endswith(mark):
                return uploading
    return None


@contextlib.contextmanager
def conclusive_search(question: str) -> Iterator[None]:
    """Turn an unreadable list answer met while searching into MetrikaSearchError (never "not found")."""
    try:
        yield
    except MetrikaApiError as error:
        if error.error_type != "invalid_response":
            raise
        raise MetrikaSearchError(
            f"could not tell {question}: {error.message}. Nothing was uploaded; the next try searches again"
        ) from error
