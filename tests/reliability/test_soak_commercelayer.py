"""Soak for Commerce Layer imports: import-and-wait many times under random faults, retries, crashes and restarts.

Each run imports its own SKUs (three imports of at most 10 inputs) as one task instance and retries the
task the way Airflow would (same dag/task/run ids) until it succeeds or fails clearly. Faults are drawn
from a seeded ``random.Random``: 5xx and 429 answers, slow answers, connections reset before or after the
server handled a create, create answers never sent, revoked tokens (401), emulator restarts (state kept),
worker crashes right after an import was created, and triggerer restarts (the trigger rebuilt from
``serialize()``). Then the emulator is asked what it holds: per run, exactly one import per part (by
``reference``), and every SKU written exactly once by its natural key.

``COMMERCELAYER_SOAK_RUNS`` (default 30) and ``COMMERCELAYER_SOAK_SEED`` (default 2026) tune it.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import os
import random

import pytest
import requests

from airflow_provider_metrika.commercelayer.auth import TOKENS
from airflow_provider_metrika.commercelayer.hooks import CommerceLayerHook
from airflow_provider_metrika.commercelayer.operators import CommerceLayerImportOperator
from airflow_provider_metrika.emulator.testing import EmulatorProcess
from airflow_provider_metrika.exceptions import MetrikaError
from airflow_provider_metrika.hooks.rest_async import AsyncRestApiHook
from airflow_provider_metrika.hooks.retry import RetryPolicy
from airflow_provider_metrika.jobs import poller as poller_module
from airflow_provider_metrika.jobs import waiting
from airflow_provider_metrika.version_compat import AirflowException, AirflowFailException, TaskDeferred
from tests.integration.conftest import FakeTaskInstance

pytestmark = [pytest.mark.reliability, pytest.mark.integration]

RUNS = int(os.environ.get("COMMERCELAYER_SOAK_RUNS", "30"))
SEED = int(os.environ.get("COMMERCELAYER_SOAK_SEED", "2026"))
MAX_TRIES = 8
ROWS, CHUNK = 25, 10
CONN_ID = "commercelayer_soak"
CREATE = r"^/api/imports$"
FAULTS = [
    ("5xx_create", 3, {"method": "POST", "path": CREATE, "action": "status", "status": 503}),
    ("5xx_create_maybe_processed", 2, {"method": "POST", "path": CREATE, "action": "status", "status": 500}),
    ("5xx_list", 3, {"method": "GET", "path": CREATE, "action": "status", "status": 502}),
    ("429", 3, {"path": "^/api/", "action": "quota", "status": 429}),
    ("slow_response", 2, {"path": "", "action": "delay", "seconds": 0.05}),
    ("reset_before_create", 2, {"method": "POST", "path": CREATE, "action": "reset_before"}),
    ("reset_after_create", 3, {"method": "POST", "path": CREATE, "action": "reset_after"}),
    ("drop_response_create", 1, {"method": "POST", "path": CREATE, "action": "drop_response", "seconds": 2}),
    ("token_revoked", 2, None),
    ("emulator_restart", 1, None),
    ("worker_crash_after_create", 2, None),
    ("triggerer_restart", 2, None),
]


class SimulatedWorkerCrash(Exception):
    """The worker died: Airflow marks the try failed and retries the task."""


class FastPolicy(RetryPolicy):
    """The hooks' retries without real waiting (a 429's X-Ratelimit-Interval included)."""

    def delay(self, retry_number: int, error: BaseException | None = None) -> float:
        return 0.001


@pytest.fixture
def soak_emulator(tmp_path_factory):
    db = str(tmp_path_factory.mktemp("cl-soak") / "state.db")
    with EmulatorProcess(db, "--vendor", "commercelayer") as process:
        yield process


class Soak:
    def __init__(self, emulator: EmulatorProcess, monkeypatch: pytest.MonkeyPatch, rng: random.Random):
        self.emulator, self.monkeypatch, self.rng = emulator, monkeypatch, rng
        self.figures: collections.Counter[str] = collections.Counter()
        self.faults: collections.Counter[str] = collections.Counter()
        self.outcomes: list[dict] = []
        self.crash = False
        self.restart_at_pause: int | None = None
        self.trigger_restart = False
        self.pauses = 0
        self.now = 0.0
        self._connect()
        policy = FastPolicy(max_retries=3, service="Commerce Layer")
        monkeypatch.setattr(CommerceLayerHook, "retry_policy", property(lambda self: policy))

        async def async_policy(hook):
            return FastPolicy(max_retries=0, service="Commerce Layer")  # failed polls reach the trigger's budget

        monkeypatch.setattr(AsyncRestApiHook, "retry_policy", async_policy)
        monkeypatch.setattr(waiting, "pause", self.advance)
        monkeypatch.setattr(poller_module, "sleep", self.trigger_pause)
        monkeypatch.setattr(poller_module, "monotonic", lambda: self.now)
        real_create = CommerceLayerHook.create_import

        def create_import(hook, *args, **kwargs):
            created = real_create(hook, *args, **kwargs)
            if self.crash:
                self.crash = False
                raise SimulatedWorkerCrash("killed right after the import was created")
            return created

        monkeypatch.setattr(CommerceLayerHook, "create_import", create_import)

    def _connect(self) -> None:
        url = self.emulator.url
        conn = {
            "conn_type": "commercelayer",
            "host": url,
            "login": "soak-client",
            "password": "soak-secret",
            "extra": {"auth_url": url + "/oauth/token", "timeout": 1},
        }
        self.monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps(conn))

    def advance(self, seconds: float) -> None:
        self.pauses += 1
        if self.restart_at_pause is not None and self.pauses >= self.restart_at_pause:
            self.restart_at_pause = None
            self.emulator.restart()
            self._connect()
            self.figures["emulator_restarts"] += 1
        self.emulator.client.advance(seconds)

    async def trigger_pause(self, seconds: float) -> None:
        self.now += seconds
        self.advance(seconds)
        await asyncio.sleep(0)

    def arm(self) -> None:
        self.emulator.client.clear_faults()
        self.crash, self.restart_at_pause, self.trigger_restart = False, None, False
        specs = {name: spec for name, _, spec in FAULTS}
        drawn = self.rng.choices([f[0] for f in FAULTS], [f[1] for f in FAULTS], k=self.rng.randint(0, 3))
        for name in drawn:
            self.faults[name] += 1
            if specs[name] is not None:
                self.emulator.client.inject_fault(**specs[name], times=self.rng.randint(1, 2))
            elif name == "token_revoked":
                self.emulator.client.call("POST", "commercelayer/revoke_tokens")
            elif name == "emulator_restart":
                self.restart_at_pause = self.pauses + self.rng.randint(0, 3)
            elif name == "triggerer_restart":
                self.trigger_restart = True
            else:
                self.crash = True

    def run(self, index: int) -> None:
        rows = [{"code": f"SOAK{index:03d}{n:03d}", "name": f"soak {index}/{n}"} for n in range(ROWS)]
        ti = FakeTaskInstance(dag_id="soak", task_id="import_skus", run_id=f"run{index}")
        deferrable = self.rng.random() < 0.5
        self.arm()
        result, error = None, None
        for attempt in range(1, MAX_TRIES + 1):
            ti.try_number = attempt
            try:
                result = self.try_task(rows, {"ti": ti}, deferrable)
                break
            except AirflowFailException as failure:
                error = failure
                break
            except (
                SimulatedWorkerCrash,
                MetrikaError,
                AirflowException,
                requests.RequestException,
                OSError,
            ) as failure:
                error = failure
                self.figures["task_retries"] += 1
                self.figures[f"retry_after_{type(failure).__name__}"] += 1
        self.outcomes.append({"run": index, "result": result and result["ids"], "error": repr(error)[:200]})
        self.figures["succeeded" if result is not None else "clear_failures"] += 1

    def try_task(self, rows, context, deferrable):
        op = CommerceLayerImportOperator(
            task_id="import_skus",
            resource_type="skus",
            rows=rows,
            chunk_size=CHUNK,
            commercelayer_conn_id=CONN_ID,
            deferrable=deferrable,
            poll_interval=5,
            max_poll_interval=5,
            max_consecutive_failures=5,
        )
        try:
            return op.execute(context)
        except TaskDeferred as deferred:
            self.figures["deferrals"] += 1
            payload = asyncio.run(self.run_trigger(deferred.trigger))
            return op.execute_complete(context, payload, **(deferred.kwargs or {}))

    async def run_trigger(self, trigger):
        """The trigger's event; a drawn triggerer restart kills it after its first poll and rebuilds it."""

        async def first_event(current):
            async for event in current.run():
                return event.payload
            raise AssertionError("the trigger ended without an event")

        if self.trigger_restart:
            task = asyncio.ensure_future(first_event(trigger))
            for _ in range(3):
                await asyncio.sleep(0)
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
                self.figures["trigger_restarts"] += 1
                _classpath, kwargs = trigger.serialize()
                trigger = type(trigger)(**kwargs)
            else:
                return task.result()
        return await first_event(trigger)

    def check(self) -> dict:
        """What the organization holds: one import per (run, part) reference, each SKU written once."""
        TOKENS.clear()
        imports = self.emulator.client.call("GET", "commercelayer/imports")["imports"]
        by_reference = collections.Counter(
            i["attributes"]["reference"] for i in imports if i["attributes"]["status"] != "interrupted"
        )
        duplicates = {ref: n for ref, n in by_reference.items() if n > 1}
        records = self.emulator.client.call("GET", "commercelayer/records/skus")["records"]
        writes = {r["key"]: r["writes"] for r in records}
        lost, rewritten = [], []
        for outcome in self.outcomes:
            codes = [f"SOAK{outcome['run']:03d}{n:03d}" for n in range(ROWS)]
            if outcome["result"] is not None:
                if any(code not in writes for code in codes):
                    lost.append(outcome["run"])
                if any(writes.get(code, 0) > 1 for code in codes):
                    rewritten.append(outcome["run"])
        return {
            "duplicate_imports": duplicates,
            "lost_runs": lost,
            "skus_written_twice": rewritten,
            "imports": len(imports),
        }


def test_soak_commercelayer_exactly_once(soak_emulator, monkeypatch, capsys):
    soak_emulator.client.reset()
    TOKENS.clear()
    soak = Soak(soak_emulator, monkeypatch, random.Random(SEED))
    for index in range(RUNS):
        soak.run(index)
    held = soak.check()
    summary = {
        "runs": RUNS,
        "seed": SEED,
        **dict(sorted(soak.figures.items())),
        "faults_injected": dict(sorted(soak.faults.items())),
        **held,
    }
    with capsys.disabled():
        print(f"\nCOMMERCE LAYER SOAK SUMMARY:\n{json.dumps(summary, indent=2)}")
    assert held["duplicate_imports"] == {}, soak.outcomes
    assert held["lost_runs"] == [] and held["skus_written_twice"] == [], soak.outcomes
    assert soak.figures["succeeded"] + soak.figures["clear_failures"] == RUNS
    assert soak.figures["clear_failures"] <= RUNS // 10, soak.outcomes
