"""The upload journal: which uploadings a task instance already made, kept across retries.

Airflow 3.3 gives every task instance a task state store (``context["task_state_store"]``)
that outlives retries and worker crashes; the same idea backs ``ResumableJobMixin``. The
upload operators write each uploading id there the moment Metrika returns it, together
with the fingerprint of the data it came from. A retry of the same task instance with the
same data reads the record back and reattaches to those uploadings (waits on them, or
returns them) without validating or uploading again.

The mixin itself is not used: it persists one id after the whole submit, while a split
file yields one uploading per part and each must be kept as soon as it exists; and it
resubmits after a failed job, while a failed uploading here is the answer for this data
(Metrika will not link the same rows differently).

Below Airflow 3.3 there is no store and the journal records nothing. That is the compat
path: the fingerprint in the uploading's comment (see :mod:`..fingerprint`) already lets
a retry find its uploading by listing the counter's uploadings. The journal only makes
that cheaper and independent of the list; the fingerprint search stays the safety net,
so a journal that cannot be read or written never fails a task.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from typing import Any

#: The task-state-store key. Renaming it breaks the resumption of retries already in flight.
JOURNAL_KEY = "metrika_uploadings"
_VERSION = 1

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class UploadRecord:
    """What one task instance uploaded from one input: the uploading id and fingerprint of every part.

    ``source`` fingerprints the whole input for this task instance; a retry whose input
    has another fingerprint (the data changed) ignores the record.
    """

    kind: str
    counter_id: int
    source: str
    marks: tuple[str, ...]
    uploading_ids: tuple[str | None, ...]

    @property
    def complete(self) -> bool:
        """True once every part's uploading id is known."""
        return bool(self.uploading_ids) and all(uid is not None for uid in self.uploading_ids)

    def with_part(self, index: int, uploading_id: str) -> UploadRecord:
        ids = list(self.uploading_ids)
        ids[index] = uploading_id
        return dataclasses.replace(self, uploading_ids=tuple(ids))

    def to_json(self) -> dict[str, Any]:
        return {
            "version": _VERSION,
            "kind": self.kind,
            "counter_id": self.counter_id,
            "source": self.source,
            "parts": [
                {"fingerprint": mark, "uploading_id": uploading_id}
                for mark, uploading_id in zip(self.marks, self.uploading_ids, strict=True)
            ],
        }

    @classmethod
    def from_json(cls, value: Any) -> UploadRecord | None:
        """The record, or None for anything this version did not write."""
        if not isinstance(value, Mapping) or value.get("version") != _VERSION:
            return None
        try:
            parts = list(value["parts"])
            return cls(
                kind=str(value["kind"]),
                counter_id=int(value["counter_id"]),
                source=str(value["source"]),
                marks=tuple(str(part["fingerprint"]) for part in parts),
                uploading_ids=tuple(
                    None if part["uploading_id"] is None else str(part["uploading_id"]) for part in parts
                ),
            )
        except (KeyError, TypeError, ValueError):
            return None


class UploadJournal:
    """The task state store seen as a record of uploads; inert when there is no store.

    Store errors are logged and swallowed: the fingerprint search still prevents a
    second upload, so losing the journal costs requests, never correctness.
    """

    def __init__(self, store: Any | None, key: str = JOURNAL_KEY, logger: logging.Logger = log) -> None:
        self._store = store
        self._key = key
        self._log = logger

    @classmethod
    def of(cls, context: Mapping[str, Any], *, durable: bool = True, logger: logging.Logger = log) -> UploadJournal:
        """The journal of the running task instance (``durable=False`` or Airflow < 3.3: an inert one)."""
        store = context.get("task_state_store") if durable else None
        if durable and store is None:
            logger.debug(
                "No task state store (Airflow < 3.3): a retry finds its uploading by the fingerprint in its comment"
            )
        return cls(store, logger=logger)

    @property
    def durable(self) -> bool:
        return self._store is not None

    def read(self, kind: str, counter_id: int, source: str) -> UploadRecord | None:
        """The record of this kind, counter and input, if one was written."""
        if self._store is None:
            return None
        try:
            record = UploadRecord.from_json(self._store.get(self._key))
        except Exception as error:  # any store failure falls back to the fingerprint search
            self._log.warning(
                "Could not read the upload journal (%s); relying on the fingerprint search", type(error).__name__
            )
            return None
        if record is None or (record.kind, record.counter_id, record.source) != (kind, counter_id, source):
            return None
        return record

    def write(self, record: UploadRecord) -> None:
        if self._store is None:
            return
        try:
            self._store.set(self._key, record.to_json())
        except Exception as error:  # the upload happened; the fingerprint still finds it
            self._log.warning(
                "Could not write the upload journal (%s); a retry will search by fingerprint", type(error).__name__
            )


def new_record(kind: str, counter_id: int, source: str, marks: Sequence[str]) -> UploadRecord:
    """An empty record for an input about to be uploaded in ``len(marks)`` parts."""
    return UploadRecord(kind, counter_id, source, tuple(marks), (None,) * len(marks))
