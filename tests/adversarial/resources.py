"""Peak memory growth and wall time of a callable or a command, measured in a child process.

Hostile-input tests assert "under 16 MiB growth, under N seconds" without trusting the test
process itself (pytest's own allocations, and a forked child inheriting the parent's peak,
would blur any figure). So each measurement runs in a fresh ``python`` process that

1. imports what the measured code needs (that is its baseline, not its growth),
2. resets the kernel's peak-RSS mark (``echo 5 > /proc/self/clear_refs`` resets ``VmHWM``;
   https://www.kernel.org/doc/html/latest/filesystems/proc.html, "clear_refs"),
3. runs the callable (or the module as ``__main__``) and reports ``VmHWM`` minus the RSS
   right before it started.

Time bounds given to these helpers should be generous: the machine is shared.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import os
import pickle
import runpy
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

MiB = 1024 * 1024
ROOT = Path(__file__).resolve().parents[2]
RESULT_MARK = "RESOURCES-RESULT "


@dataclasses.dataclass(frozen=True)
class Usage:
    """What one measured run cost and what it answered."""

    growth_mib: float  # peak RSS during the run minus RSS just before it
    seconds: float  # wall time of the run itself (imports excluded)
    result: Any  # the callable's return value (repr'd if not JSON), or the module's exit code
    error: str | None  # "ExceptionType: message" when the callable raised
    stdout: str
    stderr: str

    def assert_bounded(self, max_growth_mib: float = 16, max_seconds: float = 30) -> None:
        assert self.growth_mib < max_growth_mib, f"peak RSS grew by {self.growth_mib:.1f} MiB (limit {max_growth_mib})"
        assert self.seconds < max_seconds, f"took {self.seconds:.1f} s (limit {max_seconds})"


def _status_kib(field: str) -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def _reset_peak() -> None:
    with open("/proc/self/clear_refs", "w", encoding="ascii") as refs:
        refs.write("5")


def _measured(run: Callable[[], Any]) -> dict[str, Any]:
    """Run ``run`` between a peak reset and a peak read; everything as JSON-able values."""
    import gc

    gc.collect()
    _reset_peak()
    before = _status_kib("VmRSS")
    started = time.perf_counter()
    error = None
    result: Any = None
    try:
        result = run()
    except SystemExit as exit_:
        result = exit_.code
    except BaseException as exc:  # the caller asserts on it
        error = f"{type(exc).__name__}: {exc}"
    seconds = time.perf_counter() - started
    growth = (_status_kib("VmHWM") - before) / 1024
    try:
        json.dumps(result)
    except (TypeError, ValueError):
        result = repr(result)
    return {"growth_mib": growth, "seconds": seconds, "result": result, "error": error}


def _child_main() -> None:
    """Entry point of the measuring child: a pickled job on stdin, one result line on stdout."""
    job = pickle.loads(sys.stdin.buffer.read())
    if job["type"] == "callable":
        module = importlib.import_module(job["module"])
        func = module
        for part in job["qualname"].split("."):
            func = getattr(func, part)
        for name in job.get("preload", ()):
            importlib.import_module(name)
        if job.get("warmup") is not None:
            func(*job["warmup"])  # one-time costs (lazy imports, the first operator made) are no growth with the input
        outcome = _measured(lambda: func(*job["args"], **job["kwargs"]))
    else:
        importlib.import_module(job["module"])  # imports are the baseline
        for name in job.get("preload", ()):
            importlib.import_module(name)
        sys.argv = [job["module"], *job["argv"]]
        outcome = _measured(lambda: runpy.run_module(job["module"], run_name="__main__", alter_sys=True))
    sys.stdout.flush()
    sys.stdout.write("\n" + RESULT_MARK + json.dumps(outcome) + "\n")
    sys.stdout.flush()


def _run_child(job: dict[str, Any], timeout: float) -> Usage:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    code = "from tests.adversarial.resources import _child_main; _child_main()"
    done = subprocess.run(
        [sys.executable, "-c", code],
        input=pickle.dumps(job),
        capture_output=True,
        timeout=timeout,
        cwd=ROOT,
        env=env,
        check=False,
    )
    stdout = done.stdout.decode(errors="replace")
    marked = [line for line in stdout.splitlines() if line.startswith(RESULT_MARK)]
    if not marked:
        raise AssertionError(f"the measured child died (exit {done.returncode}): {done.stderr.decode()[-2000:]}")
    outcome = json.loads(marked[-1][len(RESULT_MARK) :])
    own_output = stdout[: stdout.rfind("\n" + RESULT_MARK)]
    return Usage(stdout=own_output, stderr=done.stderr.decode(errors="replace"), **outcome)


def measure_callable(
    func: Callable[..., Any],
    *args: Any,
    preload: Sequence[str] = (),
    warmup: tuple[Any, ...] | None = None,
    timeout: float = 120,
    **kwargs: Any,
) -> Usage:
    """Run ``func(*args, **kwargs)`` in a fresh Python process; ``func`` must be importable by name.

    ``preload`` names modules to import before the baseline is taken (so a lazy import inside
    ``func`` is not counted as growth); ``warmup`` arguments run ``func`` once, unmeasured, before it.
    """
    job = {
        "type": "callable",
        "module": func.__module__,
        "qualname": func.__qualname__,
        "args": args,
        "kwargs": kwargs,
        "preload": list(preload),
        "warmup": warmup,
    }
    return _run_child(job, timeout)


def measure_module(module: str, argv: Sequence[str], *, preload: Sequence[str] = (), timeout: float = 120) -> Usage:
    """Run ``python -m module *argv`` in a fresh process (imports excluded from the growth).

    ``result`` is the exit code (``sys.exit`` value; None when the module just returned).
    """
    job = {"type": "module", "module": module, "argv": list(argv), "preload": list(preload)}
    return _run_child(job, timeout)


__all__ = ["MiB", "Usage", "measure_callable", "measure_module"]
