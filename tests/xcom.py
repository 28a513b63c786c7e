"""Reading the JobsResult that sensors and waiting operators return, in tests."""

from __future__ import annotations

from typing import Any


def only_job(result: Any) -> dict[str, Any]:
    """The one job of a JobsResult, flat: ``kind``, ``status``, ``state``, ``uploading_id``, ``counter_id`` and the
    counters (the names the tests of single uploadings read)."""
    assert isinstance(result, dict) and isinstance(result.get("jobs"), list), f"not a JobsResult: {result!r}"
    (job,) = result["jobs"]
    assert result["ids"] == [job["id"]]
    return {
        **job["counters"],
        "kind": job["kind"],
        "status": job["status"],
        "state": job["state"],
        "uploading_id": job["id"],
        "counter_id": int(job["scope"]),
        "comment": job["extra"].get("comment"),
    }


def one_upload(result: Any) -> dict[str, Any]:
    """A sending operator's JobsResult for one uploading, flat: :func:`only_job`'s fields and the result's extras
    (``fingerprint``, ``source``, ``rejected_rows``, ...)."""
    extras = {key: value for key, value in result.items() if key not in ("vendor", "ids", "jobs", "warnings")}
    return {**only_job(result), **extras}
