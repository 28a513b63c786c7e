"""The kernel's sending base with a made-up vendor: each part sent once, reattach by journal or fingerprint,
the current-try check, rejected rows, the one result shape, and the waiting part (blocking and deferred)."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any, ClassVar

import pytest

from airflow_provider_metrika.exceptions import (
    AmbiguousResponseError,
    InputValidationError,
    ProviderConfigError,
    SentJobSearchError,
    SupersededTryError,
)
from airflow_provider_metrika.jobs.journal import SentRecord
from airflow_provider_metrika.jobs.record import JobRecord, JobState
from airflow_provider_metrika.jobs.sending import JobSendOperator, JobWaitMixin, Part, part_fingerprints
from airflow_provider_metrika.jobs.trigger import JobWaitTrigger
from airflow_provider_metrika.jobs.waiting import Verdict
from airflow_provider_metrika.version_compat import (
    AirflowException,
    AirflowFailException,
    AirflowSkipException,
    TaskDeferred,
)
from tests.integration.conftest import FakeTaskInstance
from tests.unit.operators.fakes import FakeStore

SCOPE = "org-1"


class AcmeServer:
    """A vendor's job store: jobs carry a reference (the fingerprint); faults on demand."""

    def __init__(self) -> None:
        self.jobs: dict[str, JobRecord] = {}
        self.bodies: dict[str, bytes] = {}
        self.sends = 0
        self.lose_answer = False  # store the job, then lose the answer
        self.refuse_ambiguously = False  # lose the request before it is stored
        self.list_broken = False
        self.statuses: list[str] = []  # what the next polls answer, in order

    def create(self, data: bytes, reference: str) -> JobRecord:
        self.sends += 1
        if self.refuse_ambiguously:
            raise AmbiguousResponseError("POST /imports: the answer was lost")
        job_id = str(len(self.jobs) + 1)
        record = JobRecord("acme", "things", SCOPE, job_id, "pending", JobState.RUNNING, extra={"ref": reference})
        self.jobs[job_id], self.bodies[job_id] = record, data
        if self.lose_answer:
            self.lose_answer = False
            raise AmbiguousResponseError("POST /imports: the answer was lost")
        return record

    def poll(self, job_id: str) -> JobRecord:
        status = self.statuses.pop(0) if self.statuses else self.jobs[job_id].status
        state = {"done": JobState.SUCCESS, "broken": JobState.FAILURE}.get(status, JobState.RUNNING)
        record = JobRecord("acme", "things", SCOPE, job_id, status, state, extra=self.jobs[job_id].extra)
        self.jobs[job_id] = record
        return record


class AcmeHook:
    server = AcmeServer()
    built: ClassVar[list[str]] = []

    def __init__(self, conn_id: str) -> None:
        self.conn_id = conn_id
        AcmeHook.built.append(conn_id)


class AcmeTrigger(JobWaitTrigger):
    vendor = "acme"


class AcmeSendOperator(JobSendOperator):
    """Sends CSV lines; ``part_lines`` splits the data rows into parts of that many lines."""

    vendor = "acme"
    hook_class = AcmeHook
    conn_id_field = "acme_conn_id"
    journal_key = "acme_jobs"
    claim_key = "acme_claim"
    kind = "things"

    def __init__(self, *, acme_conn_id: str = "acme_default", part_lines: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.acme_conn_id = acme_conn_id
        self.part_lines = part_lines
        self.confirmed: list[str] = []

    def job_scope(self) -> str:
        return SCOPE

    def find_sent(self, fingerprint: str) -> JobRecord | None:
        if self.hook.server.list_broken:
            raise SentJobSearchError("could not tell whether the things were sent")
        return next((job for job in self.hook.server.jobs.values() if job.extra["ref"] == fingerprint), None)

    def send(self, part: Part, fingerprint: str) -> JobRecord:
        with part.body() as stream:
            return self.hook.server.create(stream.read(), fingerprint)

    def read_back(self, job_id: str) -> JobRecord | None:
        return self.hook.server.jobs.get(job_id)

    def write_rows(self, records, out) -> int:
        text = io.StringIO()
        writer = None
        count = 0
        for row in records:
            if "bad" in row:
                raise InputValidationError("<rows>: row 1, column bad: not allowed")
            if writer is None:
                writer = csv.DictWriter(text, fieldnames=list(row))
                writer.writeheader()
            writer.writerow(row)
            count += 1
        out.write(text.getvalue().encode())
        return count

    def plan_parts(self, source, tmpdir):
        with source.opener() as stream:
            header, *lines = stream.read().splitlines(keepends=True)
        if any(b"bad" in line for line in lines):
            raise InputValidationError(f"{source.name}: row 2, column code: bad")
        if not self.part_lines:
            return [(source, source.opener)]
        parts = []
        for start in range(0, len(lines), self.part_lines):
            data = header + b"".join(lines[start : start + self.part_lines])
            parts.append((source, lambda data=data: io.BytesIO(data)))
        return parts

    def write_rejected_rows(self, out, source) -> int | None:
        out.write("row,problem\n2,bad\n")
        return 1

    def after_send(self, record: JobRecord) -> JobRecord:
        self.confirmed.append(record.job_id)
        return record


class AcmeImportOperator(JobWaitMixin, AcmeSendOperator):
    def wait_trigger(self, ids: Sequence[str]) -> JobWaitTrigger:
        return AcmeTrigger(conn_id=self.acme_conn_id, scope=SCOPE, job_ids=ids, poll_interval=self.poll_interval)

    def fetch_jobs(self, ids: Sequence[str]) -> Sequence[JobRecord]:
        return [self.hook.server.poll(job_id) for job_id in ids]

    def judge(self, record: JobRecord) -> Verdict:
        if record.status == "broken":
            return Verdict(failure=f"thing {record.job_id} broke")
        return super().judge(record)


@pytest.fixture(autouse=True)
def server(monkeypatch):
    fresh = AcmeServer()
    monkeypatch.setattr(AcmeHook, "server", fresh)
    AcmeHook.built.clear()
    return fresh


@pytest.fixture
def data(tmp_path):
    path = tmp_path / "things.csv"
    path.write_text("code,name\n" + "".join(f"c{i},thing {i}\n" for i in range(6)))
    return path


def context_with(store=None, ti=None):
    context: dict[str, Any] = {"ti": ti or FakeTaskInstance()}
    if store is not None:
        context["task_state_store"] = store
    return context


def run(operator, context=None):
    context = context or context_with()
    operator.render_template_fields(context)
    return operator.execute(context)


# -- sending -------------------------------------------------------------------------------------------


def test_one_part_is_sent_once_and_the_result_is_lists(server, data):
    op = AcmeSendOperator(task_id="t", src=str(data))
    result = run(op)
    assert server.sends == 1
    assert result["vendor"] == "acme" and result["ids"] == ["1"] and [job["id"] for job in result["jobs"]] == ["1"]
    assert result["warnings"] == [] and result["source"] == str(data)
    assert result["jobs"][0]["extra"]["fingerprint"] == result["fingerprint"]  # one part: the input's own
    assert op.confirmed == ["1"]
    assert server.bodies["1"] == data.read_bytes()


def test_the_hook_is_built_once_from_the_connection_id(data):
    op = AcmeSendOperator(task_id="t", src=str(data), acme_conn_id="acme_eu", part_lines=2)
    run(op)
    assert AcmeHook.built == ["acme_eu"] and op.hook is op.hook


def test_each_part_gets_its_own_fingerprint_and_job(server, data):
    result = run(AcmeSendOperator(task_id="t", src=str(data), part_lines=2))
    assert server.sends == 3 and result["ids"] == ["1", "2", "3"]
    marks = [job["extra"]["fingerprint"] for job in result["jobs"]]
    assert len(set(marks)) == 3 and result["fingerprint"] not in marks
    assert [server.jobs[i].extra["ref"] for i in result["ids"]] == marks


def test_part_fingerprints_depend_on_the_task_instance_and_the_part():
    first = part_fingerprints({"ti": FakeTaskInstance()}, "digest", 2)
    other_run = part_fingerprints({"ti": FakeTaskInstance(run_id="run2")}, "digest", 2)
    assert len(set(first)) == 2 and not set(first) & set(other_run)
    assert part_fingerprints({"ti": FakeTaskInstance()}, "digest", 1) != first[:1]


def test_a_retry_without_a_journal_finds_every_part_by_fingerprint(server, data):
    first = run(AcmeSendOperator(task_id="t", src=str(data), part_lines=2))
    again = run(AcmeSendOperator(task_id="t", src=str(data), part_lines=2))
    assert server.sends == 3 and again["ids"] == first["ids"]


def test_a_retry_with_the_journal_reattaches_without_planning_or_searching(server, data, mocker):
    store = FakeStore()
    first = run(AcmeSendOperator(task_id="t", src=str(data), part_lines=2), context_with(store))
    record = SentRecord.from_json(store.values["acme_jobs"])
    assert record.complete and list(record.job_ids) == first["ids"] and record.scope == SCOPE
    assert "acme_claim" in store.values and "metrika_uploadings" not in store.values
    retry = AcmeSendOperator(task_id="t", src=str(data), part_lines=2)
    plan = mocker.spy(retry, "plan_parts")
    search = mocker.spy(retry, "find_sent")
    again = run(retry, context_with(store))
    assert again["ids"] == first["ids"] and server.sends == 3
    assert plan.call_count == 0 and search.call_count == 0
    assert [job["extra"]["fingerprint"] for job in again["jobs"]] == [j["extra"]["fingerprint"] for j in first["jobs"]]


def test_a_journal_naming_an_unknown_job_falls_back_to_the_search(server, data):
    store = FakeStore()
    run(AcmeSendOperator(task_id="t", src=str(data)), context_with(store))
    lost = server.jobs.pop("1")  # the vendor knows the fingerprinted job under another id now
    server.jobs["99"] = JobRecord("acme", "things", SCOPE, "99", lost.status, lost.state, extra=lost.extra)
    again = run(AcmeSendOperator(task_id="t", src=str(data)), context_with(store))
    assert again["ids"] == ["99"] and server.sends == 1


def test_changed_data_is_sent_again(server, data):
    store = FakeStore()
    run(AcmeSendOperator(task_id="t", src=str(data)), context_with(store))
    data.write_text("code,name\nc9,changed\n")
    again = run(AcmeSendOperator(task_id="t", src=str(data)), context_with(store))
    assert server.sends == 2 and again["ids"] == ["2"]


def test_a_lost_answer_is_found_by_fingerprint_not_sent_twice(server, data):
    server.lose_answer = True
    result = run(AcmeSendOperator(task_id="t", src=str(data)))
    assert server.sends == 1 and result["ids"] == ["1"]


def test_a_lost_request_that_stored_nothing_fails_the_try(server, data):
    server.refuse_ambiguously = True
    with pytest.raises(AmbiguousResponseError):
        run(AcmeSendOperator(task_id="t", src=str(data)))
    assert server.jobs == {}


def test_an_unreadable_list_sends_nothing(server, data):
    server.list_broken = True
    with pytest.raises(SentJobSearchError):
        run(AcmeSendOperator(task_id="t", src=str(data)))
    assert server.sends == 0


def test_a_superseded_try_sends_nothing(server, data):
    store = FakeStore()
    op = AcmeSendOperator(task_id="t", src=str(data))
    ti = FakeTaskInstance()
    ti.id, ti.try_number = "ti-1", 1
    original_plan = op.plan_parts

    def newer_try_claims(source, tmpdir):  # a newer try starts while this one validates
        store.values["acme_claim"] = {"ti_id": "ti-1", "try_number": 2}
        return original_plan(source, tmpdir)

    op.plan_parts = newer_try_claims
    with pytest.raises(SupersededTryError):
        run(op, context_with(store, ti))
    assert server.sends == 0


def test_a_bad_row_sends_no_part_and_writes_the_rejected_rows(server, tmp_path):
    path = tmp_path / "things.csv"
    path.write_text("code,name\nc1,one\nbad,two\n")
    rejected = tmp_path / "out" / "rejected.csv"
    ti = FakeTaskInstance()
    with pytest.raises(InputValidationError):
        run(AcmeSendOperator(task_id="t", src=str(path), rejected_rows_path=str(rejected)), context_with(ti=ti))
    assert server.sends == 0
    assert rejected.read_text() == "row,problem\n2,bad\n"
    assert ti.xcom["rejected_rows"] == {"path": str(rejected), "rows": 1}


def test_rows_are_written_by_the_vendor_and_kept_out_of_the_rendered_fields(server):
    op = AcmeSendOperator(task_id="t", rows=[{"code": "c1", "name": "Ann"}, {"code": "c2", "name": "Bob"}])
    result = run(op)
    assert "Ann" not in op.rows and '"rows": 2' in op.rows
    assert server.bodies[result["ids"][0]] == b"code,name\r\nc1,Ann\r\nc2,Bob\r\n"


def test_rows_the_writer_refuses_send_nothing(server, tmp_path):
    rejected = tmp_path / "rejected.csv"
    with pytest.raises(InputValidationError):
        run(AcmeSendOperator(task_id="t", rows=[{"bad": 1}], rejected_rows_path=str(rejected)))
    assert server.sends == 0 and rejected.exists()


@pytest.mark.parametrize(("if_empty", "raised"), [("skip", AirflowSkipException), ("fail", InputValidationError)])
def test_an_input_without_rows_skips_or_fails(server, tmp_path, if_empty, raised):
    path = tmp_path / "empty.csv"
    path.write_text("code,name\n")
    with pytest.raises(raised):
        run(AcmeSendOperator(task_id="t", src=str(path), if_empty=if_empty))
    assert server.sends == 0


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [({}, "give src"), ({"src": "a", "rows": []}, "not both"), ({"src": "a", "if_empty": "maybe"}, "if_empty")],
)
def test_bad_parameters_are_refused_at_construction(kwargs, fragment):
    with pytest.raises(ProviderConfigError, match=fragment):
        AcmeSendOperator(task_id="t", **kwargs)


def test_a_vendor_without_a_rows_writer_says_so(server):
    class FilesOnly(AcmeSendOperator):
        write_rows = JobSendOperator.write_rows

    with pytest.raises(ProviderConfigError, match="rows are not supported"):
        run(FilesOnly(task_id="t", rows=[{"code": "c1"}]))


# -- waiting ---------------------------------------------------------------------------------------------


def test_without_wait_for_completion_the_send_result_is_returned(server, data):
    result = run(AcmeImportOperator(task_id="t", src=str(data), deferrable=False))
    assert result["jobs"][0]["state"] == "running" and server.statuses == []


def test_a_blocking_wait_polls_with_the_same_waiter_and_keeps_the_send_extras(server, data, mocker):
    sleeps = mocker.patch("airflow_provider_metrika.jobs.waiting.pause")
    server.statuses = ["processing", "done"]
    op = AcmeImportOperator(task_id="t", src=str(data), wait_for_completion=True, deferrable=False, poll_interval=5)
    result = run(op)
    assert result["jobs"][0]["status"] == "done" and result["jobs"][0]["state"] == "success"
    assert result["ids"] == ["1"] and result["fingerprint"] and result["source"] == str(data)
    assert [call.args[0] for call in sleeps.call_args_list] == [5]


def test_a_failed_job_fails_without_retries(server, data, mocker):
    mocker.patch("airflow_provider_metrika.jobs.waiting.pause")
    server.statuses = ["broken"]
    with pytest.raises(AirflowFailException, match="thing 1 broke"):
        run(AcmeImportOperator(task_id="t", src=str(data), wait_for_completion=True, deferrable=False))


def test_the_blocking_wait_times_out_retryably(server, data, mocker):
    clock = iter(range(0, 10_000, 60))
    mocker.patch("airflow_provider_metrika.jobs.waiting.pause")
    mocker.patch("airflow_provider_metrika.jobs.waiting.time").monotonic.side_effect = lambda: next(clock)
    op = AcmeImportOperator(task_id="t", src=str(data), wait_for_completion=True, deferrable=False, wait_timeout=120)
    with pytest.raises(AirflowException, match="timed out") as raised:
        run(op)
    assert not isinstance(raised.value, AirflowFailException)


def test_a_deferred_wait_hands_the_send_extras_to_execute_complete(server, data):
    op = AcmeImportOperator(
        task_id="t", src=str(data), part_lines=3, wait_for_completion=True, deferrable=True, poll_interval=7
    )
    with pytest.raises(TaskDeferred) as deferred:
        run(op)
    trigger = deferred.value.trigger
    assert isinstance(trigger, AcmeTrigger) and trigger.job_ids == ["1", "2"] and trigger.poll_interval == 7
    assert deferred.value.method_name == "execute_complete"
    extras = deferred.value.kwargs["extras"]
    assert set(extras) == {"fingerprint", "source"}
    done = [server.poll(job_id) for job_id in ("1", "2")]
    event = {"status": "success", "terminal": True, "message": "done", "warnings": [], "result": None}
    event["result"] = {"vendor": "acme", "ids": ["1", "2"], "jobs": [r.to_summary() for r in done], "warnings": []}
    result = op.execute_complete(context_with(), event, **deferred.value.kwargs)
    assert result["ids"] == ["1", "2"] and result["fingerprint"] == extras["fingerprint"]


def test_jobs_already_terminal_end_the_wait_without_deferring(server, data):
    store = FakeStore()
    run(AcmeSendOperator(task_id="t", src=str(data)), context_with(store))
    server.poll("1")
    server.jobs["1"] = JobRecord("acme", "things", SCOPE, "1", "done", JobState.SUCCESS, extra={"ref": "x"})
    op = AcmeImportOperator(task_id="t", src=str(data), wait_for_completion=True, deferrable=True)
    result = run(op, context_with(store))  # reattached by the journal to a finished job
    assert result["jobs"][0]["state"] == "success" and server.sends == 1


def test_deferrable_defaults_to_the_operators_setting(mocker, data):
    mocker.patch("airflow_provider_metrika.jobs.waiting.default_deferrable", return_value=True)
    assert AcmeImportOperator(task_id="t", src=str(data)).deferrable is True


def test_bad_wait_parameters_are_refused_at_construction(data):
    with pytest.raises(ProviderConfigError, match="poll_interval"):
        AcmeImportOperator(task_id="t", src=str(data), poll_interval=0)
