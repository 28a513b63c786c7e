"""Soak: upload-and-wait many times under random faults, retries, crashes and restarts; nothing doubles or drops.

Each run uploads its own offline-conversions file as one task instance and retries the
task the way Airflow would (same dag/task/run ids, the same task state store when the
run plays Airflow 3.3, none when it plays 2.11) until it succeeds or fails clearly.
Faults are drawn from a seeded ``random.Random``: 5xx and quota answers, slow answers,
connections reset before or after the server handled a request, answers never sent,
emulator restarts (state kept), worker crashes right after an upload returned or
before the wait, and triggerer restarts (the trigger rebuilt from ``serialize()``).
Then the emulator is asked what it stored: exactly one uploading per run's data.

``METRIKA_SOAK_RUNS`` (default 40) and ``METRIKA_SOAK_SEED`` (default 2026) tune it.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import json
import os
import random

import pytest
import requests

from airflow_provider_metrika.emulator.testing import EmulatorProcess
from airflow_provider_metrika.exceptions import MetrikaError
from airflow_provider_metrika.hooks.metrika import MetrikaHook
from airflow_provider_metrika.jobs import waiting
from airflow_provider_metrika.jobs.fingerprint import fingerprint
from airflow_provider_metrika.jobs.inputs import prepare_file
from airflow_provider_metrika.jobs.sending import JobSendOperator
from airflow_provider_metrika.operators import upload as upload_module
from airflow_provider_metrika.operators.upload import MetrikaUploadOfflineConversionsOperator
from airflow_provider_metrika.version_compat import AirflowException, AirflowFailException, TaskDeferred
from tests.integration.conftest import FakeTaskInstance
from tests.reliability.support import (
    LIST_PATH,
    UPLOAD_PATH,
    TriggerTime,
    conversions_csv,
    point_connection,
    quick_retries,
    run_trigger,
)
from tests.unit.operators.fakes import FakeStore

pytestmark = [pytest.mark.reliability, pytest.mark.integration]

RUNS = int(os.environ.get("METRIKA_SOAK_RUNS", "40"))
SEED = int(os.environ.get("METRIKA_SOAK_SEED", "2026"))
MAX_TRIES = 8
POLLS = r"/offline_conversions/uploading"
#: (name, weight, fault spec or None for a non-HTTP fault); HTTP faults fire on the next 1-2 matching requests.
FAULTS = [
    ("5xx_upload", 3, {"method": "POST", "path": UPLOAD_PATH, "action": "status", "status": 503}),
    ("5xx_upload_maybe_processed", 2, {"method": "POST", "path": UPLOAD_PATH, "action": "status", "status": 500}),
    ("5xx_poll", 4, {"method": "GET", "path": POLLS, "action": "status", "status": 502}),
    (
        "429_quota",
        3,
        {"path": "", "action": "quota", "status": 429, "error_type": "quota_requests_by_ip", "retry_after": 0.01},
    ),
    ("420_quota", 2, {"path": "", "action": "quota", "status": 420, "error_type": "quota_parallel_requests"}),
    ("slow_response", 3, {"path": "", "action": "delay", "seconds": 0.05}),
    ("reset_before_upload", 2, {"method": "POST", "path": UPLOAD_PATH, "action": "reset_before"}),
    ("reset_after_upload", 3, {"method": "POST", "path": UPLOAD_PATH, "action": "reset_after"}),
    ("reset_after_list", 1, {"method": "GET", "path": LIST_PATH, "action": "reset_after"}),
    ("drop_response_upload", 1, {"method": "POST", "path": UPLOAD_PATH, "action": "drop_response", "seconds": 2}),
    ("emulator_restart", 1, None),
    ("worker_crash_after_upload", 2, None),
    ("worker_crash_before_wait", 2, None),
    ("triggerer_restart", 2, None),
]


class SimulatedWorkerCrash(Exception):
    """The worker died: Airflow marks the try failed and retries the task."""


@pytest.fixture(scope="module")
def soak_emulator(tmp_path_factory):
    """A dedicated emulator, so its restarts leave the session emulator alone."""
    with EmulatorProcess(str(tmp_path_factory.mktemp("soak-emulator") / "state.db")) as process:
        yield process


class Soak:
    """One soak: draws faults, plays task tries, and keeps the figures."""

    def __init__(self, emulator: EmulatorProcess, monkeypatch: pytest.MonkeyPatch, tmp_path, rng: random.Random):
        self.emulator, self.monkeypatch, self.tmp_path, self.rng = emulator, monkeypatch, tmp_path, rng
        self.figures: collections.Counter[str] = collections.Counter()
        self.faults: collections.Counter[str] = collections.Counter()
        self.outcomes: list[dict] = []
        self.crash: str | None = None
        self.restart_at_pause: int | None = None
        self.trigger_restart = False
        self.pauses = 0
        self.clock = TriggerTime(self).install(monkeypatch)  # the triggers' pauses come to advance() too
        self._connect()
        quick_retries(monkeypatch, max_retries=3)
        monkeypatch.setattr(waiting, "pause", self.advance)
        real_upload = MetrikaHook.upload_file

        def upload_file(hook, *args, **kwargs):
            uploading = real_upload(hook, *args, **kwargs)
            if self.crash == "worker_crash_after_upload":
                self.crash = None
                raise SimulatedWorkerCrash("killed right after the upload returned")
            return uploading

        monkeypatch.setattr(MetrikaHook, "upload_file", upload_file)
        self._count_recoveries(monkeypatch)

    def _count_recoveries(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Count how tries avoided a second upload: the journal, or the fingerprint search."""
        # the journal's read-back lives in the sending kernel, the fingerprint search is Metrika's
        for owner, name, figure in (
            (JobSendOperator, "reattach", "reattached_by_journal"),
            (upload_module, "find_uploading", "found_by_fingerprint"),
        ):
            real = getattr(owner, name)

            def counted(*args, _real=real, _figure=figure, **kwargs):
                found = _real(*args, **kwargs)
                self.figures[_figure] += found is not None
                return found

            monkeypatch.setattr(owner, name, counted)

    def _connect(self) -> None:
        # Hook-level retries are off for the triggers' async hook (failed polls reach the trigger's budget);
        # the worker's hook retries quickly (quick_retries). A 1 s read timeout bounds dropped answers.
        point_connection(self.monkeypatch, self.emulator.url, timeout=1, max_retries=0)

    def restart_emulator(self) -> None:
        self.emulator.restart()
        self._connect()
        self.figures["emulator_restarts"] += 1

    def advance(self, seconds: float) -> None:
        """Every wait between polls (worker or trigger) moves the emulator clock; an armed restart happens here."""
        self.pauses += 1
        if self.restart_at_pause is not None and self.pauses >= self.restart_at_pause:
            self.restart_at_pause = None
            self.restart_emulator()
        self.emulator.client.advance(seconds)

    # -- one run ----------------------------------------------------------------------------------

    def draw_faults(self) -> list[str]:
        names = [name for name, _, _ in FAULTS]
        weights = [weight for _, weight, _ in FAULTS]
        return self.rng.choices(names, weights, k=self.rng.randint(0, 3))

    def arm(self, drawn: list[str]) -> None:
        self.emulator.client.clear_faults()
        specs = {name: spec for name, _, spec in FAULTS}
        self.crash, self.restart_at_pause, self.trigger_restart = None, None, False
        for name in drawn:
            self.faults[name] += 1
            if specs[name] is not None:
                self.emulator.client.inject_fault(**specs[name], times=self.rng.randint(1, 2))
            elif name == "emulator_restart":
                self.restart_at_pause = self.pauses + self.rng.randint(0, 3)
            elif name == "triggerer_restart":
                self.trigger_restart = True
            else:
                self.crash = name

    def run(self, index: int) -> None:
        path = conversions_csv(self.tmp_path / f"run{index}.csv", rows=5, first_id=10_000 * (index + 1))
        ti = FakeTaskInstance(dag_id="soak", task_id="upload", run_id=f"run{index}")
        store = FakeStore() if self.rng.random() < 0.5 else None  # Airflow 3.3 (state store) or 2.11 (none)
        deferrable = self.rng.random() < 0.5
        self.figures["runs_with_state_store" if store is not None else "runs_without_state_store"] += 1
        self.arm(self.draw_faults())
        if self.restart_at_pause is not None and self.restart_at_pause <= self.pauses:
            self.restart_at_pause = None
            self.restart_emulator()  # before the first try
        result, error = None, None
        for attempt in range(1, MAX_TRIES + 1):
            ti.try_number = attempt
            context = {"ti": ti} | ({"task_state_store": store} if store is not None else {})
            try:
                result = self.try_task(path, context, deferrable)
                break
            except AirflowFailException as failure:  # Airflow does not retry these: a clear failure
                error = failure
                break
            except (SimulatedWorkerCrash, MetrikaError, AirflowException, requests.RequestException) as failure:
                error = failure
                self.figures["task_retries"] += 1
                self.figures[f"retry_after_{type(failure).__name__}"] += 1
        self.check(index, path, ti, result, error)

    def try_task(self, path, context: dict, deferrable: bool):
        """One task try: execute, and for a deferral run the trigger then ``execute_complete``."""
        op = MetrikaUploadOfflineConversionsOperator(
            task_id="upload",
            src=str(path),
            wait_for_completion=True,
            deferrable=deferrable,
            poll_interval=60,
            max_poll_interval=60,
        )
        if self.crash == "worker_crash_before_wait":

            def crash_before_wait(*args, **kwargs):
                self.crash = None
                raise SimulatedWorkerCrash("killed after the upload, before the wait")

            op.wait = crash_before_wait
        try:
            return op.execute(context)
        except TaskDeferred as deferred:
            self.figures["deferrals"] += 1
            restart_after = self.rng.randint(1, 3) if self.trigger_restart else None
            self.trigger_restart = False
            payload, restarts = asyncio.run(run_trigger(deferred.trigger, self.clock, restart_after=restart_after))
            self.figures["trigger_restarts"] += restarts
            return op.execute_complete(context, payload)

    # -- what Metrika stored ----------------------------------------------------------------------

    def check(self, index: int, path, ti, result, error) -> None:
        data = path.read_bytes()
        mark = fingerprint({"ti": ti}, prepare_file(path).content_digest())
        stored = self.emulator.client.uploadings(kind="offline_conversions")
        same_data = [u for u in stored if u["sha256"] == hashlib.sha256(data).hexdigest()]
        marked = [u for u in stored if mark in u["comment"].split()]
        outcome = {"run": index, "stored": len(marked), "same_data": len(same_data), "error": repr(error)[:200]}
        if result is not None:
            self.figures["succeeded"] += 1
            (uploading_id,) = result["ids"]  # a JobsResult: the wait's uploadings, one here
            outcome["uploading_id"] = uploading_id
            if len(marked) != 1 or str(marked[0]["id"]) != uploading_id:
                self.figures["lost"] += 1
        else:
            self.figures["clear_failures"] += 1
        if len(same_data) > 1 or len(marked) > 1:
            self.figures["duplicates"] += 1
        self.outcomes.append(outcome)

    def summary(self) -> dict:
        figures = {"duplicates": 0, "lost": 0, "clear_failures": 0, **self.figures}
        return {
            "runs": RUNS,
            "seed": SEED,
            **dict(sorted(figures.items())),
            "faults_injected": dict(sorted(self.faults.items())),
            "faults_total": sum(self.faults.values()),
        }


def test_soak_exactly_once(soak_emulator, monkeypatch, tmp_path, capsys):
    soak_emulator.client.reset()
    soak = Soak(soak_emulator, monkeypatch, tmp_path, random.Random(SEED))
    for index in range(RUNS):
        soak.run(index)
    summary = soak.summary()
    report = tmp_path / "soak-summary.json"
    report.write_text(json.dumps({"summary": summary, "runs": soak.outcomes}, indent=2))
    with capsys.disabled():
        print(f"\nSOAK SUMMARY ({report}):\n{json.dumps(summary, indent=2)}")
    assert summary["duplicates"] == 0, soak.outcomes
    assert summary["lost"] == 0, soak.outcomes
    assert summary.get("succeeded", 0) + summary["clear_failures"] == RUNS
    failures = [o for o in soak.outcomes if "uploading_id" not in o]
    assert summary["clear_failures"] <= RUNS // 20, failures  # faults are bounded: nearly every run lands
