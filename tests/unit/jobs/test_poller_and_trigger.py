"""The kernel's shared poller and base trigger with a vendor that is not Metrika: sharing, terminal caching,
request accounting, a source's whole-cycle failure, and a trigger's serialize() and run()."""

from __future__ import annotations

import asyncio

from airflow_provider_metrika.exceptions import MetrikaRetryableError
from airflow_provider_metrika.jobs.poller import JobPoller, PollerKey, poller_registry
from airflow_provider_metrika.jobs.record import JobRecord, JobState
from airflow_provider_metrika.jobs.trigger import JobWaitTrigger, defer_until_terminal
from airflow_provider_metrika.jobs.waiting import Verdict, judge_by_state


class AcmeSource:
    """Answers every id in one request; a job finishes its seconds after the source is made; errors can be queued."""

    instances: list[AcmeSource] = []

    def __init__(self, clock, done_at):
        self.clock, self.done_at, self.started = clock, done_at, clock.now
        self.requests = {"filter": 0}
        self.asked = []
        self.errors = []
        self.closed = 0
        AcmeSource.instances.append(self)

    async def poll(self, ids):
        self.requests["filter"] += 1
        self.asked.append(list(ids))
        if self.errors:
            raise self.errors.pop(0)
        return {i: self._record(i) for i in ids if i != "silent"}

    def _record(self, job_id):
        done = self.clock.now - self.started >= self.done_at.get(job_id, 0)
        state = JobState.SUCCESS if done else JobState.RUNNING
        return JobRecord("acme", "skus", "org", job_id, "completed" if done else "in_progress", state)

    async def close(self):
        self.closed += 1


async def test_terminal_jobs_are_not_asked_for_again_and_requests_are_counted(clock):
    source = AcmeSource(clock, {"1": 0, "2": 100})
    poller = JobPoller(PollerKey("acme_default", "acme", "org"), lambda: source)
    assert poller.requests == {}
    await poller.poll(["1", "2"])
    clock.now += 100
    results = await poller.poll(["1", "2"])
    assert source.asked == [["1", "2"], ["2"]]
    assert results["1"].state is JobState.SUCCESS and results["2"].state is JobState.SUCCESS
    assert poller.requests == {"filter": 2}
    await poller.poll(["3"])
    assert source.asked[-1] == ["3"] and "1" not in poller._terminal  # forgotten once nobody awaits it


async def test_a_failed_cycle_and_a_missing_answer_reach_the_pending_ids_only(clock):
    source = AcmeSource(clock, {"1": 0})
    poller = JobPoller(PollerKey("acme_default", "acme", "org"), lambda: source)
    await poller.poll(["1"])
    source.errors.append(OSError("reset"))
    results = await poller.poll(["1", "2"])
    assert results["1"].state is JobState.SUCCESS and isinstance(results["2"], OSError)
    results = await poller.poll(["silent"])
    assert isinstance(results["silent"], LookupError) and "did not answer" in str(results["silent"])


class AcmeTrigger(JobWaitTrigger):
    vendor = "acme"
    sources: dict[str, AcmeSource] = {}

    def __init__(self, *, max_error_ratio: float = 0.0, **common):
        super().__init__(**common)
        self.max_error_ratio = max_error_ratio

    def policy_kwargs(self):
        return {"max_error_ratio": self.max_error_ratio}

    def status_source(self):
        return self.sources[self.conn_id]

    def judge(self, record):
        verdict = judge_by_state(record)
        return Verdict(running=verdict.running, failure=verdict.failure, warnings=("judged by acme",))


def acme(conn_id="acme_default", ids=("1",), **kwargs):
    params = dict(conn_id=conn_id, scope="org", job_ids=list(ids), poll_interval=10, max_poll_interval=40)
    params.update(kwargs)
    return AcmeTrigger(**params)


def test_serialize_carries_the_common_and_the_policy_kwargs_and_rebuilds():
    trigger = acme(max_error_ratio=0.1, max_consecutive_failures=4)
    classpath, kwargs = trigger.serialize()
    assert classpath.endswith(".AcmeTrigger")
    assert kwargs == {
        "conn_id": "acme_default",
        "scope": "org",
        "job_ids": ["1"],
        "poll_interval": 10.0,
        "max_poll_interval": 40.0,
        "max_consecutive_failures": 4,
        "shared": True,
        "max_error_ratio": 0.1,
    }
    assert AcmeTrigger(**kwargs).serialize() == (classpath, kwargs)


async def test_triggers_of_one_key_share_one_poller_and_fire_with_a_jobs_result(clock):
    source = AcmeSource(clock, {"1": 25, "2": 60})
    AcmeTrigger.sources = {"acme_default": source}
    first, second = acme(ids=["1"]), acme(ids=["2"])
    events = await asyncio.gather(first.run().__anext__(), second.run().__anext__())
    payloads = [e.payload for e in events]
    assert [p["status"] for p in payloads] == ["success", "success"]
    assert payloads[0]["result"]["ids"] == ["1"] and payloads[1]["result"]["ids"] == ["2"]
    assert payloads[0]["warnings"] == ["judged by acme"]
    assert source.asked[0] == ["1", "2"]  # one request per cycle for both waits
    assert clock.pauses == [10, 15, 22.5, 33.75]  # the backoff: x1.5 up to max_poll_interval
    assert source.closed == 1 and len(poller_registry()) == 0


async def test_a_trigger_rides_out_a_failed_cycle_and_gives_up_after_its_budget(clock):
    source = AcmeSource(clock, {"1": 10_000})
    source.errors = [MetrikaRetryableError(503, "busy", "busy", service="Acme")] * 2
    AcmeTrigger.sources = {"acme_default": source}
    payload = (await acme(max_consecutive_failures=2).run().__anext__()).payload
    assert payload["status"] == "error" and not payload["terminal"]
    assert "acme jobs 1 in org: gave up after 2 consecutive failed polls" in payload["message"]


def test_defer_until_terminal_hands_the_trigger_and_the_timeout_to_the_task(mocker):
    task = mocker.Mock()
    trigger = acme()
    defer_until_terminal(task, trigger, timeout=90, method_name="resume")
    kwargs = task.defer.call_args.kwargs
    assert kwargs["trigger"] is trigger and kwargs["method_name"] == "resume"
    assert kwargs["timeout"].total_seconds() == 90
