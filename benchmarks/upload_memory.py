"""Peak RSS and wall time of a validated upload of a big offline-conversions CSV to the emulator.

    python benchmarks/upload_memory.py [--size 1GiB,950MB] [--variants inflight,preflight,...] [--keep DIR]

Generates one CSV per ``--size`` (comma-separated; default 1GiB, which Metrika's 1 GB limit makes
two uploads, and 950MB, which is one), starts the Metrika emulator with
``EmulatorProcess`` (its own process) and runs every variant in a fresh child process under
``/usr/bin/time -f %M``, so each peak RSS is that variant's own. (``os.wait4`` on a direct child
is not: Linux carries the parent's peak over fork and exec.) The child also reports its RSS right
after its imports (the baseline) and its own VmHWM as a cross-check:

  csv-parse       csv.reader over the file: the floor the uploads are compared with
  inflight        the upload operator's in-flight mode: plan_parts(mode="inflight") and
                  MetrikaHook.upload_file, the file validated while it streams (one pass)
  preflight       the operator's default: a whole validation pass, then MetrikaHook.upload_file
  hook-none       MetrikaHook.upload_file with validation="none" (the send path alone)
  requests-files  plain requests.post(files=...) for comparison

Every file is measured with every variant in the same run, so the ratios to its own bare parse compare
like with like. ``--max-part`` lowers the bytes per upload (default Metrika's limit) so that a small
file splits too. Prints a table and the hook's progress lines from the children's logs. Targets:
in-flight upload wall <= 1.1x the bare csv parse, split or not, and the upload's RSS growth <= 16 MiB.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

from conversions_file import parse_size, write_conversions_csv  # noqa: E402
from small_mode import parse_args  # noqa: E402

from airflow_provider_metrika.emulator.testing import TEST_TOKEN, EmulatorProcess  # noqa: E402
from airflow_provider_metrika.jobs.inputs import MAX_FILE_BYTES  # noqa: E402

KIND = "offline_conversions"
COUNTER_ID = 12345
VARIANTS = ("csv-parse", "inflight", "preflight", "hook-none", "requests-files")
HOOK_VARIANTS = ("inflight", "preflight", "hook-none")
RESULT_MARK = "RESULT "
MiB = 1024 * 1024
GROWTH_TARGET_MIB = 16
GNU_TIME = "/usr/bin/time"
RATIO_TARGET = 1.1


# -- the child: one measured variant -------------------------------------------------------------
def rss_mib(field: str = "VmRSS") -> float:
    """Current (VmRSS) or peak (VmHWM) resident set size of this process, from /proc."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def prepare_csv_parse(path: str, url: str, max_part: int) -> Callable[[], str]:
    import csv
    import io

    def run() -> str:
        count = 0
        with open(path, "rb") as raw, io.TextIOWrapper(raw, encoding="utf-8", newline="") as text:
            for _ in csv.reader(text):
                count += 1
        return f"{count - 1:,} rows"

    return run


def prepare_hook_upload(mode: str) -> Callable[[str, str, int], Callable[[], str]]:
    """The upload operator's own steps: plan_parts (validation per ``mode``), then MetrikaHook.upload_file."""

    def prepare(path: str, url: str, max_part: int) -> Callable[[], str]:
        from airflow_provider_metrika.formats import ValidationOptions
        from airflow_provider_metrika.formats.validation import plan_parts
        from airflow_provider_metrika.hooks.metrika import MetrikaHook
        from airflow_provider_metrika.jobs.inputs import prepare_file

        hook = MetrikaHook()
        hook.session  # noqa: B018 - connection and session built before the clock starts
        log = logging.getLogger("benchmark")

        def run() -> str:
            source = prepare_file(path)
            with tempfile.TemporaryDirectory(prefix="metrika-bench-") as tmp:
                parts = plan_parts(
                    KIND, source, ValidationOptions(), mode=mode, max_bytes=max_part, directory=tmp, log=log
                )
                answers = [
                    hook.upload_file(KIND, COUNTER_ID, opener, params={"comment": "benchmark"}, file_name="data.csv")
                    for _part, opener in parts
                ]
            return ", ".join(f"#{u.uploading_id} {u.raw.get('source_quantity'):,} rows" for u in answers)

        return run

    return prepare


def prepare_requests_files(path: str, url: str, max_part: int) -> Callable[[], str]:
    import requests

    from airflow_provider_metrika.uploads import get_upload_kind

    kind = get_upload_kind(KIND)
    endpoint = url + kind.path(kind.upload_path, COUNTER_ID)
    session = requests.Session()

    def run() -> str:
        with open(path, "rb") as handle:
            response = session.post(
                endpoint,
                params={**kind.upload_params, "comment": "benchmark"},
                headers={"Authorization": f"OAuth {TEST_TOKEN}"},
                files={"file": ("data.csv", handle, "text/csv")},
                timeout=600,
            )
        response.raise_for_status()
        uploading = response.json()["uploading"]
        return f"#{uploading['id']} {uploading.get('source_quantity'):,} rows"

    return run


PREPARE: dict[str, Callable[[str, str, int], Callable[[], str]]] = {
    "csv-parse": prepare_csv_parse,
    "inflight": prepare_hook_upload("inflight"),
    "preflight": prepare_hook_upload("preflight"),
    "hook-none": prepare_hook_upload("none"),
    "requests-files": prepare_requests_files,
}


def use_progress_interval(seconds: float) -> None:
    """Make the hook log upload progress every ``seconds`` (its default is 10 s) to show the lines in a short run."""
    from airflow_provider_metrika.hooks import metrika, progress

    class FrequentProgress(progress.UploadProgressLogger):
        def __init__(self, total_bytes: int, **kwargs: Any) -> None:
            super().__init__(total_bytes, **{**kwargs, "interval": seconds})

    metrika.UploadProgressLogger = FrequentProgress  # type: ignore[misc]


def child_main(variant: str, path: str, url: str, max_part: int, progress_interval: float | None) -> None:
    start = time.perf_counter()
    run = PREPARE[variant](path, url, max_part)
    if progress_interval is not None and variant in HOOK_VARIANTS:
        use_progress_interval(progress_interval)
    imports = time.perf_counter() - start
    # after the imports: importing Airflow configures logging its own way
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s", force=True)
    progress_log = logging.getLogger("airflow_provider_metrika.hooks.progress")
    progress_log.disabled = False
    progress_log.setLevel(logging.INFO)
    baseline = rss_mib()
    start = time.perf_counter()
    detail = run()
    wall = time.perf_counter() - start
    result = {"wall": wall, "imports": imports, "baseline": baseline, "peak": rss_mib("VmHWM"), "detail": detail}
    print(RESULT_MARK + json.dumps(result), flush=True)


# -- the parent: data, emulator, one child per variant ------------------------------------------
def run_child(
    variant: str, path: Path, url: str, workdir: Path, max_part: int, progress_interval: float | None
) -> dict[str, Any]:
    log_path = workdir / f"{variant}.log"
    env = dict(os.environ)
    env.update(
        {
            "AIRFLOW_HOME": str(workdir / "airflow"),
            "AIRFLOW_CONN_METRIKA_DEFAULT": json.dumps(
                {
                    "conn_type": "yandex_metrika",
                    "host": url,
                    "password": TEST_TOKEN,
                    "extra": {"counter_id": COUNTER_ID},
                },
            ),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
        }
    )
    time_path = workdir / f"{variant}.time"
    command = [sys.executable, __file__, "--child", variant, "--path", str(path), "--url", url]
    command += ["--max-part", str(max_part)]
    if progress_interval is not None:
        command += ["--progress-interval", str(progress_interval)]
    if os.path.exists(GNU_TIME):
        command = [GNU_TIME, "-o", str(time_path), "-f", "%M", *command]
    with open(log_path, "w", encoding="utf-8") as log:
        done = subprocess.run(command, stdout=subprocess.PIPE, stderr=log, env=env, text=True, check=False)
    output = done.stdout
    log_text = log_path.read_text(encoding="utf-8", errors="replace")
    results = [line[len(RESULT_MARK) :] for line in output.splitlines() if line.startswith(RESULT_MARK)]
    if done.returncode != 0 or not results:
        raise RuntimeError(f"{variant} failed (exit {done.returncode}):\n{output[-2000:]}\n{log_text[-4000:]}")
    result = json.loads(results[-1])
    measured = time_path.read_text().split() if time_path.exists() else []
    result["peak_time"] = int(measured[-1]) / 1024 if measured else result["peak"]
    result["progress"] = [line for line in log_text.splitlines() if " upload of " in line]
    return result


def print_table(results: list[dict[str, Any]], max_part: int) -> None:
    header = (
        f"{'file':>9} {'parts':>5} {'variant':<15} {'wall s':>7} {'MiB/s':>7} {'x parse':>8} {'imports s':>9} "
        f"{'RSS after imports':>17} {'peak RSS':>9} {'VmHWM':>7} {'growth':>7}  result"
    )
    print(header)
    print("-" * len(header))
    floors = {r["size"]: r["wall"] for r in results if r["variant"] == "csv-parse"}
    for r in results:
        floor = floors.get(r["size"])
        ratio = f"{r['wall'] / floor:.2f}" if floor else "-"
        print(
            f"{r['size'] / MiB:7.1f}Mi {-(-r['size'] // max_part):5d} {r['variant']:<15} {r['wall']:7.2f} "
            f"{r['size'] / MiB / r['wall']:7.1f} {ratio:>8} {r['imports']:9.2f} {r['baseline']:17.1f} "
            f"{r['peak_time']:9.1f} {r['peak']:7.1f} {r['peak_time'] - r['baseline']:7.1f}  {r['detail']}"
        )
    print(
        f"RSS in MiB: peak by /usr/bin/time, VmHWM as the child saw it, growth = peak - RSS after imports.\n"
        f"'x parse' = wall / csv-parse wall of the same file; parts = uploads at {max_part:,} bytes per upload.\n"
        f"Targets: inflight <= {RATIO_TARGET}x, growth <= {GROWTH_TARGET_MIB} MiB. "
        f"Load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="1GiB,950MB", help="file sizes, comma-separated: 1GiB, 256MiB, 100MB ...")
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"comma-separated subset of {VARIANTS}")
    parser.add_argument("--keep", type=Path, help="write the generated files into this directory and keep them")
    parser.add_argument("--repeat", type=int, default=1, help="runs per variant: the best wall, the highest peak")
    parser.add_argument("--max-part", default=str(MAX_FILE_BYTES), help="bytes per upload (default: Metrika's limit)")
    parser.add_argument(
        "--progress-interval", type=float, help="seconds between the hook's progress lines (default: the hook's, 10 s)"
    )
    parser.add_argument("--child", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--path", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parse_args(parser, small={"size": "1MiB,400KiB", "variants": "csv-parse,inflight", "max_part": "512KiB"})
    max_part = parse_size(args.max_part)
    if args.child:
        child_main(args.child, args.path, args.url, max_part, args.progress_interval)
        return
    sizes = [parse_size(text) for text in args.size.split(",") if text.strip()]
    variants = [name.strip() for name in args.variants.split(",") if name.strip()]
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown:
        parser.error(f"unknown variants {unknown}; choose from {VARIANTS}")
    with tempfile.TemporaryDirectory(prefix="metrika-upload-bench-") as tmp:
        workdir = Path(tmp)
        directory = args.keep or workdir
        directory.mkdir(parents=True, exist_ok=True)
        free = shutil.disk_usage(directory).free
        need = sum(sizes) + 2 * max(sizes)  # the files, the emulator's spool of one, headroom
        if free < need:
            raise SystemExit(f"only {free / MiB:,.0f} MiB free under {directory}; need {need / MiB:,.0f} MiB")
        paths = []
        for size in sizes:
            path = directory / f"conversions-{size}.csv"
            start = time.perf_counter()
            rows = write_conversions_csv(path, size, now=int(time.time()) - 60)
            took = time.perf_counter() - start
            print(f"Generated {path}: {rows:,} rows, {path.stat().st_size / MiB:,.1f} MiB in {took:.1f} s")
            paths.append(path)
        print(f"Load average before the runs: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        results: list[dict[str, Any]] = []
        with EmulatorProcess(str(workdir / "emulator.db")) as emulator:
            print(f"Emulator at {emulator.url} (pid in its own process)")
            for path in paths:
                for variant in variants:
                    runs = []
                    for _ in range(args.repeat):
                        emulator.client.reset()
                        runs.append(run_child(variant, path, emulator.url, workdir, max_part, args.progress_interval))
                        print(f"  {path.name} {variant}: {runs[-1]['wall']:.2f} s", flush=True)
                    best = min(runs, key=lambda run: run["wall"])
                    results.append(
                        {
                            **best,
                            "variant": variant,
                            "size": path.stat().st_size,
                            "peak_time": max(run["peak_time"] for run in runs),
                        }
                    )
        print()
        print_table(results, max_part)
        for result in results:
            if result["progress"]:
                print(f"\nProgress lines logged by the hook ({result['variant']}, {result['size'] / MiB:.1f} MiB):")
                print("\n".join("  " + line for line in result["progress"]))


if __name__ == "__main__":
    main()
