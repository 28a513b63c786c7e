"""Quota cost, memory, CPU and latency of 1,000 concurrent waits: shared poller vs per-id polling.

    python benchmarks/many_waits.py [--uploadings 1000] [--counters 5] [--speed 120] [--stage-seconds 600]
                                    [--poll 30] [--max-poll 300] [--modes shared,naive]

Starts the emulator with a real clock running ``--speed`` times faster than wall time, creates
``--uploadings`` offline-conversion uploadings spread over ``--counters`` counters (one connection and
token per counter, so the emulator's per-token request statistics are per-counter figures), then
awaits every one of them with its own ``MetrikaUploadingTrigger`` in one asyncio loop, consuming the
``run()`` generators concurrently as the triggerer does. Poll intervals are given in emulator seconds
and scaled to wall time by ``--speed``. Each mode runs in a fresh child process (clean RSS and CPU
figures) against the same emulator, reset in between:

* ``shared``: the default trigger (one poller per connection/kind/counter, list requests);
* ``naive``: ``shared=False``, the pre-change behaviour (each trigger GETs its ids every cycle).

An uploading is terminal ``4 x stage_seconds`` after its creation (emulator lifecycle); its trigger
is late by the time from then to its event. "Late in intervals" divides that by the gap between the
poll that fired the trigger and the poll before it: at most 1 (plus the time the firing poll itself
took, which the speed-up multiplies: 10 ms of wall time are 1.2 emulator seconds at x120) means
"fired at the first poll after completion"; the last row counts triggers for which an earlier poll
already started after completion.

The event loop's health: a probe task sleeps 10 ms over and over; how much later than asked it wakes is
how long the loop was blocked (the longest such stall and how many exceeded 100 ms, Airflow's triggerer warns
about the same as "async thread was blocked"), with the CPU the loop's thread used meanwhile (a stall with
little CPU in it is the machine giving the process no core, not the loop's work). ``gc.callbacks`` time
every garbage collection, and the parent counts the lines the triggers logged (they go to the child's
stdout, as a triggerer sends them on). Prints figures only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import concurrent.futures
import cProfile
import gc
import hashlib
import io
import json
import os
import pstats
import resource
import statistics
import subprocess
import sys
import threading
import time
import tracemalloc
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

import requests  # noqa: E402
from small_mode import parse_args  # noqa: E402

from airflow_provider_metrika.emulator.testing import EmulatorClient, EmulatorProcess  # noqa: E402

KIND = "offline_conversions"
LIST_ROUTE = "/management/v1/counter/{counter_id}/offline_conversions/uploadings"
GET_ROUTE = "/management/v1/counter/{counter_id}/offline_conversions/uploading/{uploading_id}"
FIRST_COUNTER = 1001
CREATOR_TOKEN = "benchmark-creator-token"
VISITOR = "424242"
TRIGGER_LOGGER = "MetrikaUploadingTrigger"  # in every line a trigger logs


def counter_token(counter_id: int) -> str:
    return f"benchmark-token-for-counter-{counter_id}"


def conn_id(counter_id: int) -> str:
    return f"metrika_bench_{counter_id}"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# -- child: one mode ---------------------------------------------------------------------------------


class EmulatorTime:
    """Emulator seconds from wall time: the emulator's real clock is linear, so one reading calibrates it."""

    def __init__(self, client: EmulatorClient, speed: float):
        before = time.time()
        epoch = client.now()
        after = time.time()
        self.origin_wall = (before + after) / 2
        self.origin = epoch
        self.speed = speed

    def at(self, wall: float) -> float:
        return self.origin + (wall - self.origin_wall) * self.speed


CREATORS = 3  # parallel uploads while creating (Metrika's limit of parallel requests per token)


def create_uploadings(url: str, counters: list[int], total: int, clock: EmulatorTime) -> dict[str, tuple[int, float]]:
    """``total`` one-row uploadings, round-robin over ``counters``: id -> (counter, emulator creation time)."""
    stamp = int(clock.at(time.time())) - 3600
    body = f"ClientId,Target,DateTime\n{VISITOR},paid,{stamp}\n"
    local = threading.local()

    def create(n: int) -> tuple[str, tuple[int, float]]:
        if not hasattr(local, "session"):
            local.session = requests.Session()
            local.session.headers["Authorization"] = f"OAuth {CREATOR_TOKEN}"
        counter = counters[n % len(counters)]
        response = local.session.post(
            f"{url}/management/v1/counter/{counter}/offline_conversions/upload",
            params={"comment": f"benchmark{n}"},  # letters and digits only
            files={"file": ("data.csv", body, "text/csv")},
            timeout=60,
        )
        response.raise_for_status()
        return str(response.json()["uploading"]["id"]), (counter, clock.at(time.time()))

    with concurrent.futures.ThreadPoolExecutor(CREATORS) as pool:
        return dict(pool.map(create, range(total)))


def current_rss_mib() -> float:
    with open("/proc/self/statm") as handle:
        pages = int(handle.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


SNAPSHOTS: list[tracemalloc.Snapshot] = []  # with --trace-memory: memory when the first wait ends
STALL_TICK = 0.01  # the stall monitor wakes every 10 ms; a late wake-up is time the loop was blocked
STALL_LIMIT = 0.1  # the target: the loop never blocked for longer
STALLS: list[float] = []  # every wake-up later than STALL_LIMIT, in seconds
LONGEST_BUSY = [0.0]  # CPU seconds the loop's thread ran during the longest stall
BUSIEST = [0.0]  # the most CPU seconds the loop's thread ran between two ticks of the monitor
GC_PAUSES: dict[int, list[float]] = {0: [], 1: [], 2: []}  # seconds each garbage collection took, by generation


def time_garbage_collections() -> None:
    """Record how long each collection takes (``gc.callbacks``): a full one over every wait's objects is a stall."""
    started: list[float] = []

    def callback(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started.append(time.perf_counter())
        elif started:
            GC_PAUSES[info["generation"]].append(time.perf_counter() - started.pop())

    gc.callbacks.append(callback)


async def await_all(triggers: list[Any]) -> tuple[dict[str, tuple[float, str]], float]:
    """Consume every trigger's run() concurrently, as the triggerer does (it starts a trigger per loop step).

    Returns id -> (wall time of event, status), and the longest event-loop stall in seconds: how much
    later than asked a 10 ms sleep of a monitor task woke up (what Airflow's triggerer warns about as
    "async thread was blocked").
    """
    fired: dict[str, tuple[float, str]] = {}
    longest = 0.0
    stalls = STALLS

    async def consume(trigger: Any) -> None:
        async for event in trigger.run():
            if not fired and tracemalloc.is_tracing():  # every wait is still on: the most memory held
                SNAPSHOTS.append(tracemalloc.take_snapshot())
            fired[trigger.uploading_ids[0]] = (time.time(), event.payload["status"])

    async def monitor() -> None:
        nonlocal longest
        while True:
            asked, cpu_asked = time.perf_counter(), time.thread_time()
            await asyncio.sleep(STALL_TICK)
            late = time.perf_counter() - asked - STALL_TICK
            busy = time.thread_time() - cpu_asked  # the loop's own work in it; the rest is waiting for a core
            BUSIEST[0] = max(BUSIEST[0], busy)
            if late > longest:
                longest, LONGEST_BUSY[0] = late, busy
            if late > STALL_LIMIT:
                stalls.append(late)

    watcher = asyncio.create_task(monitor())
    tasks = []
    for trigger in triggers:  # as Airflow's TriggerRunner.create_triggers starts them: one per loop step
        await asyncio.sleep(0)
        tasks.append(asyncio.create_task(consume(trigger)))
    await asyncio.gather(*tasks)
    watcher.cancel()
    return fired, longest


def run_mode(args: argparse.Namespace) -> dict[str, Any]:
    counters = [FIRST_COUNTER + i for i in range(args.counters)]
    for counter in counters:
        os.environ[f"AIRFLOW_CONN_{conn_id(counter).upper()}"] = json.dumps(
            {"conn_type": "yandex_metrika", "host": args.url, "password": counter_token(counter)}
        )
    # The triggers log as in a triggerer (Airflow 3 sends each line from the trigger's logger on to its
    # supervisor; here they go to this child's stdout, a pipe the parent reads and counts): what a trigger
    # logs per poll is part of what the loop pays.

    from airflow_provider_metrika.jobs import poller as poller_module
    from airflow_provider_metrika.triggers.uploading import MetrikaUploadingTrigger

    client = EmulatorClient(args.url)
    client.add_visitors([VISITOR])
    clock = EmulatorTime(client, args.speed)
    creating = time.time()
    created = create_uploadings(args.url, counters, args.uploadings, clock)
    creation_wall = time.time() - creating

    polls_by_id: dict[str, list[float]] = collections.defaultdict(list)
    pollers: set[Any] = set()
    original_poll = poller_module.JobPoller.poll

    async def recorded_poll(self: Any, ids: Any) -> Any:
        started = time.time()
        for uploading_id in ids:
            polls_by_id[uploading_id].append(started)
        pollers.add(self)
        return await original_poll(self, ids)

    poller_module.JobPoller.poll = recorded_poll  # type: ignore[method-assign]

    triggers = [
        MetrikaUploadingTrigger(
            kind=KIND,
            counter_id=counter,
            uploading_ids=[uploading_id],
            metrika_conn_id=conn_id(counter),
            poll_interval=args.poll / args.speed,
            max_poll_interval=args.max_poll / args.speed,
            shared=args.child == "shared",
        )
        for uploading_id, (counter, _) in created.items()
    ]
    if args.trace_memory:
        tracemalloc.start(8)
    profiler = cProfile.Profile() if args.profile else None
    rss_before = current_rss_mib()
    cpu_before = time.process_time()
    wall_before = time.time()
    time_garbage_collections()
    if profiler:
        profiler.enable()
    fired, longest_stall = asyncio.run(await_all(triggers))
    if profiler:
        profiler.disable()
    wall = time.time() - wall_before
    cpu = time.process_time() - cpu_before
    peak = peak_rss_mib()
    if args.profile:
        write_profile(Path(args.profile) / f"{args.child}.txt", profiler)

    stats = client.request_stats()
    per_counter = []
    for counter in counters:
        routes = collections.Counter()
        for row in stats["requests"]:
            if row["token_hash"] == token_hash(counter_token(counter)):
                routes[row["route"]] += row["count"]
        counter_pollers = [p for p in pollers if p.key.conn_id == conn_id(counter)]
        cycles = statistics.fmean(p.cycles for p in counter_pollers) if counter_pollers else 0.0
        per_counter.append({"counter": counter, "list": routes[LIST_ROUTE], "get": routes[GET_ROUTE], "cycles": cycles})

    late_seconds, late_intervals, poll_to_event, missed = [], [], [], 0
    for uploading_id, (_, created_at) in created.items():
        fired_wall, _ = fired[uploading_id]
        finished = created_at + 4 * args.stage_seconds
        late_seconds.append(clock.at(fired_wall) - finished)
        polls = [p for p in polls_by_id[uploading_id] if p <= fired_wall]
        poll_to_event.append((fired_wall - polls[-1]) * 1000)
        if len(polls) >= 2:
            gap = (polls[-1] - polls[-2]) * args.speed
            late_intervals.append((clock.at(fired_wall) - finished) / gap)
            if clock.at(polls[-2]) > finished + 2.0:  # an earlier poll already could have seen it
                missed += 1
    statuses = collections.Counter(status for _, status in fired.values())
    return {
        "mode": args.child,
        "uploadings": len(created),
        "creation_wall_seconds": creation_wall,
        "completion_spread": max(c for _, c in created.values()) - min(c for _, c in created.values()),
        "statuses": dict(statuses),
        "status_requests": sum(c["list"] + c["get"] for c in per_counter),
        "per_counter": per_counter,
        "throttled": stats.get("throttled_total", 0),
        "rss_before_mib": rss_before,
        "peak_rss_mib": peak,
        "cpu_seconds": cpu,
        "wall_seconds": wall,
        "late_seconds": late_seconds,
        "late_intervals": late_intervals,
        "poll_to_event_ms": poll_to_event,
        "missed_polls": missed,
        "longest_stall_ms": longest_stall * 1000,
        "stalls_over_limit": len(STALLS),
        "longest_stall_cpu_ms": LONGEST_BUSY[0] * 1000,
        "busiest_tick_cpu_ms": BUSIEST[0] * 1000,
        "gc_pauses": {generation: len(pauses) for generation, pauses in GC_PAUSES.items()},
        "gc_longest_ms": {generation: max(pauses, default=0.0) * 1000 for generation, pauses in GC_PAUSES.items()},
    }


def write_profile(path: Path, profiler: cProfile.Profile | None) -> None:
    """Where the waiting's CPU went (cProfile, by own and by cumulative time) and, with ``--trace-memory``,
    which lines hold the most memory when the first wait ends, all of them still on (tracemalloc)."""
    out = io.StringIO()
    if profiler is not None:
        for order in ("tottime", "cumulative"):
            out.write(f"== CPU by {order} ==\n")
            pstats.Stats(profiler, stream=out).sort_stats(order).print_stats(25)
    for snapshot in SNAPSHOTS:
        out.write("== memory held when the first wait ended, by line (tracemalloc) ==\n")
        for stat in snapshot.statistics("lineno")[:25]:
            out.write(f"{stat}\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(out.getvalue())


# -- parent: run the modes and print the table ----------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def p50_max(values: list[float], spec: str) -> str:
    return f"{percentile(values, 0.5):{spec}} / {max(values, default=float('nan')):{spec}}"


def print_table(results: list[dict[str, Any]], args: argparse.Namespace) -> None:
    print(
        f"\n{args.uploadings} uploadings on {args.counters} counters; emulator speed x{args.speed:g}, "
        f"stage {args.stage_seconds:g} s (terminal after {4 * args.stage_seconds:g} emulator s); "
        f"poll {args.poll:g} s -> {args.max_poll:g} s (emulator seconds); "
        f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}\n"
    )
    rows = [
        ("events (status: count)", lambda r: ", ".join(f"{k}: {v}" for k, v in sorted(r["statuses"].items()))),
        ("creating the uploadings, wall s", lambda r: f"{r['creation_wall_seconds']:.1f}"),
        ("completions spread over, emulator s", lambda r: f"{r['completion_spread']:.0f}"),
        ("status requests, total", lambda r: f"{r['status_requests']}"),
        (
            "  list / get",
            lambda r: f"{sum(c['list'] for c in r['per_counter'])} / {sum(c['get'] for c in r['per_counter'])}",
        ),
        ("requests per counter per cycle (max)", lambda r: f"{max(_per_cycle(c) for c in r['per_counter']):.2f}"),
        ("poll cycles per counter (mean)", lambda r: f"{statistics.fmean(c['cycles'] for c in r['per_counter']):.1f}"),
        ("429/420 answers", lambda r: f"{r['throttled']}"),
        ("peak RSS, MiB", lambda r: f"{r['peak_rss_mib']:.1f}"),
        ("RSS growth while waiting, MiB", lambda r: f"{r['peak_rss_mib'] - r['rss_before_mib']:.1f}"),
        ("CPU seconds (waiting)", lambda r: f"{r['cpu_seconds']:.2f}"),
        ("wall seconds (waiting)", lambda r: f"{r['wall_seconds']:.1f}"),
        ("late, emulator s: p50 / max", lambda r: p50_max(r["late_seconds"], ".1f")),
        ("late, poll intervals: p50 / max", lambda r: p50_max(r["late_intervals"], ".2f")),
        ("firing poll start -> event, wall ms: p50 / max", lambda r: p50_max(r["poll_to_event_ms"], ".0f")),
        ("fired after a later poll than needed", lambda r: f"{r['missed_polls']}"),
        ("longest event-loop stall, ms", lambda r: f"{r['longest_stall_ms']:.0f}"),
        ("  loop thread's CPU in it, ms", lambda r: f"{r['longest_stall_cpu_ms']:.0f}"),
        ("most loop-thread CPU between two 10 ms ticks, ms", lambda r: f"{r['busiest_tick_cpu_ms']:.0f}"),
        (f"event-loop stalls over {STALL_LIMIT * 1000:.0f} ms", lambda r: f"{r['stalls_over_limit']}"),
        ("full garbage collections: count / longest ms", lambda r: _gc(r, "2")),
        ("young collections (gen 0/1): longest ms", lambda r: f"{max(r['gc_longest_ms'][g] for g in '01'):.1f}"),
        ("trigger log lines (all triggers)", lambda r: f"{r['trigger_log_lines']:,}"),
    ]
    width = max(len(name) for name, _ in rows)
    print(f"{'':{width}}  " + "  ".join(f"{r['mode']:>22}" for r in results))
    for name, cell in rows:
        print(f"{name:{width}}  " + "  ".join(f"{cell(r):>22}" for r in results))


def _gc(result: dict[str, Any], generation: str) -> str:
    return f"{result['gc_pauses'][generation]} / {result['gc_longest_ms'][generation]:.1f}"


def _per_cycle(counter: dict[str, Any]) -> float:
    return (counter["list"] + counter["get"]) / counter["cycles"] if counter["cycles"] else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--uploadings", type=int, default=1000)
    parser.add_argument("--counters", type=int, default=5)
    parser.add_argument("--speed", type=float, default=120.0, help="emulator seconds per wall second")
    parser.add_argument("--stage-seconds", type=float, default=600.0, help="emulator seconds per lifecycle stage")
    parser.add_argument("--poll", type=float, default=30.0, help="first poll interval, emulator seconds")
    parser.add_argument("--max-poll", type=float, default=300.0, help="longest poll interval, emulator seconds")
    parser.add_argument("--modes", default="shared,naive")
    parser.add_argument("--json", help="also write the raw figures here")
    parser.add_argument("--profile", help="write each mode's CPU profile of the waiting into this directory")
    parser.add_argument("--trace-memory", action="store_true", help="with --profile: where memory is held (slow)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parse_args(
        parser, small={"uploadings": 20, "counters": 2, "speed": 600.0, "stage_seconds": 60.0, "max_poll": 60.0}
    )

    if args.child:
        print(json.dumps(run_mode(args)))
        return

    results = []
    emulator_args = ["--clock", "real", "--speed", str(args.speed), "--stage-seconds", str(args.stage_seconds)]
    with EmulatorProcess(None, *emulator_args) as emulator:
        for mode in args.modes.split(","):
            emulator.client.reset()
            emulator.client.configure(stage_seconds=args.stage_seconds)
            print(f"running {mode} ...", file=sys.stderr, flush=True)
            command = [sys.executable, __file__, "--child", mode, "--url", emulator.url]
            command += [
                f"--{k.replace('_', '-')}={v}"
                for k, v in vars(args).items()
                if k in {"uploadings", "counters", "speed", "stage_seconds", "poll", "max_poll", "profile"} and v
            ]
            if args.trace_memory:
                command.append("--trace-memory")
            done = subprocess.run(command, capture_output=True, text=True)
            if done.returncode != 0:
                sys.exit(f"the {mode} run failed (exit {done.returncode}):\n{done.stderr[-5000:]}")
            lines = done.stdout.strip().splitlines()
            results.append(json.loads(lines[-1]))
            results[-1]["trigger_log_lines"] = sum(TRIGGER_LOGGER in line for line in lines[:-1])
    print_table(results, args)
    for mode in args.modes.split(",") if args.profile else ():
        print(f"\nProfile of the {mode} waiting ({args.profile}/{mode}.txt):")
        print((Path(args.profile) / f"{mode}.txt").read_text())
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
