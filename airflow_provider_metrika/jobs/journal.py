"""The send journal: which jobs a task instance already sent, kept across retries.

Airflow 3.3 gives every task instance a task state store (``context["task_state_store"]``)
that outlives retries and worker crashes; the same idea backs ``ResumableJobMixin``. The
sending operators write each job id there the moment the vendor returns it, together
with the fingerprint of the data it came from. A retry of the same task instance with the
same data reads the record back and reattaches to those jobs (waits on them, or
returns them) without validating or sending again.

The mixin itself is not used: it persists one id after the whole submit, while a split
file yields one job per part and each must be kept as soon as it exists; and it
resubmits after a failed job, while a failed job here is the answer for this data
(the vendor would judge the same rows the same way).

Below Airflow 3.3 there is no store and the journal records nothing. That is the compat
path: the fingerprint each job carries (see :mod:`.fingerprint`) already lets a retry find
its job by listing the vendor's jobs. The journal only makes that cheaper and independent
of the list; the fingerprint search stays the safety net, so a journal that cannot be read
or written never fails a task.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from typing import Any

#: Metrika's task-state-store key. Renaming it breaks the resumption of retries already in flight.
JOURNAL_KEY = "metrika_uploadings"
_VERSION = 1

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class SentRecord:
    """What one task instance sent from one input: the job id and fingerprint of every part.

    ``source`` fingerprints the whole input for this task instance; a retry whose input
    has another fingerprint (the data changed) ignores the record. ``scope`` is where the
    jobs live (a Metrika counter id, a Commerce Layer organization).
    """

    kind: str
    scope: str
    source: str
    marks: tuple[str, ...]
    job_ids: tuple[str | None, ...]

    @property
    def complete(self) -> bool:
        """True once every part's job id is known."""
        return bool(self.job_ids) and all(job_id is not None for job_id in self.job_ids)

    def with_part(self, index: int, job_id: str) -> SentRecord:
        ids = list(self.job_ids)
        ids[index] = job_id
        return dataclasses.replace(self, job_ids=tuple(ids))

    def to_json(self) -> dict[str, Any]:
        return {
            "version": _VERSION,
            "kind": self.kind,
            "scope": self.scope,
            "source": self.source,
            "parts": [
                {"fingerprint": mark, "job_id": job_id} for mark, job_id in zip(self.marks, self.job_ids, strict=True)
            ],
        }

    @classmethod
    def from_json(cls, value: Any) -> SentRecord | None:
        """The record, or None for anything this version did not write.

        Records written before the kernel named Metrika's words (``counter_id``, ``uploading_id``) read the same.
        """
        if not isinstance(value, Mapping) or value.get("version") != _VERSION:
            return None
        try:
            parts = list(value["parts"])
            scope = value["scope"] if "scope" in value else value["counter_id"]
            if not parts or isinstance(scope, bool) or not isinstance(scope, int | str) or not str(scope):
                return None
            ids = [part["job_id"] if "job_id" in part else part["uploading_id"] for part in parts]
            return cls(
                kind=str(value["kind"]),
                scope=str(scope),
                source=str(value["source"]),
                marks=tuple(str(part["fingerprint"]) for part in parts),
                job_ids=tuple(None if job_id is None else str(job_id) for job_id in ids),
            )
        except (KeyError, TypeError, ValueError):
            return None


class SendJournal:
    """The task state store seen as a record of sent jobs; inert when there is no store.

    Store errors are logged and swallowed: the fingerprint search still prevents a
    second send, so losing the journal costs requests, never correctness.
    """

    def __init__(self, store: Any | None, key: str = JOURNAL_KEY, logger: logging.Logger = log) -> None:
        self._store = store
        self._key = key
        self._log = logger

    @classmethod
    def of(
        cls,
        context: Mapping[str, Any],
        *,
        durable: bool = True,
        logger: logging.Logger = log,
        key: str = JOURNAL_KEY,
    ) -> SendJournal:
        """The journal of the running task instance (``durable=False`` or Airflow < 3.3: an inert one)."""
        store = context.get("task_state_store") if durable else None
        if durable and store is None:
            logger.debug("No task state store (Airflow < 3.3): a retry finds its job by the fingerprint it carries")
        return cls(store, key=key, logger=logger)

    @property
    def durable(self) -> bool:
        return self._store is not None

    def read(self, kind: str, scope: str | int, source: str) -> SentRecord | None:
        """The record of this kind, scope and input, if one was written."""
        if self._store is None:
            return None
        try:
            record = SentRecord.from_json(self._store.get(self._key))
        except Exception as error:  # any store failure falls back to the fingerprint search
            self._log.warning(
                "Could not read the send journal (%s); relying on the fingerprint search", type(error).__name__
            )
            return None
        if record is None or (record.kind, record.scope, record.source) != (kind, str(scope), source):
            return None
        return record

    def write(self, record: SentRecord) -> None:
        if self._store is None:
            return
        try:
            self._store.set(self._key, record.to_json())
        except Exception as error:  # the job was sent; the fingerprint still finds it
            self._log.warning(
                "Could not write the send journal (%s); a retry will search by fingerprint", type(error).__name__
            )


def new_record(kind: str, scope: str | int, source: str, marks: Sequence[str]) -> SentRecord:
    """An empty record for an input about to be sent in ``len(marks)`` parts."""
    return SentRecord(kind, str(scope), source, tuple(marks), (None,) * len(marks))
