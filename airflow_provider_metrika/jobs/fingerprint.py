"""Job fingerprints: the mark that makes a sent job findable again, so it is never sent twice.

Every job carries a short fingerprint (content digest + dag/task/run/map index) where its
vendor lets a client store text (Metrika: the uploading's comment). Before sending, and after
any send whose answer was lost, the operator looks for a job with that fingerprint and reuses it.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from typing import Any

from airflow_provider_metrika.exceptions import ApiError, SentJobSearchError

PREFIX = "afm"
FINGERPRINT_LEN = len(PREFIX) + 20


def fingerprint(context: Any, content_digest: str) -> str:
    """``afm`` + 20 hex digits identifying (this task instance, this content)."""
    ti = context["ti"]
    parts = [ti.dag_id, ti.task_id, ti.run_id, str(getattr(ti, "map_index", -1)), content_digest]
    return PREFIX + hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:20]


@contextlib.contextmanager
def conclusive_search(question: str) -> Iterator[None]:
    """Turn an unreadable list answer met while searching into SentJobSearchError (never "not found")."""
    try:
        yield
    except ApiError as error:
        if error.error_type != "invalid_response":
            raise
        raise SentJobSearchError(
            f"could not tell {question}: {error.message}. Nothing was uploaded; the next try searches again"
        ) from error
