"""Only the current try of a task instance may upload.

Two tries of one task instance can run at once: a worker that lost its heartbeat keeps
running while Airflow already runs the retry. Both would search for the fingerprint,
find nothing (neither has uploaded yet) and upload. On Airflow 3 the window is narrowed
twice, right before every upload request:

- **the claim**: each try writes ``{ti_id, try_number}`` to the task state store
  (``context["task_state_store"]``, as the upload journal does) before it searches;
  right before posting it reads the claim back, and a claim by another try means a
  newer try has started: this one stops without uploading;
- **the state**: the task instance's state as the API server sees it now
  (``RuntimeTaskInstance.get_task_states`` through the supervisor); anything but
  ``running`` means Airflow no longer counts this try as running (it was declared a
  zombie, or failed, or cleared): it stops without uploading.

What stays open is a race inside the last moments: a newer try that starts after this
try's check, while this try's request is in flight, searches before Metrika has stored
it. Below Airflow 3.3 there is no store and no such state call: the fingerprint search
alone guards (see the README's "Exactly once" section). A guard that cannot read the
store or the state does not block the upload: the fingerprint search stays the net.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from airflow_provider_metrika.exceptions import SupersededTryError

#: Metrika's task-state-store key of the claim (each vendor has its own).
CLAIM_KEY = "metrika_upload_claim"

log = logging.getLogger(__name__)


class CurrentTry:
    """The claim and state checks of one running try; inert where Airflow offers neither."""

    def __init__(
        self, context: Mapping[str, Any], store: Any | None, logger: logging.Logger = log, key: str = CLAIM_KEY
    ) -> None:
        self._ti = context.get("ti")
        self._store = store
        self._key = key
        self._log = logger
        self._me = {"ti_id": _text(getattr(self._ti, "id", None)), "try_number": getattr(self._ti, "try_number", None)}

    @classmethod
    def of(
        cls, context: Mapping[str, Any], *, durable: bool = True, logger: logging.Logger = log, key: str = CLAIM_KEY
    ) -> CurrentTry:
        """The running try's checks; ``key`` is the claim's task-state-store key (one per vendor)."""
        return cls(context, context.get("task_state_store") if durable else None, logger, key)

    def claim(self) -> None:
        """Say in the task state store that this try is the one uploading (before it searches)."""
        if self._store is None:
            return
        try:
            self._store.set(self._key, {**self._me, "claimed_at": time.time()})
        except Exception as error:  # the state check and the fingerprint search still guard
            self._log.warning("Could not write the upload claim (%s)", type(error).__name__)

    def check(self, what: str) -> None:
        """Right before an upload request: SupersededTryError when a newer try claimed it or the try ended."""
        self._check_claim(what)
        self._check_state(what)

    def _check_claim(self, what: str) -> None:
        if self._store is None:
            return
        try:
            claim = self._store.get(self._key)
        except Exception as error:
            self._log.warning("Could not read the upload claim (%s); uploading", type(error).__name__)
            return
        if not isinstance(claim, Mapping):
            return
        owner = {"ti_id": claim.get("ti_id"), "try_number": claim.get("try_number")}
        if owner != self._me:
            raise SupersededTryError(
                f"not sending {what}: try {owner['try_number']} of this task instance claimed the upload after "
                f"this try ({self._me['try_number']}) started; it uploads, this try stops"
            )

    def _check_state(self, what: str) -> None:
        get_task_states = getattr(self._ti, "get_task_states", None)
        if get_task_states is None or self._store is None:
            return  # Airflow < 3.3 (or durable=False): nothing to ask
        ti = self._ti
        try:
            states = get_task_states(
                dag_id=ti.dag_id, task_ids=[ti.task_id], run_ids=[ti.run_id], map_index=getattr(ti, "map_index", -1)
            )
        except Exception as error:
            self._log.warning("Could not read this task instance's state (%s); uploading", type(error).__name__)
            return
        map_index = getattr(ti, "map_index", -1)
        key = ti.task_id if map_index is None or map_index < 0 else f"{ti.task_id}_{map_index}"
        state = (states.get(ti.run_id) or {}).get(key) if isinstance(states, Mapping) else None
        if state is not None and str(getattr(state, "value", state)) != "running":
            raise SupersededTryError(
                f"not sending {what}: Airflow now has this task instance {getattr(state, 'value', state)}, "
                f"not running, so try {self._me['try_number']} is no longer the current one"
            )


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
