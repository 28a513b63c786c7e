"""Status of an uploading as a function of emulator time.

Offline conversions and calls: stage ``floor(elapsed / stage_seconds)`` since creation,
0 UPLOADED (or PREPARED, see ``EmulatorConfig.first_status``), 1 UPLOADED, 2 EXPORTED,
3 MATCHED, then PROCESSED when a row linked or LINKAGE_FAILURE. User params: ``uploaded``
until confirmed, ``is_processed`` for one stage after the confirmation, then ``processed``
/ ``linkage_failure``. CDP uploadings are judged at upload time and never change. Expenses (and
their deletions): ``UPLOADED``, ``IN_PROGRESS``, then ``PROCESSED``, one stage each.
"""

from __future__ import annotations

from airflow_provider_metrika.emulator.store import StoredUploading

CONVERSION_STAGES = ("PREPARED", "UPLOADED", "EXPORTED", "MATCHED")
CONVERSION_KINDS = ("offline_conversions", "calls")
USER_PARAMS_KIND = "user_params"
CDP_KINDS = ("contacts", "orders", "simple_orders")
#: Expenses and their deletions: UPLOADED, IN_PROGRESS, then PROCESSED (no failure status is documented).
EXPENSES_KIND = "expenses"
EXPENSE_STAGES = ("UPLOADED", "IN_PROGRESS")
USER_PARAMS_BEFORE_CONFIRM = "uploaded"


def _stage(since: float, now: float, stage_seconds: float) -> int:
    if stage_seconds <= 0:
        return len(CONVERSION_STAGES)
    return max(0, int((now - since) // stage_seconds))


def is_terminal(uploading: StoredUploading, now: float, stage_seconds: float) -> bool:
    """True once the uploading's final status is decided (CDP: always)."""
    if uploading.kind in CONVERSION_KINDS:
        return _stage(uploading.created, now, stage_seconds) >= len(CONVERSION_STAGES)
    if uploading.kind == USER_PARAMS_KIND:
        return uploading.confirmed is not None and _stage(uploading.confirmed, now, stage_seconds) >= 1
    if uploading.kind == EXPENSES_KIND:
        return _stage(uploading.created, now, stage_seconds) >= len(EXPENSE_STAGES)
    return True


def needs_linkage(uploading: StoredUploading, now: float, stage_seconds: float) -> bool:
    return uploading.kind not in (*CDP_KINDS, EXPENSES_KIND) and is_terminal(uploading, now, stage_seconds)


def linkage_due(uploading: StoredUploading, now: float, stage_seconds: float) -> bool:
    """Past the first stage (or confirmed): a good moment to start counting in the background."""
    if uploading.kind in CONVERSION_KINDS:
        return _stage(uploading.created, now, stage_seconds) >= 1
    return uploading.kind == USER_PARAMS_KIND and uploading.confirmed is not None


def status_of(uploading: StoredUploading, now: float, stage_seconds: float, first_status: str = "UPLOADED") -> str:
    """The status at ``now``; linkage must already be counted when the status is terminal.

    ``first_status`` names stage 0 of offline conversions and calls (the stage count, and so
    the time to a terminal status, does not depend on it).
    """
    if uploading.kind in CDP_KINDS:
        return uploading.attrs["api_validation_status"]
    if uploading.kind == EXPENSES_KIND:
        stage = _stage(uploading.created, now, stage_seconds)
        return EXPENSE_STAGES[stage] if stage < len(EXPENSE_STAGES) else "PROCESSED"
    terminal = is_terminal(uploading, now, stage_seconds)
    linked = bool(uploading.linkage and uploading.linkage["linked_quantity"])
    if uploading.kind == USER_PARAMS_KIND:
        if uploading.confirmed is None:
            return USER_PARAMS_BEFORE_CONFIRM
        if not terminal:
            return "is_processed"
        return "processed" if linked else "linkage_failure"
    if not terminal:
        stage = _stage(uploading.created, now, stage_seconds)
        return first_status if stage == 0 else CONVERSION_STAGES[stage]
    return "PROCESSED" if linked else "LINKAGE_FAILURE"


def seconds_to_finish(stage_seconds: float) -> float:
    """Clock advance after which every existing (confirmed) uploading is terminal."""
    return len(CONVERSION_STAGES) * max(stage_seconds, 0.0) + 1.0
