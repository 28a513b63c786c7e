"""100,000 SKUs into Commerce Layer through CommerceLayerImportOperator, against the naive one-import-at-a-time loop.

    python benchmarks/commercelayer_import.py [--skus 100000] [--chunk 10000] [--speed 2] [--stage-seconds 5]
                                              [--poll 1] [--modes operator,naive]

Starts the Commerce Layer emulator with a real clock running ``--speed`` times faster than wall time
(an import waits ``--stage-seconds`` emulator seconds pending, then as long in progress), and imports
``--skus`` SKUs two ways, each against the emulator reset and with an empty token cache:

* ``operator``: one ``CommerceLayerImportOperator`` (blocking wait, the same Waiter the trigger uses):
  imports of ``--chunk`` inputs created back to back, at most 10 open at once, one status listing per poll;
* ``naive``: what a hand-written loop does: create one import, poll it by id until it ends, then the next.

Each mode reports its wall time, the requests it sent (by kind), the token requests (at most one per
process per token lifetime is the goal), the most imports open at once (from the emulator's import
list) and the SKUs the organization holds afterwards. ``--poll`` is wall seconds between polls in both
modes. Prints figures only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

from small_mode import parse_args  # noqa: E402

from airflow_provider_metrika.emulator.testing import EmulatorClient, EmulatorProcess  # noqa: E402

CONN_ID = "commercelayer_benchmark"


def skus(count: int) -> list[dict[str, Any]]:
    return [
        {"code": f"BENCH{n:07d}", "name": f"Benchmark SKU {n}", "shipping_category_id": "bench"} for n in range(count)
    ]


def requests_by_kind(client: EmulatorClient) -> dict[str, int]:
    kinds: dict[str, int] = {}
    for row in client.request_stats()["requests"]:
        route, method = row["route"], row["method"]
        if route == "/oauth/token":
            kind = "token"
        elif route == "/api/imports" and method == "POST":
            kind = "create"
        elif route == "/api/imports":
            kind = "list"
        elif route.startswith("/api/imports/") and method == "GET":
            kind = "get"
        else:
            kind = f"{method} {route}"
        kinds[kind] = kinds.get(kind, 0) + row["count"]
    return kinds


def most_open_at_once(client: EmulatorClient) -> int:
    """The most imports open at one moment, from their creation and end times."""
    imports = [i["attributes"] for i in client.call("GET", "commercelayer/imports")["imports"]]
    most = 0
    for item in imports:
        moment = item["created_at"]
        open_then = [
            other
            for other in imports
            if other["created_at"] <= moment and (other["completed_at"] or other["interrupted_at"] or "~") > moment
        ]
        most = max(most, len(open_then))
    return most


def warm_up() -> None:
    """One-time costs (Airflow's import and first operator built) are not counted as import time."""
    from airflow_provider_metrika.commercelayer.hooks import CommerceLayerHook
    from airflow_provider_metrika.commercelayer.operators import CommerceLayerImportOperator

    CommerceLayerImportOperator(task_id="warm_up", resource_type="skus", rows=[{"code": "x"}])
    CommerceLayerHook(CONN_ID).settings  # noqa: B018 - reads the connection once


def run_operator(rows: list[dict[str, Any]], chunk: int, poll: float) -> None:
    from airflow_provider_metrika.commercelayer.operators import CommerceLayerImportOperator

    class TaskInstance:
        dag_id, task_id, run_id, map_index = "benchmark", "import_skus", "run", -1

        def xcom_push(self, key: str, value: Any) -> None:
            return None

    operator = CommerceLayerImportOperator(
        task_id="import_skus",
        resource_type="skus",
        rows=rows,
        chunk_size=chunk,
        commercelayer_conn_id=CONN_ID,
        deferrable=False,
        poll_interval=poll,
        max_poll_interval=poll,
    )
    result = operator.execute({"ti": TaskInstance()})
    assert {job["state"] for job in result["jobs"]} == {"success"}, result["jobs"]


def run_naive(rows: list[dict[str, Any]], chunk: int, poll: float) -> None:
    from airflow_provider_metrika.commercelayer.hooks import CommerceLayerHook

    hook = CommerceLayerHook(CONN_ID)
    for start in range(0, len(rows), chunk):
        created = hook.create_import("skus", rows[start : start + chunk])
        while hook.get_import(created.id).is_open:
            time.sleep(poll)


def measure(mode: str, client: EmulatorClient, rows: list[dict[str, Any]], args: argparse.Namespace) -> dict[str, Any]:
    from airflow_provider_metrika.commercelayer.auth import TOKENS

    client.reset()
    client.configure(stage_seconds=args.stage_seconds)
    TOKENS.clear()
    started = time.monotonic()
    (run_operator if mode == "operator" else run_naive)(rows, args.chunk, args.poll)
    wall = time.monotonic() - started
    kinds = requests_by_kind(client)
    held = len(client.call("GET", "commercelayer/records/skus")["records"])
    return {
        "wall": wall,
        "requests": sum(kinds.values()),
        "kinds": kinds,
        "tokens": kinds.get("token", 0),
        "most_open": most_open_at_once(client),
        "held": held,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skus", type=int, default=100_000)
    parser.add_argument("--chunk", type=int, default=10_000, help="inputs per import")
    parser.add_argument("--speed", type=float, default=2.0, help="emulator seconds per wall second")
    parser.add_argument("--stage-seconds", type=float, default=5.0, help="emulator seconds pending and in progress")
    parser.add_argument("--poll", type=float, default=1.0, help="wall seconds between polls")
    parser.add_argument("--modes", default="operator,naive")
    args = parse_args(parser, {"skus": 300, "chunk": 50, "speed": 50.0, "poll": 0.2})
    rows = skus(args.skus)
    results = {}
    with EmulatorProcess(None, "--vendor", "commercelayer", "--clock", "real", "--speed", str(args.speed)) as emu:
        os.environ[f"AIRFLOW_CONN_{CONN_ID.upper()}"] = json.dumps(
            {
                "conn_type": "commercelayer",
                "host": emu.url,
                "login": "benchmark-client",
                "password": "benchmark-secret",
                "extra": {"auth_url": emu.url + "/oauth/token"},
            }
        )
        warm_up()
        for mode in args.modes.split(","):
            results[mode] = measure(mode, emu.client, rows, args)
    modes = list(results)
    print(f"{args.skus:,} SKUs in imports of {args.chunk:,}; emulator x{args.speed:g}, stages {args.stage_seconds:g} s")
    print(f"{'':34}" + "".join(f"{m:>14}" for m in modes))
    rows_out = [
        ("wall time (s)", lambda r: f"{r['wall']:.1f}"),
        ("requests (all)", lambda r: str(r["requests"])),
        ("  create", lambda r: str(r["kinds"].get("create", 0))),
        ("  list (status, reattach, slots)", lambda r: str(r["kinds"].get("list", 0))),
        ("  get by id", lambda r: str(r["kinds"].get("get", 0))),
        ("token requests", lambda r: str(r["tokens"])),
        ("imports open at once (max)", lambda r: str(r["most_open"])),
        ("SKUs held afterwards", lambda r: f"{r['held']:,}"),
    ]
    for label, cell in rows_out:
        print(f"{label:34}" + "".join(f"{cell(results[m]):>14}" for m in modes))
    if {"operator", "naive"} <= set(results):
        print(f"operator vs naive: {results['naive']['wall'] / results['operator']['wall']:.1f}x faster")
    return 0


if __name__ == "__main__":
    sys.exit(main())
