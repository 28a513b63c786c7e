from airflow_provider_metrika.uploads import Uploading
from airflow_provider_metrika.waiting import metrika_waiter


def make_uploading(status, uploading_id="1", kind="offline_conversions", counter_id=5, **counters):
    body = {"id": uploading_id, "status": status, "comment": "c", **counters}
    return Uploading.from_api(kind, counter_id, body)


def outcome(uploadings, policy=None):
    """What Metrika's waiter makes of one poll of these uploadings: the event, or None (keep waiting)."""
    waiter = metrika_waiter("offline_conversions", 5, [u.uploading_id for u in uploadings], policy=policy)
    return waiter.observe([u.to_record() for u in uploadings])
