"""Metrika's side of exactly-once: the fingerprint in the uploading's comment, the search for it,
and reading back the uploadings a journal names.

Every upload carries a short fingerprint (see :mod:`airflow_provider_metrika.jobs.fingerprint`)
in its comment. Before uploading, and after any upload whose answer was lost, the
operator looks for an uploading with that fingerprint and reuses it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from airflow_provider_metrika.exceptions import MetrikaClientError, MetrikaConfigError
from airflow_provider_metrika.jobs.fingerprint import conclusive_search
from airflow_provider_metrika.jobs.journal import SentRecord
from airflow_provider_metrika.uploads import Uploading, get_upload_kind

if TYPE_CHECKING:
    from airflow_provider_metrika.hooks.metrika import MetrikaHook

MAX_COMMENT = 255
# The offline-conversions upload page allows "digits, Latin and Cyrillic letters"
# (https://yandex.com/dev/metrika/en/management/openapi/offline_conversions/upload_1), yet
# clients tested against production send spaces and punctuation (rym: "Upload by rym at
# <time>", https://github.com/selesnow/rym) with no failure reported. So the rule is a
# warning unless asked for strictly. The fingerprint itself is letters and digits only,
# so it is safe under either reading.
_COMMENT_RE = re.compile(r"[0-9A-Za-zА-Яа-яЁё]*")  # noqa: RUF001
#: What an operator does with characters outside that rule.
COMMENT_RULES = ("strict", "warn", "none")

log = logging.getLogger(__name__)


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


def read_back(hook: MetrikaHook, kind: str, counter_id: int, uploading_id: str) -> Uploading | None:
    """The uploading as Metrika reports it now, or None when Metrika does not know it.

    Kinds with a by-id endpoint are read by GET; the CDP kinds are looked for in their list.
    """
    upload_kind = get_upload_kind(kind)
    if upload_kind.get_path is not None:
        try:
            return hook.get_uploading(upload_kind, counter_id, uploading_id)
        except MetrikaClientError as error:
            if error.status == 404:
                return None
            raise
    with conclusive_search(f"whether Metrika still has {kind} uploading {uploading_id}"):
        for uploading in hook.iter_uploadings(upload_kind, counter_id):
            if uploading.uploading_id == uploading_id:
                return uploading
    return None


def reattach(hook: MetrikaHook, record: SentRecord | None, logger: logging.Logger = log) -> list[Uploading] | None:
    """The recorded uploadings, read back, when the record is complete and Metrika still has all of them.

    Active, succeeded and failed uploadings are all returned: the caller waits on the
    active ones and reports the terminal ones; it never uploads the same data again.
    An incomplete record (a crash between two parts) or an unknown id returns None and
    the upload path takes over (its fingerprint search finds the parts already sent).
    """
    if record is None or not record.complete:
        return None
    uploadings: list[Uploading] = []
    for uploading_id in record.job_ids:
        uploading = None if uploading_id is None else read_back(hook, record.kind, int(record.scope), uploading_id)
        if uploading is None:
            logger.warning(
                "The journal names %s uploading %s, which Metrika does not know; searching instead",
                record.kind,
                uploading_id,
            )
            return None
        uploadings.append(uploading)
    for uploading in uploadings:
        logger.info("Reattached to %s (recorded by an earlier try): not uploading again", uploading.describe())
    return uploadings
