"""Exactly-once branches of the upload operators: the journal (task state store) and the fingerprint search."""

from __future__ import annotations

import logging
import time

import pytest

from airflow_provider_metrika import fingerprint as metrika_fingerprint
from airflow_provider_metrika.exceptions import MetrikaAmbiguousResponseError, MetrikaClientError
from airflow_provider_metrika.fingerprint import reattach
from airflow_provider_metrika.jobs.current_try import CLAIM_KEY
from airflow_provider_metrika.jobs.journal import JOURNAL_KEY, SendJournal, SentRecord, new_record
from airflow_provider_metrika.operators import upload as upload_module
from airflow_provider_metrika.operators.upload import MetrikaUploadOfflineConversionsOperator
from airflow_provider_metrika.operators.user_params import MetrikaUploadUserParamsOperator
from airflow_provider_metrika.version_compat import AirflowFailException, TaskDeferred
from tests.integration.conftest import FakeTaskInstance
from tests.unit.operators.fakes import COUNTER, FakeMetrika, FakeStore
from tests.xcom import only_job

LOG = logging.getLogger("test.resume")


@pytest.fixture
def metrika(mocker):
    fake = FakeMetrika()
    mocker.patch.object(upload_module.MetrikaSendOperator, "hook_class", return_value=fake)
    return fake


@pytest.fixture
def csv_path(tmp_path):
    now = int(time.time()) - 3600
    path = tmp_path / "conversions.csv"
    path.write_text("ClientId,Target,DateTime\n" + "".join(f"{100 + i},paid,{now - i}\n" for i in range(20)))
    return path


def context_with(store=None):
    context = {"ti": FakeTaskInstance()}
    if store is not None:
        context["task_state_store"] = store
    return context


def operator(path, **kwargs):
    return MetrikaUploadOfflineConversionsOperator(task_id="task", src=str(path), **kwargs)


def recorded(store):
    return SentRecord.from_json(store.values[JOURNAL_KEY])


# -- the record and the journal ------------------------------------------------------------


def test_record_round_trips_and_knows_when_it_is_complete():
    record = new_record("calls", 7, "afmsource", ["afm1", "afm2"])
    assert not record.complete
    record = record.with_part(0, "11")
    assert SentRecord.from_json(record.to_json()) == record and not record.complete
    assert record.with_part(1, "12").complete


@pytest.mark.parametrize(
    "value",
    [
        None,
        "text",
        {"version": 99},
        {"version": 1, "kind": "calls"},
        {"version": 1, "kind": "c", "counter_id": "x", "source": "s", "parts": []},
        {"version": 1, "kind": "c", "counter_id": 1, "source": "s", "parts": [{"fingerprint": "a"}]},
    ],
)
def test_record_from_anything_else_is_none(value):
    assert SentRecord.from_json(value) is None


def test_journal_without_a_store_is_inert_and_says_why(caplog):
    with caplog.at_level(logging.DEBUG, logger=LOG.name):
        journal = SendJournal.of({"ti": None}, logger=LOG)
    assert not journal.durable and "Airflow < 3.3" in caplog.text
    journal.write(new_record("calls", 1, "s", ["m"]))
    assert journal.read("calls", 1, "s") is None


def test_journal_not_durable_ignores_the_store(caplog):
    store = FakeStore()
    with caplog.at_level(logging.INFO, logger=LOG.name):
        journal = SendJournal.of({"task_state_store": store}, durable=False, logger=LOG)
    journal.write(new_record("calls", 1, "s", ["m"]))
    assert not journal.durable and store.writes == [] and caplog.text == ""


def test_journal_reads_only_its_own_kind_counter_and_source():
    store = FakeStore()
    journal = SendJournal(store)
    record = new_record("calls", 1, "s", ["m"]).with_part(0, "5")
    journal.write(record)
    assert journal.read("calls", 1, "s") == record
    assert journal.read("calls", 1, "other data") is None
    assert journal.read("calls", 2, "s") is None
    assert journal.read("offline_conversions", 1, "s") is None


def test_journal_store_failures_are_warnings_not_errors(caplog):
    journal = SendJournal(FakeStore(fail_get=True, fail_set=True), logger=LOG)
    with caplog.at_level(logging.WARNING, logger=LOG.name):
        assert journal.read("calls", 1, "s") is None
        journal.write(new_record("calls", 1, "s", ["m"]))
    assert "Could not read" in caplog.text and "Could not write" in caplog.text


# -- reading uploadings back -----------------------------------------------------------------


def test_read_back_by_id_and_unknown_id(metrika):
    uid = metrika.add("offline_conversions", "c")
    assert metrika_fingerprint.read_back(metrika, "offline_conversions", COUNTER, uid).uploading_id == uid
    assert metrika_fingerprint.read_back(metrika, "offline_conversions", COUNTER, "999") is None


def test_read_back_other_client_errors_propagate(mocker):
    hook = mocker.Mock()
    hook.get_uploading.side_effect = MetrikaClientError(403, "access_denied", "no", "GET", "/x")
    with pytest.raises(MetrikaClientError, match="access_denied"):
        metrika_fingerprint.read_back(hook, "calls", COUNTER, "1")


def test_read_back_cdp_kinds_from_the_list(metrika):
    uid = metrika.add("contacts", "", status="PASSED")
    assert metrika_fingerprint.read_back(metrika, "contacts", COUNTER, uid).status == "PASSED"
    assert metrika_fingerprint.read_back(metrika, "contacts", COUNTER, "999") is None


def test_reattach_needs_a_complete_record_of_known_uploadings(metrika, caplog):
    uid = metrika.add("offline_conversions", "c")
    record = new_record("offline_conversions", COUNTER, "s", ["m1", "m2"])
    assert reattach(metrika, None) is None
    assert reattach(metrika, record.with_part(0, uid)) is None
    with caplog.at_level(logging.WARNING, logger=LOG.name):
        assert reattach(metrika, record.with_part(0, uid).with_part(1, "999"), LOG) is None
    assert "does not know" in caplog.text
    assert [u.uploading_id for u in reattach(metrika, record.with_part(0, uid).with_part(1, uid))] == [uid, uid]


# -- the operator with a task state store (Airflow 3.3) ----------------------------------------


def test_first_try_journals_the_uploading_id(metrika, csv_path):
    store = FakeStore()
    result = operator(csv_path).execute(context_with(store))
    record = recorded(store)
    assert record.complete and record.job_ids == (only_job(result)["uploading_id"],)
    assert record.marks == (result["fingerprint"],) and record.source == result["fingerprint"]
    assert metrika.calls == ["list", "upload"]


def test_each_part_is_journaled_as_soon_as_it_exists(metrika, tmp_path):
    path = tmp_path / "big.csv"
    now = int(time.time()) - 3600
    path.write_text("ClientId,Target,DateTime\n" + "".join(f"{i},paid,{now}\n" for i in range(300)))
    store = FakeStore()
    result = operator(path, max_file_bytes=2000).execute(context_with(store))
    writes = [SentRecord.from_json(value) for key, value in store.writes if key == JOURNAL_KEY]
    assert len(writes) == len(result["jobs"]) > 1
    assert [sum(uid is not None for uid in w.job_ids) for w in writes] == list(range(1, len(writes) + 1))
    assert list(writes[-1].marks) == [job["extra"]["fingerprint"] for job in result["jobs"]]


@pytest.mark.parametrize(
    ("status", "wait", "outcome"),
    [
        ("MATCHED", False, "returned"),
        ("PROCESSED", False, "returned"),
        ("LINKAGE_FAILURE", False, "returned"),
        ("PROCESSED", True, "finished"),
        ("LINKAGE_FAILURE", True, "failed"),
        ("MATCHED", True, "deferred"),
    ],
)
def test_retry_reattaches_without_validating_or_uploading(metrika, csv_path, mocker, status, wait, outcome):
    store = FakeStore()
    first = operator(csv_path).execute(context_with(store))
    metrika.set_status(status)
    metrika.calls.clear()
    plan = mocker.spy(upload_module, "plan_parts")
    retry = operator(csv_path, wait_for_completion=wait, deferrable=True)
    if outcome == "failed":
        with pytest.raises(AirflowFailException, match="LINKAGE_FAILURE"):
            retry.execute(context_with(store))
    elif outcome == "deferred":
        with pytest.raises(TaskDeferred) as deferred:
            retry.execute(context_with(store))
        assert deferred.value.trigger.uploading_ids == [only_job(first)["uploading_id"]]
    else:
        result = retry.execute(context_with(store))
        assert (only_job(result)["uploading_id"], only_job(result)["status"]) == (
            only_job(first)["uploading_id"],
            status,
        )
    assert metrika.calls == ["get"] and plan.call_count == 0
    assert len(metrika.uploadings) == 1


def test_retry_with_changed_data_uploads_the_new_data(metrika, csv_path):
    store = FakeStore()
    first = operator(csv_path).execute(context_with(store))
    csv_path.write_text(csv_path.read_text() + "999,paid,1700000000\n")
    second = operator(csv_path, validation="none").execute(context_with(store))
    assert only_job(second)["uploading_id"] != only_job(first)["uploading_id"] and len(metrika.uploadings) == 2
    assert recorded(store).job_ids == (only_job(second)["uploading_id"],)


def test_journal_naming_a_vanished_uploading_falls_back_to_the_search(metrika, csv_path):
    store = FakeStore()
    first = operator(csv_path).execute(context_with(store))
    metrika.uploadings.clear()
    metrika.calls.clear()
    again = operator(csv_path).execute(context_with(store))
    assert only_job(again)["uploading_id"] != only_job(first)["uploading_id"]
    assert metrika.calls == ["get", "list", "upload"]


def test_incomplete_journal_resumes_by_fingerprint(metrika, tmp_path):
    path = tmp_path / "big.csv"
    now = int(time.time()) - 3600
    path.write_text("ClientId,Target,DateTime\n" + "".join(f"{i},paid,{now}\n" for i in range(300)))
    store = FakeStore()
    real_upload = metrika.upload_file
    sent = []

    def crash_on_second_part(*args, **kwargs):
        if len(sent) == 1:
            raise SystemExit("worker killed")
        sent.append(real_upload(*args, **kwargs))
        return sent[-1]

    metrika.upload_file = crash_on_second_part
    with pytest.raises(SystemExit):
        operator(path, max_file_bytes=2000).execute(context_with(store))
    assert not recorded(store).complete
    metrika.upload_file = real_upload
    result = operator(path, max_file_bytes=2000).execute(context_with(store))
    ids = result["ids"]
    assert ids[0] == sent[0].uploading_id and len(set(ids)) == len(ids) == len(metrika.uploadings)
    assert recorded(store).complete


def test_user_params_reattached_unconfirmed_is_confirmed(metrika, tmp_path):
    path = tmp_path / "params.csv"
    path.write_text("ClientId,age\n1,30\n")
    store = FakeStore()
    op = MetrikaUploadUserParamsOperator(task_id="task", src=str(path))
    op.after_send = lambda record: record  # the first try dies before confirming
    op.execute(context_with(store))
    metrika.calls.clear()
    result = MetrikaUploadUserParamsOperator(task_id="task", src=str(path)).execute(context_with(store))
    assert metrika.calls == ["get", "confirm"] and only_job(result)["status"] == "is_processed"


def test_store_failures_do_not_fail_the_upload(metrika, csv_path):
    result = operator(csv_path).execute(context_with(FakeStore(fail_get=True, fail_set=True)))
    assert only_job(result)["status"] == "PREPARED" and metrika.calls == ["list", "upload"]


# -- the compat path: no task state store (Airflow < 3.3) --------------------------------------


def test_without_a_store_the_fingerprint_finds_the_earlier_upload(metrika, csv_path):
    first = operator(csv_path).execute(context_with())
    metrika.calls.clear()
    again = operator(csv_path).execute(context_with())
    assert only_job(again)["uploading_id"] == only_job(first)["uploading_id"] and metrika.calls == ["list"]


def test_without_a_store_and_nothing_found_it_uploads(metrika, csv_path):
    metrika.add("offline_conversions", "someone else afm0123456789abcdef0123")
    operator(csv_path).execute(context_with())
    assert metrika.calls == ["list", "upload"] and len(metrika.uploadings) == 2


def test_not_durable_uses_only_the_fingerprint(metrika, csv_path):
    store = FakeStore()
    operator(csv_path, durable=False).execute(context_with(store))
    assert store.writes == []


# -- ambiguous answers ---------------------------------------------------------------------------


def test_lost_answer_is_found_by_fingerprint_and_journaled(metrika, csv_path):
    metrika.lose_answer = True
    store = FakeStore()
    result = operator(csv_path).execute(context_with(store))
    assert metrika.calls == ["list", "upload", "list"] and len(metrika.uploadings) == 1
    assert recorded(store).job_ids == (only_job(result)["uploading_id"],)


def test_lost_request_is_not_resent_blindly(metrika, csv_path):
    metrika.refuse_ambiguously = True
    store = FakeStore()
    with pytest.raises(MetrikaAmbiguousResponseError):
        operator(csv_path).execute(context_with(store))
    assert metrika.calls == ["list", "upload", "list"]
    assert [key for key, _ in store.writes] == [CLAIM_KEY]  # the claim only: no uploading id was journaled
    metrika.refuse_ambiguously = False
    operator(csv_path).execute(context_with(store))
    assert len(metrika.uploadings) == 1
