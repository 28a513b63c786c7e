"""``python -m airflow_provider_metrika.emulator [--vendor V] --port N ...``: run an emulator until SIGTERM.

One vendor per process, as the real hosts are separate: ``metrika`` (default),
``commercelayer`` or ``fleetio``. Prints exactly one line to stdout once the port is bound:
``<Vendor> emulator listening on http://HOST:PORT``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import json
import logging
import os
import shutil
import signal
import sys
import tempfile

from aiohttp import web

from airflow_provider_metrika.emulator.app import MetrikaAppRunner, build_app
from airflow_provider_metrika.emulator.clock import CLOCK_MODES
from airflow_provider_metrika.emulator.config import CHOICES, EmulatorConfig, parse_token_map
from airflow_provider_metrika.emulator.errors import ApiError
from airflow_provider_metrika.emulator.harness import HarnessState
from airflow_provider_metrika.emulator.state import EmulatorState
from airflow_provider_metrika.emulator.store import Store

LISTENING = "{vendor} emulator listening on http://{host}:{port}"
#: ``--vendor`` values; each other than metrika is a subpackage exposing ``Settings``, ``State`` and ``build_app``.
VENDORS = ("metrika", "commercelayer", "fleetio")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m airflow_provider_metrika.emulator", description=__doc__)
    parser.add_argument("--vendor", choices=VENDORS, default="metrika", help="the API to serve (default metrika)")
    parser.add_argument("--port", type=int, required=True, help="TCP port; 0 picks a free one")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--db", help="SQLite state file (default: a temporary file removed on exit)")
    parser.add_argument("--clock", choices=CLOCK_MODES, default="frozen")
    parser.add_argument("--speed", type=float, default=1.0, help="emulator seconds per real second (real clock)")
    parser.add_argument("--stage-seconds", type=float, default=None, help="seconds per status step (vendor default)")
    parser.add_argument("--daily-quota", type=int, default=None, help="requests per token per UTC day")
    parser.add_argument("--parallel-limit", type=int, default=EmulatorConfig.parallel_limit)
    parser.add_argument("--quota-status", type=int, choices=(420, 429), default=EmulatorConfig.quota_status)
    parser.add_argument(
        "--body-timeout",
        type=float,
        default=EmulatorConfig.body_timeout_seconds,
        help="real seconds a request may send no body bytes before it gets 408",
    )
    parser.add_argument("--tokens", help="JSON file {token: [counter ids]}; unknown tokens then get 403")
    for name, choices in CHOICES.items():
        parser.add_argument("--" + name.replace("_", "-"), choices=choices, default=getattr(EmulatorConfig, name))
    parser.add_argument("--log-level", default="WARNING")
    return parser.parse_args(argv)


def defaults_from(args: argparse.Namespace) -> EmulatorConfig:
    tokens = None
    if args.tokens:
        with open(args.tokens, encoding="utf-8") as handle:
            tokens = parse_token_map(json.load(handle))
    return EmulatorConfig(
        stage_seconds=EmulatorConfig.stage_seconds if args.stage_seconds is None else args.stage_seconds,
        daily_quota=args.daily_quota,
        parallel_limit=args.parallel_limit,
        quota_status=args.quota_status,
        tokens=tokens,
        **{name: getattr(args, name) for name in CHOICES},
    ).updated({"body_timeout_seconds": args.body_timeout})


def make_state(args: argparse.Namespace, store: Store) -> tuple[HarnessState, web.Application]:
    """The chosen vendor's state and application."""
    if args.vendor == "metrika":
        state = EmulatorState(store, defaults_from(args), args.clock, args.speed)
        return state, build_app(state)
    vendor = importlib.import_module(f"airflow_provider_metrika.emulator.{args.vendor}")
    settings = vendor.Settings()
    if args.stage_seconds is not None:
        settings = settings.updated({"stage_seconds": args.stage_seconds})
    vendor_state = vendor.State(store, settings, args.clock, args.speed)
    return vendor_state, vendor.build_app(vendor_state)


async def serve(state: HarnessState, app: web.Application, host: str, port: int) -> None:
    """Serve until SIGTERM/SIGINT, then shut down cleanly."""
    runner_class = MetrikaAppRunner if isinstance(state, EmulatorState) else web.AppRunner
    runner = runner_class(app, access_log=None, handle_signals=False, shutdown_timeout=2.0)
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_address=True)
    await site.start()
    bound_port = runner.addresses[0][1]
    print(LISTENING.format(vendor=state.vendor, host=host, port=bound_port), flush=True)
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopped.set)
    try:
        await stopped.wait()
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s")
    temp_dir = None if args.db else tempfile.mkdtemp(prefix="metrika-emulator-")
    db_path = args.db or os.path.join(temp_dir, "state.db")
    try:
        store = Store(db_path)
        state, app = make_state(args, store)
    except (ApiError, ValueError, OSError) as error:
        print(f"{args.vendor} emulator: {error}", file=sys.stderr)
        return 2
    try:
        asyncio.run(serve(state, app, args.host, args.port))
    finally:
        store.close()
        if temp_dir:
            with contextlib.suppress(OSError):
                shutil.rmtree(temp_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
