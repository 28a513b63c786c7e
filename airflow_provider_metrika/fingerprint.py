"""Upload fingerprints: the mark that makes an upload findable, so it is never made twice.

Every upload carries a short fingerprint (content digest + dag/task/run/map index)
in its comment. Before uploading, and after any upload whose answer was lost, the
operator looks for an uploading with that fingerprint and reuses it.
"""

from __future__ import annotations

import hashlib
import re
from typing import TYPE_CHECKING, Any

from airflow_provider_metrika.exceptions import MetrikaConfigError
from airflow_provider_metrika.uploads import Uploading, get_upload_kind

if TYPE_CHECKING:
    from airflow_provider_metrika.hooks.metrika import MetrikaHook

MAX_COMMENT = 255
PREFIX = "afm"
FINGERPRINT_LEN = len(PREFIX) + 20
# Seed 002: "digits, Latin and Cyrillic letters are allowed". Nothing else (not even a space):
# Metrika's handling of other characters is unknown, and a changed comment would hide the mark.
_COMMENT_RE = re.compile(r"[0-9A-Za-zА-Яа-яЁё]*")  # noqa: RUF001


def validate_comment(comment: str | None, *, reserve: int = 0, param: str = "comment") -> str:
    """A clear error for a comment Metrika would reject; ``reserve`` leaves room for the fingerprint."""
    text = (comment or "").strip()
    limit = MAX_COMMENT - reserve
    if len(text) > limit:
        extra = f" ({reserve} are reserved for the upload fingerprint)" if reserve else ""
        raise MetrikaConfigError(
            f"{param} is {len(text)} characters long; Metrika allows {MAX_COMMENT}{extra}, so at most {limit}"
        )
    if not _COMMENT_RE.fullmatch(text):
        bad = sorted({ch for ch in text if not _COMMENT_RE.fullmatch(ch)})
        raise MetrikaConfigError(
            f"{param} contains {''.join(bad)!r}: Metrika accepts only Latin and Cyrillic letters and digits "
            "(no spaces or punctuation)"
        )
    return text


def fingerprint(context: Any, content_digest: str) -> str:
    """``afm`` + 20 hex digits identifying (this task instance, this content)."""
    ti = context["ti"]
    parts = [ti.dag_id, ti.task_id, ti.run_id, str(getattr(ti, "map_index", -1)), content_digest]
    return PREFIX + hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:20]


def comment_with(comment: str | None, mark: str) -> str:
    """The user's comment followed directly by the fingerprint, within Metrika's 255 characters."""
    return validate_comment(comment, reserve=len(mark)) + mark


def find_uploading(hook: MetrikaHook, kind: str, counter_id: int, mark: str) -> Uploading | None:
    """An uploading whose comment carries ``mark`` (paging through the whole list), or None."""
    upload_kind = get_upload_kind(kind)
    if upload_kind.list_path is None:
        return None
    for uploading in hook.iter_uploadings(upload_kind.name, counter_id):
        if uploading.comment.endswith(mark):
            return uploading
    return None
