"""A search that cannot tell is never "not found": malformed list answers never lead to a second upload.

The hostile server answers an upload ambiguously (502: it may have stored it), then answers
the fingerprint search with a list that is 200 but unreadable (no ``uploadings`` key, not a
list, not JSON, items without ids or with wrong types). The try must fail without uploading
again; the next try searches again first, and a readable list that shows the upload ends it
without any second POST. Every upload kind's search is covered, the CDP ``last_uploadings``
paging (the journal's read-back) included.
"""

from __future__ import annotations

import json
import time

import pytest

from airflow_provider_metrika.exceptions import MetrikaAmbiguousResponseError, MetrikaSearchError
from airflow_provider_metrika.jobs.journal import JOURNAL_KEY
from airflow_provider_metrika.operators.cdp import MetrikaUploadContactsOperator
from airflow_provider_metrika.operators.upload import (
    MetrikaUploadCallsOperator,
    MetrikaUploadOfflineConversionsOperator,
)
from airflow_provider_metrika.operators.user_params import MetrikaUploadUserParamsOperator
from tests.adversarial.conftest import COUNTER
from tests.adversarial.hostile_server import Answer, error_answer, error_chain
from tests.integration.conftest import FakeTaskInstance
from tests.unit.operators.fakes import FakeStore
from tests.xcom import one_upload

pytestmark = pytest.mark.adversarial

#: 200 answers to a list request that do not say which uploadings exist.
UNREADABLE_LISTS = {
    "no uploadings key": '{"counter": 12345}',
    "empty object": "{}",
    "empty body": "",
    "uploadings null": '{"uploadings": null}',
    "uploadings an object": '{"uploadings": {"id": 7}}',
    "uploadings a string": '{"uploadings": "[]"}',
    "uploadings a number": '{"uploadings": 0}',
    "not JSON": "<html><body>OK</body></html>",
    "a JSON array": "[]",
    "JSON null": "null",
    "truncated JSON": '{"uploadings": [{"id": 7, "comm',
    "an item that is a string": '{"uploadings": ["junk"]}',
    "an item that is null": '{"uploadings": [null]}',
    "an item without an id": '{"uploadings": [{"comment": "crm", "status": "PROCESSED"}]}',
    "an id that is an object": '{"uploadings": [{"id": {"n": 7}, "comment": "crm"}]}',
    "an id that is a boolean": '{"uploadings": [{"id": true, "comment": "crm"}]}',
    "an empty id": '{"uploadings": [{"id": " ", "comment": "crm"}]}',
    "a comment that is a number": '{"uploadings": [{"id": 7, "comment": 12}]}',
    "a comment that is a list": '{"uploadings": [{"id": 7, "comment": ["afm"]}]}',
    "a status that is an object": '{"uploadings": [{"id": 7, "comment": "crm", "status": {}}]}',
}

KINDS = {
    "offline_conversions": (MetrikaUploadOfflineConversionsOperator, "ClientId,Target,DateTime\n{id},paid,{t}\n", {}),
    "calls": (MetrikaUploadCallsOperator, "ClientId,DateTime,StaticCall\n{id},{t},0\n", {}),
    "user_params": (MetrikaUploadUserParamsOperator, "ClientId,plan\n{id},gold\n", {}),
}


class Metrika:
    """The hostile server's plan: uploads answer ambiguously, lists answer as told; it counts the uploads."""

    def __init__(self, list_answer: str | None = None) -> None:
        self.list_answer = list_answer
        self.posts = 0
        self.stored: dict | None = None

    def __call__(self, seen) -> Answer:
        if seen.method == "POST" and seen.path.endswith("/confirm"):
            return Answer(200, _uploading({**(self.stored or {}), "status": "is_processed"}))
        if seen.method == "POST":
            self.posts += 1
            self.stored = {"id": 7, "status": "UPLOADED", "comment": seen.query.get("comment", ""), "action": "update"}
            return error_answer(502, "errors[].message", "gateway gave up")
        if seen.method == "GET" and seen.path.endswith("uploadings"):
            if self.list_answer is not None:
                return Answer(200, self.list_answer)
            return Answer(200, _uploadings([self.stored] if self.stored else []))
        raise AssertionError(f"unexpected {seen.method} {seen.path}")


def _uploadings(items: list) -> str:
    return json.dumps({"uploadings": items})


def _uploading(item: dict) -> str:
    return json.dumps({"uploading": item})


def source(tmp_path, kind: str):
    template = KINDS[kind][1]
    path = tmp_path / f"{kind}.csv"
    path.write_text(template.format(id=101, t=int(time.time()) - 3600))
    return path


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("unreadable", UNREADABLE_LISTS)
def test_unreadable_list_after_an_ambiguous_upload_never_uploads_twice(hostile, tmp_path, kind, unreadable):
    metrika = Metrika()
    hostile.plan = metrika
    operator_class, _, kwargs = KINDS[kind]
    op = operator_class(task_id="up", src=str(source(tmp_path, kind)), counter_id=COUNTER, **kwargs)
    context = {"ti": FakeTaskInstance()}

    metrika.list_answer = None  # the first search (before uploading) reads a readable, empty list

    def unreadable_after_upload(seen):
        if metrika.posts:
            metrika.list_answer = UNREADABLE_LISTS[unreadable]
        return metrika(seen)

    hostile.plan = unreadable_after_upload
    with pytest.raises(MetrikaSearchError, match=r"could not tell whether .* was already uploaded") as info:
        op.execute(context)
    assert any(isinstance(e, MetrikaAmbiguousResponseError) for e in error_chain(info.value))  # a retry policy sees it
    assert metrika.posts == 1

    # the next try: the search still cannot tell -> no upload; then it can -> reattach, still one upload
    hostile.plan = metrika
    with pytest.raises(MetrikaSearchError):
        op.execute(context)
    assert metrika.posts == 1
    metrika.list_answer = None
    result = op.execute(context)
    assert one_upload(result)["uploading_id"] == "7" and metrika.posts == 1


@pytest.mark.parametrize("unreadable", UNREADABLE_LISTS)
def test_unreadable_list_before_any_upload_fails_the_try(hostile, tmp_path, unreadable):
    metrika = Metrika(list_answer=UNREADABLE_LISTS[unreadable])
    hostile.plan = metrika
    op = MetrikaUploadOfflineConversionsOperator(task_id="up", src=str(source(tmp_path, "offline_conversions")))
    with pytest.raises(MetrikaSearchError, match="Nothing was uploaded; the next try searches again"):
        op.execute({"ti": FakeTaskInstance()})
    assert metrika.posts == 0


@pytest.mark.parametrize("unreadable", UNREADABLE_LISTS)
def test_cdp_read_back_through_last_uploadings_cannot_tell(hostile, tmp_path, unreadable):
    """A journaled CDP upload is looked for in ``last_uploadings``; an unreadable page is not "gone"."""
    path = tmp_path / "contacts.csv"
    path.write_text("uniq_id,emails\nc1,a@example.com\n")
    op = MetrikaUploadContactsOperator(task_id="up", src=str(path), merge_mode="SAVE", counter_id=COUNTER)
    ti = FakeTaskInstance()
    store = FakeStore()
    cdp_posts = []

    def plan(seen):
        if seen.method == "POST":
            cdp_posts.append(seen.path)
            body = {"uploading_id": "u-1", "api_validation_status": "PASSED", "datetime": "2026-01-01 00:00:00"}
            return Answer(200, _uploading(body))
        if seen.path.endswith("/last_uploadings"):
            return Answer(200, UNREADABLE_LISTS[unreadable])
        raise AssertionError(seen.path)

    hostile.plan = plan
    op.execute({"ti": ti, "task_state_store": store})  # the first try uploads and journals the id
    assert len(cdp_posts) == 1 and JOURNAL_KEY in store.values
    with pytest.raises(MetrikaSearchError, match="whether Metrika still has contacts uploading u-1"):
        op.execute({"ti": ti, "task_state_store": store})  # the retry cannot read the list: no second upload
    assert len(cdp_posts) == 1
