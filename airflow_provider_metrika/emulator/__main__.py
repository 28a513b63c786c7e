"""``python -m airflow_provider_metrika.emulator --port N ...``: run the emulator until SIGTERM.

Prints exactly one line to stdout once the port is bound:
``Metrika emulator listening on http://HOST:PORT``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
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
from airflow_provider_metrika.emulator.state import EmulatorState
from airflow_provider_metrika.emulator.store import Store

LISTENING = "Metrika emulator listening on http://{host}:{port}"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m airflow_provider_metrika.emulator", description=__doc__)
    parser.add_argument("--port", type=int, required=True, help="TCP port; 0 picks a free one")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--db", help="SQLite state file (default: a temporary file removed on exit)")
    parser.add_argument("--clock", choices=CLOCK_MODES, default="frozen")
    parser.add_argument("--speed", type=float, default=1.0, help="emulator seconds per real second (real clock)")
    parser.add_argument("--stage-seconds", type=float, default=EmulatorConfig.stage_seconds)
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
        stage_seconds=args.stage_seconds,
        daily_quota=args.daily_quota,
        parallel_limit=args.parallel_limit,
        quota_status=args.quota_status,
        tokens=tokens,
        **{name: getattr(args, name) for name in CHOICES},
    ).updated({"body_timeout_seconds": args.body_timeout})


async def serve(state: EmulatorState, host: str, port: int) -> None:
    """Serve until SIGTERM/SIGINT, then shut down cleanly."""
    runner = MetrikaAppRunner(build_app(state), access_log=None, handle_signals=False, shutdown_timeout=2.0)
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_address=True)
    await site.start()
    bound_port = runner.addresses[0][1]
    print(LISTENING.format(host=host, port=bound_port), flush=True)
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
        defaults = defaults_from(args)
        store = Store(db_path)
        state = EmulatorState(store, defaults, args.clock, args.speed)
    except (ApiError, ValueError, OSError) as error:
        print(f"metrika emulator: {error}", file=sys.stderr)
        return 2
    try:
        asyncio.run(serve(state, args.host, args.port))
    finally:
        store.close()
        if temp_dir:
            with contextlib.suppress(OSError):
                shutil.rmtree(temp_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
