"""In-memory stand-ins for the operators' unit tests: Metrika (the hook's surface) and the task state store."""

from __future__ import annotations

import itertools

from airflow_provider_metrika.exceptions import MetrikaAmbiguousResponseError, MetrikaClientError
from airflow_provider_metrika.uploads import Uploading, get_upload_kind

COUNTER = 42


class FakeStore:
    """Airflow 3.3's ``task_state_store``: get/set of JSON values."""

    def __init__(self, values=None, *, fail_get=False, fail_set=False):
        self.values = dict(values or {})
        self.fail_get, self.fail_set = fail_get, fail_set
        self.writes = []

    def get(self, key, default=None):
        if self.fail_get:
            raise RuntimeError("supervisor comms down")
        return self.values.get(key, default)

    def set(self, key, value):
        if self.fail_set:
            raise RuntimeError("supervisor comms down")
        self.writes.append((key, value))
        self.values[key] = value


class FakeMetrika:
    """What the upload operators call on MetrikaHook, over a dict of uploadings.

    ``lose_answer`` makes the next upload store the uploading and raise the ambiguity
    error; ``refuse_ambiguously`` raises it without storing anything.
    """

    def __init__(self):
        self.uploadings: dict[str, dict] = {}
        self.calls: list[str] = []
        self.lose_answer = False
        self.refuse_ambiguously = False
        self._ids = itertools.count(100)

    def resolve_counter_id(self, counter_id):
        return COUNTER if counter_id is None else int(counter_id)

    def add(self, kind, comment, status="PREPARED"):
        upload_kind = get_upload_kind(kind)
        uid = str(next(self._ids))
        self.uploadings[uid] = {
            "kind": upload_kind.name,
            upload_kind.id_field: uid,
            upload_kind.status_field: status,
            "comment": comment,
        }
        return uid

    def _uploading(self, uid):
        body = dict(self.uploadings[uid])
        return Uploading.from_api(body.pop("kind"), COUNTER, body)

    def upload_file(self, kind, counter_id, source, *, params=None, file_name="data.csv", **_):
        self.calls.append("upload")
        if self.refuse_ambiguously:
            raise MetrikaAmbiguousResponseError("POST /upload: connection reset")
        with source() as handle:
            handle.read()
        uid = self.add(kind, params["comment"])
        if self.lose_answer:
            self.lose_answer = False
            raise MetrikaAmbiguousResponseError("POST /upload: connection reset")
        return self._uploading(uid)

    def get_uploading(self, kind, counter_id, uploading_id):
        self.calls.append("get")
        if str(uploading_id) not in self.uploadings:
            raise MetrikaClientError(404, "not_found", "no such uploading", "GET", "/x")
        return self._uploading(str(uploading_id))

    def iter_uploadings(self, kind, counter_id, page_size=1000):
        self.calls.append("list")
        name = get_upload_kind(kind).name
        return iter([self._uploading(uid) for uid, body in self.uploadings.items() if body["kind"] == name])

    def confirm_user_params(self, counter_id, uploading_id, body):
        self.calls.append("confirm")
        self.uploadings[str(uploading_id)]["status"] = "is_processed"
        return self._uploading(str(uploading_id))

    def set_status(self, status):
        for body in self.uploadings.values():
            body[get_upload_kind(body["kind"]).status_field] = status
