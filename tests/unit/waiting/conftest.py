from airflow_provider_metrika.uploads import Uploading


def make_uploading(status, uploading_id="1", kind="offline_conversions", counter_id=5, **counters):
    body = {"id": uploading_id, "status": status, "comment": "c", **counters}
    return Uploading.from_api(kind, counter_id, body)
